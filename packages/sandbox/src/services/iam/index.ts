/**
 * IAM (awsquery protocol, API version 2010-05-08): roles with their trust policies, inline and
 * attached managed policies, customer managed policies, and instance profiles; what the sandbox
 * is provisioned with from a template, and what a client reads back (`aws iam get-role`,
 * `list-attached-role-policies`, `get-instance-profile` …).
 *
 * IAM is global: a request signed for any region sees the same entities of the caller's account.
 * AWS managed policies (`arn:aws:iam::aws:policy/…`) may be attached; their documents are not in
 * the sandbox, so GetPolicy answers NoSuchEntity for them. SimulatePrincipalPolicy answers for a
 * role with the evaluator that enforces its policies (simulate.ts).
 */
import { iamReport } from '../../authz/report';
import { AwsError } from '../../errors';
import { decodeOffsetToken, pageOf } from '../../pagination';
import {
  indexedStructs,
  memberList,
  optionalInt,
  optionalString,
  type QueryParams,
  validationError,
  type XmlValue,
} from '../../protocol/query';
import type { QueryAction, QueryService, ServiceContext } from '../../service';
import { callerAccount } from '../events/model';
import {
  alreadyExists,
  checkName,
  checkPath,
  checkPolicyDocument,
  deleteConflict,
  encodedDocument,
  IamTable,
  type InstanceProfileRecord,
  iamId,
  noSuchEntity,
  type PolicyRecord,
  policyKey,
  profileKey,
  type RoleRecord,
  roleKey,
} from './model';
import { type SimulationResult, simulatePrincipalPolicy } from './simulate';

const AWS_MANAGED_POLICY = /^arn:aws[a-z-]*:iam::aws:policy\/(?:[\w+=,.@-]+\/)*[\w+=,.@-]+$/;
const POLICY_ARN = /^arn:aws[a-z-]*:iam::(\d{12}):policy\/((?:[\w+=,.@-]+\/)*)([\w+=,.@-]+)$/;

// ------------------------------------------------------------------------ input

const required = (params: QueryParams, member: string): string => {
  const value = optionalString(params, member);
  if (value === undefined) {
    const field = member.charAt(0).toLowerCase() + member.slice(1);
    throw validationError(
      `1 validation error detected: Value null at '${field}' failed to satisfy constraint: Member must not be null`,
    );
  }
  return value;
};

const readTags = (params: QueryParams): { Key: string; Value: string }[] =>
  indexedStructs(params, 'Tags.member').map((tag) => ({
    Key: required(tag, 'Key'),
    Value: optionalString(tag, 'Value') ?? '',
  }));

/** IAM's Marker/MaxItems paging: MaxItems 1–1000, default 100. */
const pageOfItems = <T>(params: QueryParams, items: readonly T[]) => {
  const maxItems = optionalInt(params, 'MaxItems') ?? 100;
  if (maxItems < 1 || maxItems > 1000) {
    throw validationError(
      `1 validation error detected: Value '${maxItems}' at 'maxItems' failed to satisfy constraint: Member must have value less than or equal to 1000`,
    );
  }
  const marker = optionalString(params, 'Marker');
  const offset = marker === undefined ? 0 : decodeOffsetToken(marker);
  if (offset === undefined) throw validationError('Invalid Marker.');
  const { items: page, nextToken } = pageOf(items, () => true, { offset, limit: maxItems });
  return { page, IsTruncated: nextToken !== undefined, ...(nextToken === undefined ? {} : { Marker: nextToken }) };
};

// ------------------------------------------------------------------------ lookups

const findRole = (ctx: ServiceContext, roleName: string): RoleRecord => {
  const role = ctx.store.get<RoleRecord>(IamTable.Roles, roleKey(callerAccount(ctx), roleName));
  if (!role) throw noSuchEntity(`The role with name ${roleName} cannot be found.`);
  return role;
};

const findProfile = (ctx: ServiceContext, name: string): InstanceProfileRecord => {
  const profile = ctx.store.get<InstanceProfileRecord>(IamTable.InstanceProfiles, profileKey(callerAccount(ctx), name));
  if (!profile) throw noSuchEntity(`Instance Profile ${name} cannot be found.`);
  return profile;
};

const findPolicy = (ctx: ServiceContext, arn: string): PolicyRecord => {
  const policy = ctx.store.get<PolicyRecord>(IamTable.Policies, policyKey(arn));
  if (!policy || policy.account !== callerAccount(ctx))
    throw noSuchEntity(`Policy ${arn} does not exist or is not attachable.`);
  return policy;
};

const rolesOf = (ctx: ServiceContext): RoleRecord[] =>
  [...ctx.store.table<RoleRecord>(IamTable.Roles).values()]
    .filter((role) => role.account === callerAccount(ctx))
    .sort((a, b) => a.roleName.localeCompare(b.roleName));

const attachmentCount = (ctx: ServiceContext, arn: string): number =>
  rolesOf(ctx).filter((role) => role.attachedPolicies.includes(arn)).length;

// ------------------------------------------------------------------------ XML shapes

const roleXml = (role: RoleRecord): Record<string, XmlValue> => ({
  Path: role.path,
  RoleName: role.roleName,
  RoleId: role.roleId,
  Arn: role.arn,
  CreateDate: role.createDate,
  AssumeRolePolicyDocument: encodedDocument(role.assumeRolePolicyDocument),
  Description: role.description,
  MaxSessionDuration: role.maxSessionDuration,
  PermissionsBoundary: role.permissionsBoundary
    ? { PermissionsBoundaryType: 'Policy', PermissionsBoundaryArn: role.permissionsBoundary }
    : undefined,
  Tags: role.tags.length > 0 ? role.tags.map((tag) => ({ ...tag })) : undefined,
});

const policyXml = (ctx: ServiceContext, policy: PolicyRecord): Record<string, XmlValue> => ({
  PolicyName: policy.policyName,
  PolicyId: policy.policyId,
  Arn: policy.arn,
  Path: policy.path,
  DefaultVersionId: 'v1',
  AttachmentCount: attachmentCount(ctx, policy.arn),
  PermissionsBoundaryUsageCount: 0,
  IsAttachable: true,
  Description: policy.description,
  CreateDate: policy.createDate,
  UpdateDate: policy.createDate,
});

const profileXml = (ctx: ServiceContext, profile: InstanceProfileRecord): Record<string, XmlValue> => ({
  Path: profile.path,
  InstanceProfileName: profile.instanceProfileName,
  InstanceProfileId: profile.instanceProfileId,
  Arn: profile.arn,
  CreateDate: profile.createDate,
  Roles: profile.roles.map((name) => roleXml(findRole(ctx, name))),
});

const updateRole = (ctx: ServiceContext, role: RoleRecord, change: Partial<RoleRecord>): void =>
  ctx.transact((tx) =>
    tx.put<RoleRecord>(IamTable.Roles, roleKey(role.account, role.roleName), { ...role, ...change }),
  );

// ------------------------------------------------------------------------ roles

const createRole: QueryAction = (params, ctx) => {
  const account = callerAccount(ctx);
  const roleName = checkName('roleName', required(params, 'RoleName'), 64);
  const path = checkPath(optionalString(params, 'Path') ?? '/');
  const document = checkPolicyDocument(required(params, 'AssumeRolePolicyDocument'));
  const maxSessionDuration = optionalInt(params, 'MaxSessionDuration') ?? 3600;
  if (maxSessionDuration < 3600 || maxSessionDuration > 43_200) {
    throw validationError(
      `1 validation error detected: Value '${maxSessionDuration}' at 'maxSessionDuration' failed to satisfy constraint: Member must have value between 3600 and 43200`,
    );
  }
  if (ctx.store.get(IamTable.Roles, roleKey(account, roleName))) {
    throw alreadyExists(`Role with name ${roleName} already exists.`);
  }
  const arn = `arn:aws:iam::${account}:role${path}${roleName}`;
  const description = optionalString(params, 'Description');
  const boundary = optionalString(params, 'PermissionsBoundary');
  const role: RoleRecord = {
    account,
    roleName,
    roleId: iamId('AROA', arn),
    path,
    arn,
    createDate: new Date(ctx.clock.nowMs()).toISOString(),
    assumeRolePolicyDocument: document,
    ...(description === undefined ? {} : { description }),
    maxSessionDuration,
    ...(boundary === undefined ? {} : { permissionsBoundary: boundary }),
    tags: readTags(params),
    inlinePolicies: {},
    attachedPolicies: [],
  };
  ctx.transact((tx) => tx.put<RoleRecord>(IamTable.Roles, roleKey(account, roleName), role));
  return { Role: roleXml(role) };
};

const getRole: QueryAction = (params, ctx) => ({ Role: roleXml(findRole(ctx, required(params, 'RoleName'))) });

const listRoles: QueryAction = (params, ctx) => {
  const prefix = optionalString(params, 'PathPrefix') ?? '/';
  const { page, ...more } = pageOfItems(
    params,
    rolesOf(ctx).filter((role) => role.path.startsWith(prefix)),
  );
  return { Roles: page.map(roleXml), ...more };
};

const deleteRole: QueryAction = (params, ctx) => {
  const role = findRole(ctx, required(params, 'RoleName'));
  if (Object.keys(role.inlinePolicies).length > 0)
    throw deleteConflict('Cannot delete entity, must delete policies first.');
  if (role.attachedPolicies.length > 0) throw deleteConflict('Cannot delete entity, must detach all policies first.');
  const inProfile = [...ctx.store.table<InstanceProfileRecord>(IamTable.InstanceProfiles).values()].some(
    (profile) => profile.account === role.account && profile.roles.includes(role.roleName),
  );
  if (inProfile) throw deleteConflict('Cannot delete entity, must remove roles from instance profile first.');
  ctx.transact((tx) => tx.delete(IamTable.Roles, roleKey(role.account, role.roleName)));
  return {};
};

const updateAssumeRolePolicy: QueryAction = (params, ctx) => {
  const role = findRole(ctx, required(params, 'RoleName'));
  updateRole(ctx, role, { assumeRolePolicyDocument: checkPolicyDocument(required(params, 'PolicyDocument')) });
  return {};
};

// ------------------------------------------------------------------------ inline policies

const putRolePolicy: QueryAction = (params, ctx) => {
  const role = findRole(ctx, required(params, 'RoleName'));
  const policyName = checkName('policyName', required(params, 'PolicyName'), 128);
  const document = checkPolicyDocument(required(params, 'PolicyDocument'));
  updateRole(ctx, role, { inlinePolicies: { ...role.inlinePolicies, [policyName]: document } });
  return {};
};

const inlinePolicy = (ctx: ServiceContext, params: QueryParams) => {
  const role = findRole(ctx, required(params, 'RoleName'));
  const policyName = required(params, 'PolicyName');
  const document = role.inlinePolicies[policyName];
  if (document === undefined) throw noSuchEntity(`The role policy with name ${policyName} cannot be found.`);
  return { role, policyName, document };
};

const getRolePolicy: QueryAction = (params, ctx) => {
  const { role, policyName, document } = inlinePolicy(ctx, params);
  return { RoleName: role.roleName, PolicyName: policyName, PolicyDocument: encodedDocument(document) };
};

const listRolePolicies: QueryAction = (params, ctx) => {
  const role = findRole(ctx, required(params, 'RoleName'));
  const { page, ...more } = pageOfItems(params, Object.keys(role.inlinePolicies).sort());
  return { PolicyNames: page, ...more };
};

const deleteRolePolicy: QueryAction = (params, ctx) => {
  const { role, policyName } = inlinePolicy(ctx, params);
  const { [policyName]: _removed, ...rest } = role.inlinePolicies;
  updateRole(ctx, role, { inlinePolicies: rest });
  return {};
};

// ------------------------------------------------------------------------ managed policies

const createPolicy: QueryAction = (params, ctx) => {
  const account = callerAccount(ctx);
  const policyName = checkName('policyName', required(params, 'PolicyName'), 128);
  const path = checkPath(optionalString(params, 'Path') ?? '/');
  const document = checkPolicyDocument(required(params, 'PolicyDocument'));
  const arn = `arn:aws:iam::${account}:policy${path}${policyName}`;
  if (ctx.store.get(IamTable.Policies, policyKey(arn))) {
    throw alreadyExists(`A policy called ${policyName} already exists. Duplicate names are not allowed.`);
  }
  const description = optionalString(params, 'Description');
  const policy: PolicyRecord = {
    account,
    policyName,
    policyId: iamId('ANPA', arn),
    path,
    arn,
    ...(description === undefined ? {} : { description }),
    createDate: new Date(ctx.clock.nowMs()).toISOString(),
    document,
  };
  ctx.transact((tx) => tx.put<PolicyRecord>(IamTable.Policies, policyKey(arn), policy));
  return { Policy: policyXml(ctx, policy) };
};

const getPolicy: QueryAction = (params, ctx) => ({
  Policy: policyXml(ctx, findPolicy(ctx, required(params, 'PolicyArn'))),
});

const getPolicyVersion: QueryAction = (params, ctx) => {
  const policy = findPolicy(ctx, required(params, 'PolicyArn'));
  const versionId = required(params, 'VersionId');
  if (versionId !== 'v1')
    throw noSuchEntity(`Policy ${policy.arn} version ${versionId} does not exist or is not attachable.`);
  return {
    PolicyVersion: {
      Document: encodedDocument(policy.document),
      VersionId: 'v1',
      IsDefaultVersion: true,
      CreateDate: policy.createDate,
    },
  };
};

const deletePolicy: QueryAction = (params, ctx) => {
  const policy = findPolicy(ctx, required(params, 'PolicyArn'));
  if (attachmentCount(ctx, policy.arn) > 0) throw deleteConflict('Cannot delete a policy attached to entities.');
  ctx.transact((tx) => tx.delete(IamTable.Policies, policyKey(policy.arn)));
  return {};
};

/** The ARN names an AWS managed policy, or a customer managed policy that exists. */
const attachable = (ctx: ServiceContext, arn: string): string => {
  if (AWS_MANAGED_POLICY.test(arn)) return arn;
  if (!POLICY_ARN.test(arn)) throw new AwsError('InvalidInput', `ARN ${arn} is not valid.`);
  return findPolicy(ctx, arn).arn;
};

const attachRolePolicy: QueryAction = (params, ctx) => {
  const role = findRole(ctx, required(params, 'RoleName'));
  const arn = attachable(ctx, required(params, 'PolicyArn'));
  if (!role.attachedPolicies.includes(arn))
    updateRole(ctx, role, { attachedPolicies: [...role.attachedPolicies, arn] });
  return {};
};

const detachRolePolicy: QueryAction = (params, ctx) => {
  const role = findRole(ctx, required(params, 'RoleName'));
  const arn = required(params, 'PolicyArn');
  if (!role.attachedPolicies.includes(arn)) throw noSuchEntity(`Policy ${arn} was not found.`);
  updateRole(ctx, role, { attachedPolicies: role.attachedPolicies.filter((attached) => attached !== arn) });
  return {};
};

const listAttachedRolePolicies: QueryAction = (params, ctx) => {
  const role = findRole(ctx, required(params, 'RoleName'));
  const { page, ...more } = pageOfItems(params, role.attachedPolicies);
  return {
    AttachedPolicies: page.map((arn) => ({ PolicyName: arn.slice(arn.lastIndexOf('/') + 1), PolicyArn: arn })),
    ...more,
  };
};

// ------------------------------------------------------------------------ instance profiles

const createInstanceProfile: QueryAction = (params, ctx) => {
  const account = callerAccount(ctx);
  const name = checkName('instanceProfileName', required(params, 'InstanceProfileName'), 128);
  const path = checkPath(optionalString(params, 'Path') ?? '/');
  if (ctx.store.get(IamTable.InstanceProfiles, profileKey(account, name))) {
    throw alreadyExists(`Instance Profile ${name} already exists.`);
  }
  const arn = `arn:aws:iam::${account}:instance-profile${path}${name}`;
  const profile: InstanceProfileRecord = {
    account,
    instanceProfileName: name,
    instanceProfileId: iamId('AIPA', arn),
    path,
    arn,
    createDate: new Date(ctx.clock.nowMs()).toISOString(),
    roles: [],
  };
  ctx.transact((tx) => tx.put<InstanceProfileRecord>(IamTable.InstanceProfiles, profileKey(account, name), profile));
  return { InstanceProfile: profileXml(ctx, profile) };
};

const getInstanceProfile: QueryAction = (params, ctx) => ({
  InstanceProfile: profileXml(ctx, findProfile(ctx, required(params, 'InstanceProfileName'))),
});

const putProfile = (ctx: ServiceContext, profile: InstanceProfileRecord, roles: readonly string[]): void =>
  ctx.transact((tx) =>
    tx.put<InstanceProfileRecord>(IamTable.InstanceProfiles, profileKey(profile.account, profile.instanceProfileName), {
      ...profile,
      roles,
    }),
  );

const addRoleToInstanceProfile: QueryAction = (params, ctx) => {
  const profile = findProfile(ctx, required(params, 'InstanceProfileName'));
  const role = findRole(ctx, required(params, 'RoleName'));
  if (profile.roles.length > 0) {
    throw new AwsError('LimitExceeded', 'Cannot exceed quota for InstanceSessionsPerInstanceProfile: 1', 409);
  }
  putProfile(ctx, profile, [role.roleName]);
  return {};
};

const removeRoleFromInstanceProfile: QueryAction = (params, ctx) => {
  const profile = findProfile(ctx, required(params, 'InstanceProfileName'));
  const roleName = required(params, 'RoleName');
  if (!profile.roles.includes(roleName)) throw noSuchEntity(`The role with name ${roleName} cannot be found.`);
  putProfile(
    ctx,
    profile,
    profile.roles.filter((name) => name !== roleName),
  );
  return {};
};

const deleteInstanceProfile: QueryAction = (params, ctx) => {
  const profile = findProfile(ctx, required(params, 'InstanceProfileName'));
  if (profile.roles.length > 0)
    throw deleteConflict('Cannot delete entity, must remove roles from instance profile first.');
  ctx.transact((tx) => tx.delete(IamTable.InstanceProfiles, profileKey(profile.account, profile.instanceProfileName)));
  return {};
};

const listInstanceProfiles: QueryAction = (params, ctx) => {
  const prefix = optionalString(params, 'PathPrefix') ?? '/';
  const profiles = [...ctx.store.table<InstanceProfileRecord>(IamTable.InstanceProfiles).values()]
    .filter((profile) => profile.account === callerAccount(ctx) && profile.path.startsWith(prefix))
    .sort((a, b) => a.instanceProfileName.localeCompare(b.instanceProfileName));
  const { page, ...more } = pageOfItems(params, profiles);
  return { InstanceProfiles: page.map((profile) => profileXml(ctx, profile)), ...more };
};

// ------------------------------------------------------------------------ simulation

const LIST_CONTEXT_TYPES = new Set(['stringList', 'numericList', 'booleanList', 'dateList', 'ipList', 'binaryList']);
const CONTEXT_TYPES = new Set([...LIST_CONTEXT_TYPES].flatMap((type) => [type, type.replace(/List$/, '')]));

/** ContextEntries.member.N: a list type keeps every value, a single type the first. */
const readContext = (params: QueryParams): Record<string, string | string[]> => {
  const context: Record<string, string | string[]> = {};
  for (const entry of indexedStructs(params, 'ContextEntries.member')) {
    const name = required(entry, 'ContextKeyName');
    const type = optionalString(entry, 'ContextKeyType') ?? 'string';
    if (!CONTEXT_TYPES.has(type)) {
      throw validationError(
        `1 validation error detected: Value '${type}' at 'contextEntries.member.contextKeyType' failed to satisfy constraint: Member must satisfy enum value set: [${[...CONTEXT_TYPES].join(', ')}]`,
      );
    }
    const values = memberList(entry, 'ContextKeyValues');
    context[name] = LIST_CONTEXT_TYPES.has(type) ? values : (values[0] ?? '');
  }
  return context;
};

const statementXml = (statements: SimulationResult['MatchedStatements']): XmlValue =>
  statements.map((statement) => ({
    SourcePolicyId: statement.SourcePolicyId,
    SourcePolicyType: statement.SourcePolicyType,
    StartPosition: statement.StartPosition && { ...statement.StartPosition },
    EndPosition: statement.EndPosition && { ...statement.EndPosition },
  }));

const simulate: QueryAction = (params, ctx) => {
  const actionNames = memberList(params, 'ActionNames');
  if (actionNames.length === 0) {
    throw validationError(
      "1 validation error detected: Value null at 'actionNames' failed to satisfy constraint: Member must not be null",
    );
  }
  const boundaries = memberList(params, 'PermissionsBoundaryPolicyInputList');
  const resourcePolicy = optionalString(params, 'ResourcePolicy');
  const resourceOwner = optionalString(params, 'ResourceOwner');
  const results = simulatePrincipalPolicy(ctx.store, callerAccount(ctx), {
    policySourceArn: required(params, 'PolicySourceArn'),
    actionNames,
    resourceArns: memberList(params, 'ResourceArns'),
    context: readContext(params),
    policyInputs: memberList(params, 'PolicyInputList'),
    ...(boundaries[0] === undefined ? {} : { boundaryInput: boundaries[0] }),
    ...(resourcePolicy === undefined ? {} : { resourcePolicy }),
    ...(resourceOwner === undefined ? {} : { resourceOwner }),
  });
  const { page, ...more } = pageOfItems(params, results);
  return {
    EvaluationResults: page.map((result) => ({
      EvalActionName: result.EvalActionName,
      EvalResourceName: result.EvalResourceName,
      EvalDecision: result.EvalDecision,
      MatchedStatements: statementXml(result.MatchedStatements),
      MissingContextValues: [...result.MissingContextValues],
      ResourceSpecificResults: result.ResourceSpecificResults?.map((resource) => ({
        EvalResourceName: resource.EvalResourceName,
        EvalResourceDecision: resource.EvalResourceDecision,
        MatchedStatements: statementXml(resource.MatchedStatements),
        MissingContextValues: [...resource.MissingContextValues],
      })),
    })),
    ...more,
  };
};

export const iam: QueryService = {
  signingName: 'iam',
  // The least-privilege report of the run so far (authz/report.ts), on the control endpoint.
  unsignedRoutes: [
    {
      method: 'GET',
      path: /\/_sandbox\/iam\/report\/?/,
      action: 'IamReport',
      handle: async (_request, ctx) => ({ body: await iamReport(ctx) }),
    },
  ],
  protocol: 'awsquery',
  xmlns: 'https://iam.amazonaws.com/doc/2010-05-08/',
  actions: {
    CreateRole: createRole,
    GetRole: getRole,
    ListRoles: listRoles,
    DeleteRole: deleteRole,
    UpdateAssumeRolePolicy: updateAssumeRolePolicy,
    PutRolePolicy: putRolePolicy,
    GetRolePolicy: getRolePolicy,
    ListRolePolicies: listRolePolicies,
    DeleteRolePolicy: deleteRolePolicy,
    CreatePolicy: createPolicy,
    GetPolicy: getPolicy,
    GetPolicyVersion: getPolicyVersion,
    DeletePolicy: deletePolicy,
    AttachRolePolicy: attachRolePolicy,
    DetachRolePolicy: detachRolePolicy,
    ListAttachedRolePolicies: listAttachedRolePolicies,
    CreateInstanceProfile: createInstanceProfile,
    GetInstanceProfile: getInstanceProfile,
    AddRoleToInstanceProfile: addRoleToInstanceProfile,
    RemoveRoleFromInstanceProfile: removeRoleFromInstanceProfile,
    DeleteInstanceProfile: deleteInstanceProfile,
    ListInstanceProfiles: listInstanceProfiles,
    SimulatePrincipalPolicy: simulate,
  },
};
