/**
 * Which resources and condition keys each SSM action authorizes (Service Authorization Reference,
 * "Actions, resources, and condition keys for AWS Systems Manager"). Actions not listed are
 * authorized as ssm:Action on * (DescribeParameters, DescribeInstanceInformation, ListDocuments,
 * ListCommands, ListCommandInvocations, GetCommandInvocation, DescribeAutomationExecutions: the
 * reference gives them no resource types).
 *
 * ARNs as the reference formats them: `parameter/NAME` without the name's leading slash; public
 * parameters (`/aws/service/...`) and AWS-owned documents (`AWS-RunShellScript`) carry no account;
 * instances are EC2's `instance/ID`. Run Command's resource tags are read as `ssm:resourceTag/KEY`
 * (and `aws:ResourceTag/KEY`) on the document and on every instance it targets.
 */
import { type AuthzCheck, passRole } from '../../authz/authorizer';
import type { ContextKeys } from '../../iam';
import type { AuthzMapper, ServiceContext } from '../../service';
import { Ec2Table, type InstanceRecord } from '../ec2/model';
import { DOCUMENTS_TABLE, type DocumentRecord } from './documents';
import { PARAMETERS_TABLE, type ParameterRecord } from './parameters';

type Input = Record<string, unknown>;

const text = (input: Input, member: string): string | undefined => {
  const value = input[member];
  return typeof value === 'string' ? value : undefined;
};

const texts = (input: Input, member: string): string[] => {
  const value = input[member];
  return Array.isArray(value) ? value.filter((item): item is string => typeof item === 'string') : [];
};

/** `ssm:resourceTag/KEY` and `aws:ResourceTag/KEY` for each of a resource's tags. */
const resourceTags = (tags: Readonly<Record<string, string>> | undefined): ContextKeys => {
  const keys: Record<string, string> = {};
  for (const [key, value] of Object.entries(tags ?? {})) {
    keys[`ssm:resourceTag/${key}`] = value;
    keys[`aws:ResourceTag/${key}`] = value;
  }
  return keys;
};

/** `aws:RequestTag/KEY` and `aws:TagKeys` from a request's `Tags: [{Key, Value}]`. */
const requestTags = (input: Input): ContextKeys => {
  const tags = Array.isArray(input.Tags) ? (input.Tags as unknown[]) : [];
  const keys: Record<string, string | string[]> = {};
  const names: string[] = [];
  for (const tag of tags) {
    if (!tag || typeof tag !== 'object') continue;
    const { Key, Value } = tag as Record<string, unknown>;
    if (typeof Key !== 'string') continue;
    names.push(Key);
    keys[`aws:RequestTag/${Key}`] = typeof Value === 'string' ? Value : '';
  }
  if (names.length > 0) keys['aws:TagKeys'] = names;
  return keys;
};

const withContext = (action: string, resource: string, context: ContextKeys): AuthzCheck =>
  Object.keys(context).length > 0 ? { action, resource, context } : { action, resource };

// ---------- parameters ----------

const PARAMETER_ARN = /^(arn:aws[a-z-]*:ssm:[^:]*:[^:]*:parameter\/[^:]*)(?::.*)?$/;

/** A name without its `:version` / `:label` selector (parameter names cannot hold a colon). */
const withoutSelector = (name: string): string => {
  const colon = name.indexOf(':');
  return colon === -1 ? name : name.slice(0, colon);
};

const parameterArn = (ctx: ServiceContext, reference: string): { arn: string; record?: ParameterRecord } => {
  if (reference.startsWith('arn:')) {
    // An ARN names the parameter as it is; a selector after it is not part of the resource.
    return { arn: PARAMETER_ARN.exec(reference)?.[1] ?? reference };
  }
  const name = withoutSelector(reference);
  const record = ctx.store.get<ParameterRecord>(PARAMETERS_TABLE, name);
  const isPublic = record?.public ?? /^\/aws\//.test(name);
  const arn = `arn:aws:ssm:${ctx.region}:${isPublic ? '' : ctx.account}:parameter/${name.replace(/^\/+/, '')}`;
  return record ? { arn, record } : { arn };
};

const onParameter =
  (action: string, member: string): AuthzMapper<Input> =>
  (input, ctx) => {
    const { arn, record } = parameterArn(ctx, text(input, member) ?? '');
    return [withContext(action, arn, { ...resourceTags(record?.tags), ...requestTags(input) })];
  };

const onParameters =
  (action: string, member: string): AuthzMapper<Input> =>
  (input, ctx) =>
    texts(input, member).map((name) => {
      const { arn, record } = parameterArn(ctx, name);
      return withContext(action, arn, resourceTags(record?.tags));
    });

// ---------- documents ----------

/** AWS-owned documents by name, for a document the sandbox does not hold. */
const AWS_OWNED = /^(AWS|Amazon|AWSEC2|AWSSupport|AWSConfigRemediation)-/;

const documentArn = (ctx: ServiceContext, reference: string): { arn: string; record?: DocumentRecord } => {
  if (reference.startsWith('arn:')) return { arn: reference };
  const record = ctx.store.get<DocumentRecord>(DOCUMENTS_TABLE, reference);
  const awsOwned = record ? record.owner === 'Amazon' : AWS_OWNED.test(reference);
  const arn = `arn:aws:ssm:${ctx.region}:${awsOwned ? '' : ctx.account}:document/${reference}`;
  return record ? { arn, record } : { arn };
};

const onDocument =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => {
    const { arn, record } = documentArn(ctx, text(input, 'Name') ?? '');
    return [withContext(action, arn, { ...resourceTags(record?.tags), ...requestTags(input) })];
  };

// ---------- Run Command ----------

const instanceCheck = (ctx: ServiceContext, instanceId: string): AuthzCheck => {
  if (instanceId.startsWith('mi-')) {
    return {
      action: 'ssm:SendCommand',
      resource: `arn:aws:ssm:${ctx.region}:${ctx.account}:managed-instance/${instanceId}`,
    };
  }
  const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, instanceId);
  return withContext(
    'ssm:SendCommand',
    `arn:aws:ec2:${ctx.region}:${ctx.account}:instance/${instanceId}`,
    resourceTags(instance?.tags),
  );
};

/** The instances `Targets` select, as Run Command resolves them: running managed instances. */
const targetedInstances = (ctx: ServiceContext, input: Input): string[] => {
  const targets = (Array.isArray(input.Targets) ? (input.Targets as unknown[]) : []).flatMap((target) => {
    if (!target || typeof target !== 'object') return [];
    const { Key, Values } = target as Record<string, unknown>;
    if (typeof Key !== 'string') return [];
    return [{ key: Key, values: texts({ Values }, 'Values') }];
  });
  if (targets.length === 0) return [];
  const selected: string[] = [];
  for (const instance of ctx.store.table<InstanceRecord>(Ec2Table.Instances).values()) {
    if (instance.iamInstanceProfile === undefined || instance.state !== 'running') continue;
    const matches = targets.every(({ key, values }) => {
      if (key === 'InstanceIds') return values.includes(instance.instanceId);
      if (key === 'tag-key') return values.some((value) => instance.tags[value] !== undefined);
      if (key.startsWith('tag:')) return values.includes(instance.tags[key.slice(4)] ?? '\u0000');
      return false;
    });
    if (matches) selected.push(instance.instanceId);
  }
  return selected;
};

/** SendCommand: the document, then each instance (Systems Manager User Guide, "Restricting Run Command access based on tags"). */
const sendCommand: AuthzMapper<Input> = (input, ctx) => {
  const { arn, record } = documentArn(ctx, text(input, 'DocumentName') ?? '');
  const instanceIds = texts(input, 'InstanceIds');
  const instances = instanceIds.length > 0 ? [...new Set(instanceIds)] : targetedInstances(ctx, input);
  return [
    withContext('ssm:SendCommand', arn, resourceTags(record?.tags)),
    ...instances.map((id) => instanceCheck(ctx, id)),
  ];
};

// ---------- Automation ----------

const executionArn = (ctx: ServiceContext, id: string): string =>
  `arn:aws:ssm:${ctx.region}:${ctx.account}:automation-execution/${id}`;

const onExecution =
  (action: string): AuthzMapper<Input> =>
  (input, ctx) => [{ action, resource: executionArn(ctx, text(input, 'AutomationExecutionId') ?? '') }];

/**
 * StartAutomationExecution: the runbook's document and the execution it creates, the two resource
 * types the Service Authorization Reference marks required (the automation definition is optional).
 * The execution's id is not known before it exists, so the check is on
 * `automation-execution/*`, which is what AWS's examples grant (Systems Manager User Guide, "Setting
 * up identity based policies examples", Example 1: StartAutomationExecution on the document and on
 * `automation-execution/*`). Then `iam:PassRole` on the `AutomationAssumeRole` parameter's role,
 * passed to `ssm.amazonaws.com`.
 */
const startAutomationExecution: AuthzMapper<Input> = (input, ctx) => {
  const name = text(input, 'DocumentName') ?? '';
  const document = documentArn(ctx, name);
  const tags = requestTags(input);
  const checks: AuthzCheck[] = [
    withContext('ssm:StartAutomationExecution', document.arn, { ...resourceTags(document.record?.tags), ...tags }),
    withContext(
      'ssm:StartAutomationExecution',
      `arn:aws:ssm:${ctx.region}:${ctx.account}:automation-execution/*`,
      tags,
    ),
  ];
  const parameters = input.Parameters;
  if (parameters && typeof parameters === 'object') {
    const [role] = texts(parameters as Input, 'AutomationAssumeRole');
    if (role) checks.push(passRole(role, 'ssm.amazonaws.com'));
  }
  return checks;
};

export const ssmAuthz: Readonly<Record<string, AuthzMapper<Input>>> = {
  GetParameter: onParameter('ssm:GetParameter', 'Name'),
  PutParameter: onParameter('ssm:PutParameter', 'Name'),
  DeleteParameter: onParameter('ssm:DeleteParameter', 'Name'),
  GetParameterHistory: onParameter('ssm:GetParameterHistory', 'Name'),
  /** The path's own ARN: `parameter/a/b` for `/a/b` (Systems Manager User Guide, "Restricting access to Parameter Store parameters using IAM policies"). */
  GetParametersByPath: onParameter('ssm:GetParametersByPath', 'Path'),
  GetParameters: onParameters('ssm:GetParameters', 'Names'),
  DeleteParameters: onParameters('ssm:DeleteParameters', 'Names'),
  CreateDocument: onDocument('ssm:CreateDocument'),
  UpdateDocument: onDocument('ssm:UpdateDocument'),
  GetDocument: onDocument('ssm:GetDocument'),
  DescribeDocument: onDocument('ssm:DescribeDocument'),
  DeleteDocument: onDocument('ssm:DeleteDocument'),
  SendCommand: sendCommand,
  StartAutomationExecution: startAutomationExecution,
  GetAutomationExecution: onExecution('ssm:GetAutomationExecution'),
  StopAutomationExecution: onExecution('ssm:StopAutomationExecution'),
  DescribeAutomationStepExecutions: onExecution('ssm:DescribeAutomationStepExecutions'),
};
