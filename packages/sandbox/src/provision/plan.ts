/**
 * The plan: for each resource type the sandbox emulates, the AWS API calls that create it, built
 * from the resource's resolved properties (pure, `planResource`), and their idempotent
 * application (`applyResource`): a resource that already exists in a persisted sandbox is
 * updated in place, never failed on "already exists".
 *
 * Types that need no emulation (log groups, alarms, SQS queues: the sandbox records dead letters
 * itself) are `not emulated`; anything else is `unsupported`. Both are reported, never dropped.
 * A queue's policy is emulated: it decides whether EventBridge may send to the queue.
 */
import { randomInt } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { isDeepStrictEqual } from 'node:util';
import { parse as parseYaml, stringify as stringifyYaml } from 'yaml';
import { referencedIds, type TemplateResolver } from './resolver';
import { assetPath } from './template';

export type CallAws = (
  service: string,
  action: string,
  input: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

export interface PlannedCall {
  readonly service: string;
  readonly action: string;
  readonly input: Record<string, unknown>;
}

export interface PlannedResource {
  readonly logicalId: string;
  readonly type: string;
  readonly physicalId: string;
  readonly arn?: string;
  /** The calls that create it in an empty sandbox. */
  readonly calls: readonly PlannedCall[];
}

export type Outcome = 'created' | 'updated' | 'unchanged';

/** A resource the template declares that cannot be provisioned as it is written. */
export class ProvisionError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ProvisionError';
  }
}

type Props = Record<string, unknown>;

interface Subject {
  readonly logicalId: string;
  readonly type: string;
  /** The resource's name (a rule's name, not its `bus|rule` Ref). */
  readonly name: string;
  readonly props: Props;
  readonly resolver: TemplateResolver;
  readonly assemblyDir: string;
}

interface TypeHandler {
  readonly plan: (subject: Subject) => PlannedCall[];
  readonly apply: (subject: Subject, call: CallAws) => Promise<Outcome>;
}

const NOT_EMULATED = new Set([
  'AWS::Logs::LogGroup',
  'AWS::CloudWatch::Alarm',
  // The dashboard (stacks/dashboard.ts) graphs CloudWatch metrics; the sandbox keeps none to graph.
  'AWS::CloudWatch::Dashboard',
  'AWS::SQS::Queue',
  // The event contract's schema registry documents the events; nothing in the sandbox reads it.
  'AWS::EventSchemas::Registry',
  'AWS::EventSchemas::Schema',
  'AWS::CDK::Metadata',
  'AWS::CloudFormation::CustomResource',
]);

export type Support = 'emulated' | 'notEmulated' | 'unsupported';

export const supportOf = (type: string): Support =>
  type in HANDLERS ? 'emulated' : NOT_EMULATED.has(type) || type.startsWith('Custom::') ? 'notEmulated' : 'unsupported';

const errorName = (error: unknown): string => (error instanceof Error ? error.name : '');

/** Runs `call`; resolves undefined when it fails with one of `codes`. */
const unless = async <T>(codes: readonly string[], call: () => Promise<T>): Promise<T | undefined> => {
  try {
    return await call();
  } catch (error) {
    if (codes.includes(errorName(error))) return undefined;
    throw error;
  }
};

/** Copies the listed properties that are set. */
const pick = (props: Props, names: readonly string[]): Props =>
  Object.fromEntries(names.filter((name) => props[name] !== undefined).map((name) => [name, props[name]]));

const asString = (value: unknown, what: string): string => {
  if (typeof value === 'string') return value;
  if (typeof value === 'number' || typeof value === 'boolean') return String(value);
  throw new ProvisionError(`${what} must be a string, got ${JSON.stringify(value)}`);
};

const asNumber = (value: unknown): number | undefined => (value === undefined ? undefined : Number(value));

/** CloudFormation's `Tags: [{Key, Value}]` or `{key: value}`, as the API's list. */
const tagList = (tags: unknown): { Key: string; Value: string }[] | undefined => {
  if (tags === undefined) return undefined;
  if (Array.isArray(tags)) return tags.map((tag: Props) => ({ Key: String(tag.Key), Value: String(tag.Value) }));
  return Object.entries(tags as Props).map(([Key, Value]) => ({ Key, Value: String(Value) }));
};

const tagMap = (tags: unknown): Record<string, string> | undefined => {
  const list = tagList(tags);
  return list && Object.fromEntries(list.map((tag) => [tag.Key, tag.Value]));
};

const withoutUndefined = (value: Props): Props =>
  Object.fromEntries(Object.entries(value).filter(([, item]) => item !== undefined));

/** True when every member `want` sets is in `have` with the same value (`have` may hold defaults). */
export const isSubset = (want: unknown, have: unknown): boolean => {
  if (want instanceof Date) return have instanceof Date && have.getTime() === want.getTime();
  if (Array.isArray(want)) {
    return Array.isArray(have) && have.length === want.length && want.every((item, i) => isSubset(item, have[i]));
  }
  if (typeof want === 'object' && want !== null) {
    if (typeof have !== 'object' || have === null) return false;
    return Object.entries(want).every(([key, value]) => isSubset(value, (have as Props)[key]));
  }
  return want === have;
};

const lowerFirst = (key: string): string => key.charAt(0).toLowerCase() + key.slice(1);

/** CloudFormation's PascalCase members as the camelCase Step Functions API takes them. */
const camelKeys = (value: unknown): unknown =>
  Array.isArray(value)
    ? value.map(camelKeys)
    : typeof value === 'object' && value !== null
      ? Object.fromEntries(Object.entries(value).map(([key, item]) => [lowerFirst(key), camelKeys(item)]))
      : value;

// --- EventBridge -------------------------------------------------------------------------------

const eventBusInput = (s: Subject): Props =>
  withoutUndefined({
    Name: s.name,
    ...pick(s.props, ['Description', 'KmsKeyIdentifier', 'DeadLetterConfig', 'EventSourceName']),
    Tags: tagList(s.props.Tags),
  });

const eventBus: TypeHandler = {
  plan: (s) => [{ service: 'events', action: 'CreateEventBus', input: eventBusInput(s) }],
  apply: async (s, call) =>
    (await unless(['ResourceAlreadyExistsException'], () => call('events', 'CreateEventBus', eventBusInput(s))))
      ? 'created'
      : 'unchanged',
};

interface PolicyDocument {
  Version?: string;
  Statement: Props[];
}

/** The bus policy statement the resource declares (`Statement`, or the older Action/Principal form). */
const busStatement = (s: Subject): Props => {
  const sid = asString(s.props.StatementId, `${s.logicalId}.StatementId`);
  if (s.props.Statement !== undefined) return { ...(s.props.Statement as Props), Sid: sid };
  const principal = asString(s.props.Principal, `${s.logicalId}.Principal`);
  const bus = asString(s.props.EventBusName ?? 'default', `${s.logicalId}.EventBusName`);
  const condition = s.props.Condition as Props | undefined;
  return withoutUndefined({
    Sid: sid,
    Effect: 'Allow',
    Principal: principal === '*' ? '*' : { AWS: `arn:${s.resolver.env.partition}:iam::${principal}:root` },
    Action: s.props.Action,
    Resource: `arn:${s.resolver.env.partition}:events:${s.resolver.env.region}:${s.resolver.env.account}:event-bus/${bus}`,
    Condition: condition && { [String(condition.Type)]: { [String(condition.Key)]: condition.Value } },
  });
};

const busOf = (s: Subject): string => asString(s.props.EventBusName ?? 'default', `${s.logicalId}.EventBusName`);

const mergedPolicy = (current: string | undefined, statement: Props): PolicyDocument => {
  const policy: PolicyDocument = current ? (JSON.parse(current) as PolicyDocument) : { Statement: [] };
  const others = (policy.Statement ?? []).filter((existing) => existing.Sid !== statement.Sid);
  return { Version: policy.Version ?? '2012-10-17', Statement: [...others, statement] };
};

const eventBusPolicy: TypeHandler = {
  plan: (s) => [
    {
      service: 'events',
      action: 'PutPermission',
      input: { EventBusName: busOf(s), Policy: JSON.stringify(mergedPolicy(undefined, busStatement(s))) },
    },
  ],
  apply: async (s, call) => {
    const statement = busStatement(s);
    const bus = await call('events', 'DescribeEventBus', { Name: busOf(s) });
    const current = typeof bus.Policy === 'string' ? bus.Policy : undefined;
    const existing = current
      ? (JSON.parse(current) as PolicyDocument).Statement?.find((item) => item.Sid === statement.Sid)
      : undefined;
    if (existing && isDeepStrictEqual(existing, statement)) return 'unchanged';
    await call('events', 'PutPermission', {
      EventBusName: busOf(s),
      Policy: JSON.stringify(mergedPolicy(current, statement)),
    });
    return existing ? 'updated' : 'created';
  },
};

const ruleInputs = (s: Subject): { putRule: Props; putTargets: Props | undefined } => {
  const eventBusName = s.props.EventBusName === undefined ? undefined : asString(s.props.EventBusName, 'EventBusName');
  const pattern = s.props.EventPattern;
  const putRule = withoutUndefined({
    Name: s.name,
    EventBusName: eventBusName,
    EventPattern: pattern === undefined ? undefined : typeof pattern === 'string' ? pattern : JSON.stringify(pattern),
    ...pick(s.props, ['ScheduleExpression', 'State', 'Description', 'RoleArn']),
    Tags: tagList(s.props.Tags),
  });
  const targets = s.props.Targets as Props[] | undefined;
  const putTargets =
    targets && targets.length > 0
      ? withoutUndefined({ Rule: s.name, EventBusName: eventBusName, Targets: targets })
      : undefined;
  return { putRule, putTargets };
};

const rule: TypeHandler = {
  plan: (s) => {
    const { putRule, putTargets } = ruleInputs(s);
    return [
      { service: 'events', action: 'PutRule', input: putRule },
      ...(putTargets ? [{ service: 'events', action: 'PutTargets', input: putTargets }] : []),
    ];
  },
  apply: async (s, call) => {
    const { putRule, putTargets } = ruleInputs(s);
    const where = withoutUndefined({ Name: s.name, EventBusName: putRule.EventBusName });
    const existed = await unless(['ResourceNotFoundException'], () => call('events', 'DescribeRule', where));
    const wantedTargets = (putTargets?.Targets as Props[] | undefined) ?? [];
    if (existed) {
      const listed = await call('events', 'ListTargetsByRule', { Rule: s.name, ...pick(putRule, ['EventBusName']) });
      const current = (listed.Targets as Props[] | undefined) ?? [];
      const { Tags: _tags, EventPattern: pattern, ...ruleFields } = putRule;
      const samePattern =
        pattern === undefined
          ? existed.EventPattern === undefined
          : typeof existed.EventPattern === 'string' &&
            isDeepStrictEqual(JSON.parse(existed.EventPattern), JSON.parse(String(pattern)));
      const sameTargets =
        current.length === wantedTargets.length &&
        wantedTargets.every((target) => current.some((have) => have.Id === target.Id && isSubset(target, have)));
      if (
        samePattern &&
        sameTargets &&
        isSubset({ ...ruleFields, EventBusName: undefined }, { ...existed, EventBusName: undefined })
      ) {
        return 'unchanged';
      }
      const wanted = new Set(wantedTargets.map((target) => target.Id));
      const stale = current.map((t) => t.Id).filter((id) => !wanted.has(id));
      if (stale.length > 0) {
        await call('events', 'RemoveTargets', { Rule: s.name, ...pick(putRule, ['EventBusName']), Ids: stale });
      }
    }
    await call('events', 'PutRule', putRule);
    if (putTargets) await call('events', 'PutTargets', putTargets);
    return existed ? 'updated' : 'created';
  },
};

// --- Scheduler ---------------------------------------------------------------------------------

const scheduleGroup: TypeHandler = {
  plan: (s) => [
    {
      service: 'scheduler',
      action: 'CreateScheduleGroup',
      input: withoutUndefined({ Name: s.name, Tags: tagList(s.props.Tags) }),
    },
  ],
  apply: async (s, call) =>
    (await unless(['ConflictException'], () =>
      call('scheduler', 'CreateScheduleGroup', withoutUndefined({ Name: s.name, Tags: tagList(s.props.Tags) })),
    ))
      ? 'created'
      : 'unchanged',
};

const scheduleInput = (s: Subject): Props => {
  const date = (value: unknown) => (value === undefined ? undefined : new Date(asString(value, 'date')));
  return withoutUndefined({
    Name: s.name,
    ...pick(s.props, [
      'GroupName',
      'Description',
      'ScheduleExpression',
      'ScheduleExpressionTimezone',
      'State',
      'FlexibleTimeWindow',
      'Target',
      'KmsKeyArn',
      'ActionAfterCompletion',
    ]),
    StartDate: date(s.props.StartDate),
    EndDate: date(s.props.EndDate),
  });
};

const schedule: TypeHandler = {
  plan: (s) => [{ service: 'scheduler', action: 'CreateSchedule', input: scheduleInput(s) }],
  apply: async (s, call) => {
    const input = scheduleInput(s);
    const existing = await unless(['ResourceNotFoundException'], () =>
      call('scheduler', 'GetSchedule', { Name: s.name, ...pick(input, ['GroupName']) }),
    );
    // An update restarts the schedule's window: only when something changed.
    if (existing && isSubset(input, existing)) return 'unchanged';
    await call('scheduler', existing ? 'UpdateSchedule' : 'CreateSchedule', input);
    return existing ? 'updated' : 'created';
  },
};

// --- Step Functions ----------------------------------------------------------------------------

/** The definition as CloudFormation deploys it: from the template or the asset, `${Name}`s replaced. */
export const stateMachineDefinition = (props: Props, assemblyDir: string, logicalId: string): string => {
  let definition: string;
  if (props.DefinitionString !== undefined) definition = asString(props.DefinitionString, 'DefinitionString');
  else if (props.Definition !== undefined) definition = JSON.stringify(props.Definition);
  else if (props.DefinitionS3Location !== undefined) {
    const location = props.DefinitionS3Location as Props;
    definition = readFileSync(assetPath(assemblyDir, asString(location.Key, 'DefinitionS3Location.Key')), 'utf8');
  } else {
    throw new ProvisionError(`${logicalId} has no Definition, DefinitionString or DefinitionS3Location`);
  }
  for (const [name, value] of Object.entries((props.DefinitionSubstitutions as Props | undefined) ?? {})) {
    definition = definition.replaceAll(`\${${name}}`, asString(value, `DefinitionSubstitutions.${name}`));
  }
  return definition;
};

const stateMachineInputs = (s: Subject) => {
  const common = withoutUndefined({
    definition: stateMachineDefinition(s.props, s.assemblyDir, s.logicalId),
    roleArn: s.props.RoleArn,
    loggingConfiguration: camelKeys(s.props.LoggingConfiguration),
    tracingConfiguration: camelKeys(s.props.TracingConfiguration),
  });
  const tags = tagList(s.props.Tags)?.map((tag) => ({ key: tag.Key, value: tag.Value }));
  return {
    create: withoutUndefined({ name: s.name, type: s.props.StateMachineType, ...common, tags }),
    update: { stateMachineArn: s.resolver.ids(s.logicalId).physicalId, ...common } as Props & {
      stateMachineArn: string;
    },
  };
};

const stateMachine: TypeHandler = {
  plan: (s) => [{ service: 'sfn', action: 'CreateStateMachine', input: stateMachineInputs(s).create }],
  apply: async (s, call) => {
    const { create, update } = stateMachineInputs(s);
    const existing = await unless(['StateMachineDoesNotExist'], () =>
      call('sfn', 'DescribeStateMachine', { stateMachineArn: update.stateMachineArn }),
    );
    if (!existing) {
      await call('sfn', 'CreateStateMachine', create);
      return 'created';
    }
    if (existing.definition === update.definition && existing.roleArn === update.roleArn) return 'unchanged';
    await call('sfn', 'UpdateStateMachine', update);
    return 'updated';
  },
};

// --- SSM ---------------------------------------------------------------------------------------

const documentInput = (s: Subject): Props => {
  const format = asString(s.props.DocumentFormat ?? 'JSON', 'DocumentFormat');
  const content = s.props.Content;
  const text =
    typeof content === 'string'
      ? content
      : format === 'YAML'
        ? stringifyYaml(content)
        : JSON.stringify(content, null, 2);
  return withoutUndefined({
    Name: s.name,
    Content: text,
    DocumentFormat: format,
    DocumentType: s.props.DocumentType ?? 'Command',
    ...pick(s.props, ['TargetType', 'VersionName', 'Requires', 'Attachments']),
    Tags: tagList(s.props.Tags),
  });
};

const parseDocument = (content: string, format: string): unknown =>
  format === 'YAML' ? parseYaml(content) : JSON.parse(content);

const document: TypeHandler = {
  plan: (s) => [{ service: 'ssm', action: 'CreateDocument', input: documentInput(s) }],
  apply: async (s, call) => {
    const input = documentInput(s);
    const format = String(input.DocumentFormat);
    const current = await unless(['InvalidDocument'], () =>
      call('ssm', 'GetDocument', { Name: s.name, DocumentFormat: format }),
    );
    if (!current) {
      await call('ssm', 'CreateDocument', input);
      return 'created';
    }
    const same = isDeepStrictEqual(
      parseDocument(String(current.Content), format),
      parseDocument(String(input.Content), format),
    );
    if (same && current.DocumentType === input.DocumentType) return 'unchanged';
    if (s.props.UpdateMethod === 'NewVersion' && current.DocumentType === input.DocumentType) {
      const updated = await unless(['DuplicateDocumentContent'], () =>
        call('ssm', 'UpdateDocument', {
          ...pick(input, ['Name', 'Content', 'DocumentFormat', 'TargetType', 'VersionName']),
          DocumentVersion: '$LATEST',
        }),
      );
      const version = (updated?.DocumentDescription as Props | undefined)?.DocumentVersion;
      const defaulted =
        version !== undefined &&
        (await unless(['UnknownOperationException', 'InvalidAction'], () =>
          call('ssm', 'UpdateDocumentDefaultVersion', { Name: s.name, DocumentVersion: String(version) }),
        ));
      if (defaulted) return 'updated';
    }
    // CloudFormation's Replace (its default update method), and the way to a new default
    // version where the sandbox cannot set one.
    await call('ssm', 'DeleteDocument', { Name: s.name });
    await call('ssm', 'CreateDocument', input);
    return 'updated';
  },
};

const parameterInput = (s: Subject): Props =>
  withoutUndefined({
    Name: s.name,
    Value: asString(s.props.Value, `${s.logicalId}.Value`),
    Type: s.props.Type ?? 'String',
    ...pick(s.props, ['Description', 'AllowedPattern', 'Tier', 'DataType', 'Policies']),
  });

const parameter: TypeHandler = {
  plan: (s) => [
    { service: 'ssm', action: 'PutParameter', input: { ...parameterInput(s), Tags: tagList(s.props.Tags) } },
  ],
  apply: async (s, call) => {
    const input = parameterInput(s);
    const current = await unless(['ParameterNotFound'], () => call('ssm', 'GetParameter', { Name: s.name }));
    const existing = current?.Parameter as Props | undefined;
    if (!existing) {
      await call('ssm', 'PutParameter', withoutUndefined({ ...input, Tags: tagList(s.props.Tags) }));
      return 'created';
    }
    if (existing.Value === input.Value && existing.Type === input.Type) return 'unchanged';
    await call('ssm', 'PutParameter', { ...input, Overwrite: true });
    return 'updated';
  },
};

// --- Secrets Manager ---------------------------------------------------------------------------

const PUNCTUATION = '!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~';

/** A value as GenerateSecretString describes it (Secrets Manager's GetRandomPassword rules). */
export const generateSecretString = (spec: Props): string => {
  const exclude = new Set(String(spec.ExcludeCharacters ?? ''));
  const flag = (name: string) => spec[name] === true || spec[name] === 'true';
  const classes = [
    flag('ExcludeLowercase') ? '' : 'abcdefghijklmnopqrstuvwxyz',
    flag('ExcludeUppercase') ? '' : 'ABCDEFGHIJKLMNOPQRSTUVWXYZ',
    flag('ExcludeNumbers') ? '' : '0123456789',
    flag('ExcludePunctuation') ? '' : PUNCTUATION,
    flag('IncludeSpace') ? ' ' : '',
  ]
    .map((chars) => [...chars].filter((char) => !exclude.has(char)).join(''))
    .filter((chars) => chars.length > 0);
  const length = Number(spec.PasswordLength ?? 32);
  if (classes.length === 0) throw new ProvisionError('GenerateSecretString excludes every character');
  const all = classes.join('');
  const chars = Array.from({ length }, () => all[randomInt(all.length)] as string);
  if (spec.RequireEachIncludedType !== false && spec.RequireEachIncludedType !== 'false' && length >= classes.length) {
    // One of each class, at distinct random positions.
    const positions = [...Array(length).keys()];
    for (const group of classes) {
      const [position] = positions.splice(randomInt(positions.length), 1);
      chars[position as number] = group[randomInt(group.length)] as string;
    }
  }
  const password = chars.join('');
  if (spec.SecretStringTemplate === undefined) return password;
  const template = JSON.parse(asString(spec.SecretStringTemplate, 'SecretStringTemplate')) as Props;
  return JSON.stringify({ ...template, [asString(spec.GenerateStringKey, 'GenerateStringKey')]: password });
};

const secretInput = (s: Subject): Props =>
  withoutUndefined({
    Name: s.name,
    ...pick(s.props, ['Description', 'KmsKeyId']),
    SecretString:
      s.props.SecretString !== undefined
        ? asString(s.props.SecretString, `${s.logicalId}.SecretString`)
        : s.props.GenerateSecretString !== undefined
          ? generateSecretString(s.props.GenerateSecretString as Props)
          : undefined,
    Tags: tagList(s.props.Tags),
  });

const secret: TypeHandler = {
  plan: (s) => [{ service: 'secretsmanager', action: 'CreateSecret', input: secretInput(s) }],
  apply: async (s, call) => {
    const existing = await unless(['ResourceNotFoundException'], () =>
      call('secretsmanager', 'DescribeSecret', { SecretId: s.name }),
    );
    const known = (arn: unknown) =>
      s.resolver.override(s.logicalId, { ref: String(arn), attributes: { Id: String(arn) } });
    if (!existing) {
      const created = await call('secretsmanager', 'CreateSecret', secretInput(s));
      known(created.ARN);
      return 'created';
    }
    known(existing.ARN);
    // A generated value is kept, as CloudFormation keeps it while the template does not change it.
    if (s.props.SecretString === undefined) return 'unchanged';
    const value = asString(s.props.SecretString, `${s.logicalId}.SecretString`);
    const current = await unless(['ResourceNotFoundException'], () =>
      call('secretsmanager', 'GetSecretValue', { SecretId: s.name }),
    );
    if (current?.SecretString === value) return 'unchanged';
    await call('secretsmanager', 'PutSecretValue', { SecretId: s.name, SecretString: value });
    return 'updated';
  },
};

// --- IAM ---------------------------------------------------------------------------------------

/** A policy document as IAM takes it: JSON text (templates hold objects, or text already). */
const documentText = (document: unknown): string =>
  typeof document === 'string' ? document : JSON.stringify(document);

/** Whether two documents say the same (text from IAM comes back URL-encoded). */
const sameDocument = (encoded: unknown, document: unknown): boolean => {
  try {
    return isDeepStrictEqual(JSON.parse(decodeURIComponent(String(encoded))), JSON.parse(documentText(document)));
  } catch {
    return false;
  }
};

const NO_SUCH_ENTITY = ['NoSuchEntityException'];

const roleInput = (s: Subject): Props =>
  withoutUndefined({
    RoleName: s.name,
    Path: s.props.Path,
    AssumeRolePolicyDocument: documentText(s.props.AssumeRolePolicyDocument),
    Description: s.props.Description,
    MaxSessionDuration: asNumber(s.props.MaxSessionDuration),
    PermissionsBoundary: s.props.PermissionsBoundary,
    Tags: tagList(s.props.Tags),
  });

const inlinePoliciesOf = (s: Subject): { PolicyName: string; PolicyDocument: string }[] =>
  ((s.props.Policies as Props[] | undefined) ?? []).map((policy) => ({
    PolicyName: asString(policy.PolicyName, `${s.logicalId}.Policies[].PolicyName`),
    PolicyDocument: documentText(policy.PolicyDocument),
  }));

const managedArnsOf = (s: Subject): string[] =>
  ((s.props.ManagedPolicyArns as unknown[] | undefined) ?? []).map((arn) =>
    asString(arn, `${s.logicalId}.ManagedPolicyArns[]`),
  );

/** The role with its inline policies and managed policy attachments; CloudFormation's Role owns both. */
const role: TypeHandler = {
  plan: (s) => [
    { service: 'iam', action: 'CreateRole', input: roleInput(s) },
    ...inlinePoliciesOf(s).map((policy) => ({
      service: 'iam',
      action: 'PutRolePolicy',
      input: { RoleName: s.name, ...policy },
    })),
    ...managedArnsOf(s).map((arn) => ({
      service: 'iam',
      action: 'AttachRolePolicy',
      input: { RoleName: s.name, PolicyArn: arn },
    })),
  ],
  apply: async (s, call) => {
    const existing = (await unless(NO_SUCH_ENTITY, () => call('iam', 'GetRole', { RoleName: s.name })))?.Role as
      | Props
      | undefined;
    let outcome: Outcome = existing ? 'unchanged' : 'created';
    if (!existing) await call('iam', 'CreateRole', roleInput(s));
    else if (!sameDocument(existing.AssumeRolePolicyDocument, s.props.AssumeRolePolicyDocument)) {
      await call('iam', 'UpdateAssumeRolePolicy', {
        RoleName: s.name,
        PolicyDocument: documentText(s.props.AssumeRolePolicyDocument),
      });
      outcome = 'updated';
    }
    for (const policy of inlinePoliciesOf(s)) {
      const current = existing
        ? await unless(NO_SUCH_ENTITY, () =>
            call('iam', 'GetRolePolicy', { RoleName: s.name, PolicyName: policy.PolicyName }),
          )
        : undefined;
      if (current && sameDocument(current.PolicyDocument, policy.PolicyDocument)) continue;
      await call('iam', 'PutRolePolicy', { RoleName: s.name, ...policy });
      if (existing) outcome = 'updated';
    }
    const attached = existing
      ? (
          ((await call('iam', 'ListAttachedRolePolicies', { RoleName: s.name, MaxItems: 1000 })).AttachedPolicies ??
            []) as Props[]
        ).map((policy) => String(policy.PolicyArn))
      : [];
    for (const arn of managedArnsOf(s).filter((wanted) => !attached.includes(wanted))) {
      await call('iam', 'AttachRolePolicy', { RoleName: s.name, PolicyArn: arn });
      if (existing) outcome = 'updated';
    }
    return outcome;
  },
};

/** The roles a policy or an instance profile names (`Roles`). */
const rolesNamed = (s: Subject): string[] =>
  ((s.props.Roles as unknown[] | undefined) ?? []).map((name) => asString(name, `${s.logicalId}.Roles[]`));

/** `AWS::IAM::Policy`: the same inline policy put on each role it names. */
const inlinePolicy: TypeHandler = {
  plan: (s) =>
    rolesNamed(s).map((roleName) => ({
      service: 'iam',
      action: 'PutRolePolicy',
      input: {
        RoleName: roleName,
        PolicyName: s.props.PolicyName,
        PolicyDocument: documentText(s.props.PolicyDocument),
      },
    })),
  apply: async (s, call) => {
    const policyName = asString(s.props.PolicyName, `${s.logicalId}.PolicyName`);
    let outcome: Outcome = 'unchanged';
    for (const roleName of rolesNamed(s)) {
      const current = await unless(NO_SUCH_ENTITY, () =>
        call('iam', 'GetRolePolicy', { RoleName: roleName, PolicyName: policyName }),
      );
      if (current && sameDocument(current.PolicyDocument, s.props.PolicyDocument)) continue;
      await call('iam', 'PutRolePolicy', {
        RoleName: roleName,
        PolicyName: policyName,
        PolicyDocument: documentText(s.props.PolicyDocument),
      });
      outcome = current ? (outcome === 'created' ? 'created' : 'updated') : 'created';
    }
    return outcome;
  },
};

/** `AWS::IAM::ManagedPolicy`: a customer managed policy, attached to the roles it names. */
const managedPolicy: TypeHandler = {
  plan: (s) => [
    {
      service: 'iam',
      action: 'CreatePolicy',
      input: withoutUndefined({
        PolicyName: s.name,
        Path: s.props.Path,
        Description: s.props.Description,
        PolicyDocument: documentText(s.props.PolicyDocument),
      }),
    },
    ...rolesNamed(s).map((roleName) => ({
      service: 'iam',
      action: 'AttachRolePolicy',
      input: { RoleName: roleName, PolicyArn: s.resolver.ids(s.logicalId).physicalId },
    })),
  ],
  apply: async (s, call) => {
    const arn = s.resolver.ids(s.logicalId).physicalId;
    const version = await unless(NO_SUCH_ENTITY, () =>
      call('iam', 'GetPolicyVersion', { PolicyArn: arn, VersionId: 'v1' }),
    );
    let outcome: Outcome = version ? 'unchanged' : 'created';
    const document = (version?.PolicyVersion as Props | undefined)?.Document;
    if (version && !sameDocument(document, s.props.PolicyDocument)) {
      // One version is kept (CreatePolicyVersion is not emulated): replace the policy in place.
      for (const roleName of rolesNamed(s)) {
        await unless(NO_SUCH_ENTITY, () => call('iam', 'DetachRolePolicy', { RoleName: roleName, PolicyArn: arn }));
      }
      await call('iam', 'DeletePolicy', { PolicyArn: arn });
      outcome = 'updated';
    }
    if (outcome !== 'unchanged') {
      const [create, ...attachments] = managedPolicy.plan(s) as [PlannedCall, ...PlannedCall[]];
      await call(create.service, create.action, create.input);
      for (const attachment of attachments) await call(attachment.service, attachment.action, attachment.input);
      return outcome;
    }
    for (const roleName of rolesNamed(s)) await call('iam', 'AttachRolePolicy', { RoleName: roleName, PolicyArn: arn });
    return outcome;
  },
};

/** `AWS::IAM::InstanceProfile`: the profile and its one role. */
const instanceProfile: TypeHandler = {
  plan: (s) => [
    {
      service: 'iam',
      action: 'CreateInstanceProfile',
      input: withoutUndefined({ InstanceProfileName: s.name, Path: s.props.Path }),
    },
    ...rolesNamed(s).map((roleName) => ({
      service: 'iam',
      action: 'AddRoleToInstanceProfile',
      input: { InstanceProfileName: s.name, RoleName: roleName },
    })),
  ],
  apply: async (s, call) => {
    const existing = (
      await unless(NO_SUCH_ENTITY, () => call('iam', 'GetInstanceProfile', { InstanceProfileName: s.name }))
    )?.InstanceProfile as Props | undefined;
    if (!existing) await call('iam', 'CreateInstanceProfile', instanceProfile.plan(s)[0]?.input as Props);
    const current = ((existing?.Roles ?? []) as Props[]).map((r) => String(r.RoleName));
    const wanted = rolesNamed(s);
    if (isDeepStrictEqual(current, wanted)) return existing ? 'unchanged' : 'created';
    for (const roleName of current) {
      await call('iam', 'RemoveRoleFromInstanceProfile', { InstanceProfileName: s.name, RoleName: roleName });
    }
    for (const roleName of wanted) {
      await call('iam', 'AddRoleToInstanceProfile', { InstanceProfileName: s.name, RoleName: roleName });
    }
    return existing ? 'updated' : 'created';
  },
};

// --- Lambda ------------------------------------------------------------------------------------

const FUNCTION_CONFIGURATION = [
  'Role',
  'Handler',
  'Runtime',
  'Description',
  'Timeout',
  'MemorySize',
  'Environment',
  'TracingConfig',
  'EphemeralStorage',
  'LoggingConfig',
  'Layers',
  'DeadLetterConfig',
  'KMSKeyArn',
  'VpcConfig',
];

const functionCode = (s: Subject): Props => {
  const code = (s.props.Code as Props | undefined) ?? {};
  if (code.S3Bucket !== undefined && code.S3Key !== undefined)
    return pick(code, ['S3Bucket', 'S3Key', 'S3ObjectVersion']);
  if (code.ImageUri !== undefined) return pick(code, ['ImageUri']);
  throw new ProvisionError(
    `${s.logicalId}: only S3 code (a CDK asset) runs in the sandbox; inline ZipFile code is not supported`,
  );
};

const functionInput = (s: Subject): Props => {
  const props = { ...s.props, Timeout: asNumber(s.props.Timeout), MemorySize: asNumber(s.props.MemorySize) };
  return withoutUndefined({
    FunctionName: s.name,
    Code: functionCode(s),
    ...pick(props, [...FUNCTION_CONFIGURATION, 'Architectures', 'PackageType']),
    Tags: tagMap(s.props.Tags),
  });
};

const lambdaFunction: TypeHandler = {
  plan: (s) => [{ service: 'lambda', action: 'CreateFunction', input: functionInput(s) }],
  apply: async (s, call) => {
    const input = functionInput(s);
    const existing = await unless(['ResourceNotFoundException'], () =>
      call('lambda', 'GetFunctionConfiguration', { FunctionName: s.name }),
    );
    if (!existing) {
      await call('lambda', 'CreateFunction', input);
      return 'created';
    }
    await call('lambda', 'UpdateFunctionCode', {
      FunctionName: s.name,
      ...(input.Code as Props),
      ...pick(input, ['Architectures']),
    });
    await call('lambda', 'UpdateFunctionConfiguration', {
      FunctionName: s.name,
      ...pick(input, FUNCTION_CONFIGURATION),
    });
    return 'updated';
  },
};

const eventInvokeConfigInput = (s: Subject): Props =>
  withoutUndefined({
    ...pick(s.props, ['FunctionName', 'DestinationConfig']),
    Qualifier: s.props.Qualifier ?? '$LATEST',
    MaximumRetryAttempts: asNumber(s.props.MaximumRetryAttempts),
    MaximumEventAgeInSeconds: asNumber(s.props.MaximumEventAgeInSeconds),
  });

const eventInvokeConfig: TypeHandler = {
  plan: (s) => [{ service: 'lambda', action: 'PutFunctionEventInvokeConfig', input: eventInvokeConfigInput(s) }],
  apply: async (s, call) => {
    const input = eventInvokeConfigInput(s);
    const existing = await unless(['ResourceNotFoundException'], () =>
      call('lambda', 'GetFunctionEventInvokeConfig', pick(input, ['FunctionName', 'Qualifier'])),
    );
    const { FunctionName: _name, Qualifier: _qualifier, ...settings } = input;
    if (existing && isSubset(settings, existing)) return 'unchanged';
    await call('lambda', 'PutFunctionEventInvokeConfig', input);
    return existing ? 'updated' : 'created';
  },
};

const permissionInput = (s: Subject): Props =>
  withoutUndefined({
    StatementId: s.name,
    ...pick(s.props, [
      'FunctionName',
      'Action',
      'Principal',
      'SourceArn',
      'SourceAccount',
      'EventSourceToken',
      'PrincipalOrgID',
      'FunctionUrlAuthType',
    ]),
  });

/** The statement AddPermission made from `input`: same action, principal and source. */
const samePermission = (statement: Props, input: Props): boolean => {
  const text = JSON.stringify(statement);
  return (
    statement.Action === input.Action &&
    text.includes(JSON.stringify(input.Principal)) &&
    (input.SourceArn === undefined || text.includes(JSON.stringify(input.SourceArn))) &&
    (input.SourceAccount === undefined || text.includes(JSON.stringify(input.SourceAccount)))
  );
};

const permission: TypeHandler = {
  plan: (s) => [{ service: 'lambda', action: 'AddPermission', input: permissionInput(s) }],
  apply: async (s, call) => {
    const input = permissionInput(s);
    const policy = await unless(['ResourceNotFoundException'], () =>
      call('lambda', 'GetPolicy', pick(input, ['FunctionName'])),
    );
    const statements = policy?.Policy ? ((JSON.parse(String(policy.Policy)) as PolicyDocument).Statement ?? []) : [];
    const existing = statements.find((statement) => statement.Sid === input.StatementId);
    if (existing && samePermission(existing, input)) return 'unchanged';
    if (await unless(['ResourceConflictException'], () => call('lambda', 'AddPermission', input))) return 'created';
    await call('lambda', 'RemovePermission', pick(input, ['FunctionName', 'StatementId']));
    await call('lambda', 'AddPermission', input);
    return 'updated';
  },
};

// --- DynamoDB ----------------------------------------------------------------------------------

/** CloudFormation may give numbers as strings; the API takes numbers. */
const throughput = (value: unknown): Props | undefined => {
  if (value === undefined) return undefined;
  const props = value as Props;
  return withoutUndefined({
    ReadCapacityUnits: asNumber(props.ReadCapacityUnits),
    WriteCapacityUnits: asNumber(props.WriteCapacityUnits),
  });
};

/** CloudFormation's `true` may be a string. */
const isTrue = (value: unknown): boolean => value === true || value === 'true';

const tableInput = (s: Subject): Props =>
  withoutUndefined({
    TableName: s.name,
    ...pick(s.props, [
      'KeySchema',
      'AttributeDefinitions',
      'BillingMode',
      'LocalSecondaryIndexes',
      'SSESpecification',
      'StreamSpecification',
      'TableClass',
      'DeletionProtectionEnabled',
    ]),
    ProvisionedThroughput: throughput(s.props.ProvisionedThroughput),
    GlobalSecondaryIndexes: (s.props.GlobalSecondaryIndexes as Props[] | undefined)?.map((index) =>
      withoutUndefined({ ...index, ProvisionedThroughput: throughput(index.ProvisionedThroughput) }),
    ),
    Tags: tagList(s.props.Tags),
  });

const timeToLiveInput = (s: Subject): Props | undefined => {
  const spec = s.props.TimeToLiveSpecification as Props | undefined;
  if (!spec || !isTrue(spec.Enabled)) return undefined;
  return {
    TableName: s.name,
    TimeToLiveSpecification: {
      AttributeName: asString(spec.AttributeName, `${s.logicalId}.TimeToLiveSpecification.AttributeName`),
      Enabled: true,
    },
  };
};

const continuousBackupsInput = (s: Subject): Props | undefined => {
  const spec = s.props.PointInTimeRecoverySpecification as Props | undefined;
  if (!spec || !isTrue(spec.PointInTimeRecoveryEnabled)) return undefined;
  return {
    TableName: s.name,
    PointInTimeRecoverySpecification: withoutUndefined({
      PointInTimeRecoveryEnabled: true,
      RecoveryPeriodInDays: asNumber(spec.RecoveryPeriodInDays),
    }),
  };
};

/** How long (real time) provisioning waits for a new table to be ACTIVE; the sandbox takes 100 ms. */
const TABLE_ACTIVE_WAIT_MS = 10_000;

/**
 * CloudFormation reports a table created only once it is ACTIVE, so dependants never see it
 * CREATING (the sandbox keeps a new table CREATING for a moment, as AWS does for longer). The wait
 * is bounded by time, not by a number of polls, so a loaded machine does not turn it into an error.
 */
const waitUntilActive = async (s: Subject, call: CallAws): Promise<Props> => {
  const deadline = Date.now() + TABLE_ACTIVE_WAIT_MS;
  for (;;) {
    const table = (await call('dynamodb', 'DescribeTable', { TableName: s.name })).Table as Props;
    if (table.TableStatus === 'ACTIVE') return table;
    if (Date.now() > deadline) {
      throw new ProvisionError(
        `${s.logicalId}: table ${s.name} is still ${String(table.TableStatus)}, not ACTIVE, after ${TABLE_ACTIVE_WAIT_MS / 1000} s`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
};

/** The table's TTL as the template wants it, set when it differs (UpdateTimeToLive refuses a no-op). */
const applyTimeToLive = async (s: Subject, call: CallAws): Promise<boolean> => {
  const wanted = timeToLiveInput(s);
  const current = (await call('dynamodb', 'DescribeTimeToLive', { TableName: s.name })).TimeToLiveDescription as
    | Props
    | undefined;
  const enabled = current?.TimeToLiveStatus === 'ENABLED' || current?.TimeToLiveStatus === 'ENABLING';
  const wantedAttribute = (wanted?.TimeToLiveSpecification as Props | undefined)?.AttributeName;
  if (wanted && enabled && current?.AttributeName === wantedAttribute) return false;
  if (!wanted && !enabled) return false;
  if (enabled) {
    await call('dynamodb', 'UpdateTimeToLive', {
      TableName: s.name,
      TimeToLiveSpecification: { AttributeName: current?.AttributeName, Enabled: false },
    });
  }
  if (wanted) await call('dynamodb', 'UpdateTimeToLive', wanted);
  return true;
};

const applyContinuousBackups = async (s: Subject, call: CallAws): Promise<boolean> => {
  const wanted = continuousBackupsInput(s);
  const current = (
    (await call('dynamodb', 'DescribeContinuousBackups', { TableName: s.name })).ContinuousBackupsDescription as
      | Props
      | undefined
  )?.PointInTimeRecoveryDescription as Props | undefined;
  const enabled = current?.PointInTimeRecoveryStatus === 'ENABLED';
  const wantedDays =
    (wanted?.PointInTimeRecoverySpecification as Props | undefined)?.RecoveryPeriodInDays ?? (wanted ? 35 : undefined);
  if (wanted ? enabled && current?.RecoveryPeriodInDays === wantedDays : !enabled) return false;
  await call(
    'dynamodb',
    'UpdateContinuousBackups',
    wanted ?? { TableName: s.name, PointInTimeRecoverySpecification: { PointInTimeRecoveryEnabled: false } },
  );
  return true;
};

/**
 * `AWS::DynamoDB::Table`: CreateTable (tags applied after it, as dynalite's CreateTable drops
 * them), ACTIVE before anything that depends on it, then its TTL and point-in-time recovery.
 * An existing table keeps its items; a changed key schema would make CloudFormation replace the
 * table, which the sandbox refuses rather than drop data (DeletionPolicy and UpdateReplacePolicy
 * need no emulation: the sandbox never deletes a stack). SSESpecification, StreamSpecification and
 * TableClass are accepted and not modeled.
 */
const dynamodbTable: TypeHandler = {
  plan: (s) => {
    const ttl = timeToLiveInput(s);
    const backups = continuousBackupsInput(s);
    return [
      { service: 'dynamodb', action: 'CreateTable', input: tableInput(s) },
      ...(ttl ? [{ service: 'dynamodb', action: 'UpdateTimeToLive', input: ttl }] : []),
      ...(backups ? [{ service: 'dynamodb', action: 'UpdateContinuousBackups', input: backups }] : []),
    ];
  },
  apply: async (s, call) => {
    const input = tableInput(s);
    const existing = (
      await unless(['ResourceNotFoundException'], () => call('dynamodb', 'DescribeTable', { TableName: s.name }))
    )?.Table as Props | undefined;
    if (existing && !isDeepStrictEqual(existing.KeySchema, input.KeySchema)) {
      throw new ProvisionError(
        `${s.logicalId}: table ${s.name} exists with key schema ${JSON.stringify(existing.KeySchema)}, the template says ${JSON.stringify(input.KeySchema)}; CloudFormation would replace the table: delete it (or start the sandbox with --reset) to provision the new one`,
      );
    }
    if (!existing) {
      const { Tags: tags, ...create } = input;
      await call('dynamodb', 'CreateTable', create);
      const table = await waitUntilActive(s, call);
      if (Array.isArray(tags) && tags.length > 0) {
        await call('dynamodb', 'TagResource', { ResourceArn: table.TableArn, Tags: tags });
      }
    }
    const ttlChanged = await applyTimeToLive(s, call);
    const backupsChanged = await applyContinuousBackups(s, call);
    return !existing ? 'created' : ttlChanged || backupsChanged ? 'updated' : 'unchanged';
  },
};

// --- SQS ---------------------------------------------------------------------------------------

/**
 * `AWS::SQS::QueuePolicy`: the document set as each named queue's `Policy` attribute (`Queues` are
 * queue URLs), as CloudFormation does with SetQueueAttributes; a changed document replaces it.
 */
const queuePolicyInputs = (s: Subject): Props[] => {
  const queues = s.props.Queues;
  if (!Array.isArray(queues) || queues.length === 0) {
    throw new ProvisionError(`${s.logicalId}.Queues must list at least one queue URL`);
  }
  const policy = JSON.stringify(s.props.PolicyDocument);
  return queues.map((queue, i) => ({
    QueueUrl: asString(queue, `${s.logicalId}.Queues[${i}]`),
    Attributes: { Policy: policy },
  }));
};

const queuePolicy: TypeHandler = {
  plan: (s) => queuePolicyInputs(s).map((input) => ({ service: 'sqs', action: 'SetQueueAttributes', input })),
  apply: async (s, call) => {
    const outcomes: Outcome[] = [];
    for (const input of queuePolicyInputs(s)) {
      const current = await call('sqs', 'GetQueueAttributes', {
        QueueUrl: input.QueueUrl,
        AttributeNames: ['Policy'],
      });
      const policy = (current.Attributes as Record<string, string> | undefined)?.Policy;
      const wanted = (input.Attributes as { Policy: string }).Policy;
      if (policy !== undefined && isDeepStrictEqual(JSON.parse(policy), JSON.parse(wanted))) {
        outcomes.push('unchanged');
        continue;
      }
      await call('sqs', 'SetQueueAttributes', input);
      outcomes.push(policy === undefined ? 'created' : 'updated');
    }
    return outcomes.every((outcome) => outcome === 'unchanged')
      ? 'unchanged'
      : outcomes.includes('updated')
        ? 'updated'
        : 'created';
  },
};

const HANDLERS: Readonly<Record<string, TypeHandler>> = {
  'AWS::Events::EventBus': eventBus,
  'AWS::Events::EventBusPolicy': eventBusPolicy,
  'AWS::Events::Rule': rule,
  'AWS::Scheduler::ScheduleGroup': scheduleGroup,
  'AWS::Scheduler::Schedule': schedule,
  'AWS::StepFunctions::StateMachine': stateMachine,
  'AWS::SSM::Document': document,
  'AWS::SSM::Parameter': parameter,
  'AWS::SecretsManager::Secret': secret,
  'AWS::Lambda::Function': lambdaFunction,
  'AWS::Lambda::EventInvokeConfig': eventInvokeConfig,
  'AWS::Lambda::Permission': permission,
  'AWS::IAM::Role': role,
  'AWS::IAM::Policy': inlinePolicy,
  'AWS::IAM::ManagedPolicy': managedPolicy,
  'AWS::IAM::InstanceProfile': instanceProfile,
  'AWS::SQS::QueuePolicy': queuePolicy,
  'AWS::DynamoDB::Table': dynamodbTable,
};

const handlerOf = (type: string): TypeHandler => {
  const handler = HANDLERS[type];
  if (!handler) throw new ProvisionError(`the sandbox does not emulate ${type}`);
  return handler;
};

const subject = (resolver: TemplateResolver, assemblyDir: string, logicalId: string): Subject => {
  const resource = resolver.template.Resources[logicalId];
  if (!resource) throw new ProvisionError(`the template has no resource '${logicalId}'`);
  return {
    logicalId,
    type: resource.Type,
    name: resolver.name(logicalId),
    props: resolver.properties(logicalId),
    resolver,
    assemblyDir,
  };
};

/** The create calls of one emulated resource, from its resolved properties. */
export const planResource = (resolver: TemplateResolver, assemblyDir: string, logicalId: string): PlannedResource => {
  const s = subject(resolver, assemblyDir, logicalId);
  return { logicalId, type: s.type, ...resolver.ids(logicalId), calls: handlerOf(s.type).plan(s) };
};

/** Creates the resource, or updates it in place when it exists. */
export const applyResource = async (
  resolver: TemplateResolver,
  assemblyDir: string,
  logicalId: string,
  call: CallAws,
): Promise<Outcome> => {
  const s = subject(resolver, assemblyDir, logicalId);
  return handlerOf(s.type).apply(s, call);
};

/**
 * The template's active resources, dependencies first (Ref, GetAtt, Sub and DependsOn), in
 * template order otherwise.
 */
export const provisioningOrder = (resolver: TemplateResolver): string[] => {
  const resources = resolver.template.Resources;
  const active = resolver.logicalIds.filter((id) => resolver.isActive(id));
  const dependencies = new Map(
    active.map((id) => {
      const resource = resources[id];
      const dependsOn = resource?.DependsOn === undefined ? [] : [resource.DependsOn].flat();
      const refs = referencedIds(resource?.Properties ?? {});
      return [id, [...new Set([...refs, ...dependsOn])].filter((dep) => dep !== id && dep in resources)];
    }),
  );
  const ordered: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const visit = (id: string) => {
    if (state.get(id) !== undefined) return; // done, or a cycle CloudFormation would reject
    state.set(id, 'visiting');
    for (const dep of dependencies.get(id) ?? []) visit(dep);
    state.set(id, 'done');
    ordered.push(id);
  };
  for (const id of active) visit(id);
  return ordered;
};
