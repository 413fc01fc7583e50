/**
 * EC2 instances act as their instance profile's role: the SSM Agent on an instance registers with
 * Systems Manager (and then takes commands) with the credentials EC2 delivers for the profile's
 * role, so an instance is a managed node only when that role trusts `ec2.amazonaws.com` and its
 * policies allow the agent's calls (Systems Manager User Guide, "Configure instance permissions
 * required for Systems Manager": the instance profile needs the permissions of
 * AmazonSSMManagedInstanceCore). The agent's first call, `ssm:UpdateInstanceInformation`, stands
 * for them here.
 *
 * A profile of an account whose IAM the sandbox does not emulate, or one that IAM does not hold,
 * keeps the old behaviour (a profile is enough): the sandbox cannot see what it grants.
 */
import { evaluate, mayAssume, type Principal } from '../iam';
import { IamTable, type InstanceProfileRecord, profileKey, type RoleRecord, roleKey } from '../services/iam/model';
import type { Store } from '../store';
import { emulatesAccount, rolePolicies } from './identity';

const PROFILE_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):instance-profile\/(?:.*\/)?([^/]+)$/;

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
  const match = PROFILE_ARN.exec(profileArn);
  if (!match) return { managed: true };
  const [, account = '', name = ''] = match;
  if (!emulatesAccount(store, account, home)) return { managed: true };
  const profile = store.get<InstanceProfileRecord>(IamTable.InstanceProfiles, profileKey(account, name));
  if (!profile) return { managed: true };
  const roleName = profile.roles[0];
  const role = roleName === undefined ? undefined : store.get<RoleRecord>(IamTable.Roles, roleKey(account, roleName));
  if (!role) return { managed: false, reason: `the instance profile ${name} has no role` };
  const trust = mayAssume({
    trustPolicy: JSON.parse(role.assumeRolePolicyDocument),
    principal: { type: 'Service', arn: 'ec2.amazonaws.com', account },
    roleArn: role.arn,
    context: { 'aws:SourceAccount': account },
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
