/**
 * Who may put events on the Bakehouse bus from outside the account: only the accounts and the
 * organization the configuration names, and only `Bake Requested`. Everything else Bakehouse
 * publishes itself, with IAM in its own account.
 */
import { AccountPrincipal, AnyPrincipal, Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { DetailType } from '../functions/commons/events';
import type { Settings } from '../functions/commons/families';

/**
 * `events:detail-type` is multivalued (one value per entry of the PutEvents call), so every entry
 * must be a bake request (`ForAllValues`), and the key must be present: `ForAllValues` alone
 * also holds when the key is missing.
 */
const onlyBakeRequests = {
  'ForAllValues:StringEquals': { 'events:detail-type': [DetailType.BakeRequested] },
  Null: { 'events:detail-type': 'false' },
};

export const BUS_POLICY_SIDS = {
  accounts: 'BakeRequestsFromAccounts',
  organization: 'BakeRequestsFromOrganization',
} as const;

/** The bus's resource policy statements; none when the configuration names nobody. */
export const bakeRequestPolicyStatements = (
  settings: Pick<Settings, 'bakeRequestAccounts' | 'bakeRequestOrganizationId'>,
  busArn: string,
): PolicyStatement[] => {
  const statements: PolicyStatement[] = [];
  const accounts = [...new Set(settings.bakeRequestAccounts)];
  if (accounts.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: BUS_POLICY_SIDS.accounts,
        effect: Effect.ALLOW,
        principals: accounts.map((account) => new AccountPrincipal(account)),
        actions: ['events:PutEvents'],
        resources: [busArn],
        conditions: onlyBakeRequests,
      }),
    );
  }
  if (settings.bakeRequestOrganizationId) {
    statements.push(
      new PolicyStatement({
        sid: BUS_POLICY_SIDS.organization,
        effect: Effect.ALLOW,
        principals: [new AnyPrincipal()],
        actions: ['events:PutEvents'],
        resources: [busArn],
        conditions: {
          ...onlyBakeRequests,
          StringEquals: { 'aws:PrincipalOrgID': settings.bakeRequestOrganizationId },
        },
      }),
    );
  }
  return statements;
};
