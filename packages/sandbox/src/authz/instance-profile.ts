/**
 * EC2 instances act as their instance profile's role: the SSM Agent on an instance registers with
 * Systems Manager (and then takes commands) with the credentials EC2 delivers for the profile's
 * role, so an instance is a managed node only when that role trusts `ec2.amazonaws.com` and its
 * policies allow the agent's calls (Systems Manager User Guide, "Configure instance permissions
 * required for Systems Manager": the instance profile needs the permissions of
 * AmazonSSMManagedInstanceCore). The agent's first call, `ssm:UpdateInstanceInformation`, stands
 * for them here.
 *
 * A profile that IAM does not hold (another account's, or one never created) keeps the old
 * behaviour (a profile is enough): the sandbox cannot see what it grants.
 */
import { evaluate, type Principal } from '../iam';
import { IamTable, type InstanceProfileRecord, profileKey, type RoleRecord, roleKey } from '../services/iam/model';
import type { Store } from '../store';
import { rolePolicies, servicePrincipal, trustCheck } from './identity';

const PROFILE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):instance-profile\/(?:.*\/)?([^/]+)$/;

export interface ProfileLookup {
  readonly account: string;
  readonly profile?: InstanceProfileRecord;
  /** The role's name the profile holds (its first and only). */
  readonly roleName?: string;
  readonly role?: RoleRecord;
}

/** An instance profile ARN looked up in IAM: the profile, and the role it holds; undefined for a malformed ARN. */
export const profileOf = (store: Store, profileArn: string): ProfileLookup | undefined => {
  const match = PROFILE_ARN.exec(profileArn);
  if (!match) return undefined;
  const [, account = '', name = ''] = match;
  const profile = store.get<InstanceProfileRecord>(IamTable.InstanceProfiles, profileKey(account, name));
  const roleName = profile?.roles[0];
  const role = roleName === undefined ? undefined : store.get<RoleRecord>(IamTable.Roles, roleKey(account, roleName));
  return {
    account,
    ...(profile ? { profile } : {}),
    ...(roleName === undefined ? {} : { roleName }),
    ...(role ? { role } : {}),
  };
};

export interface ManagedNodeCheck {
  readonly managed: boolean;
  /** Why not, for logs and tests. */
  readonly reason?: string;
}

/** Whether the SSM Agent of `instanceId`, launched with `profileArn`, can register as a managed node. */
export const agentMayRegister = (
  store: Store,
  home: string,
  region: string,
  instanceId: string,
  profileArn: string,
): ManagedNodeCheck => {
  const lookup = profileOf(store, profileArn);
  // A profile IAM does not hold (another account's, or one never created): the old behaviour.
  if (!lookup?.profile) return { managed: true };
  const { account, profile, role } = lookup;
  if (!role) return { managed: false, reason: `the instance profile ${profile.instanceProfileName} has no role` };
  const roleRef = { account, name: role.roleName, arn: role.arn };
  const { evaluation: trust } = trustCheck(store, home, roleRef, servicePrincipal('ec2.amazonaws.com', account), {
    'aws:SourceAccount': account,
  });
  if (trust.decision !== 'Allow') return { managed: false, reason: `EC2 cannot assume ${role.arn}: ${trust.reason}` };
  const principal: Principal = {
    type: 'AssumedRole',
    arn: `arn:aws:sts::${account}:assumed-role/${role.roleName}/${instanceId}`,
    account,
    roleArn: role.arn,
  };
  const policies = rolePolicies(store, role);
  const decision = evaluate({
    request: {
      principal,
      action: 'ssm:UpdateInstanceInformation',
      resource: `arn:aws:ec2:${region}:${account}:instance/${instanceId}`,
    },
    identityPolicies: policies.identityPolicies,
    resourceAccount: account,
    ...(policies.permissionsBoundary ? { permissionsBoundary: policies.permissionsBoundary } : {}),
  });
  return decision.decision === 'Allow'
    ? { managed: true }
    : { managed: false, reason: `${role.arn} may not ssm:UpdateInstanceInformation: ${decision.reason}` };
};
