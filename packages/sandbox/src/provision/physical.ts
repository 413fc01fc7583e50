/**
 * Physical ids as CloudFormation gives them: the explicit name property when the template sets
 * one, otherwise a generated `<stack>-<logicalId>-<SUFFIX>` (truncated to the type's maximum
 * length), and what `Ref` and `Fn::GetAtt` return for each type, with ARNs in each service's
 * format.
 *
 * CloudFormation's suffix is random; here it is derived from the stack name and logical id, so
 * provisioning the same template twice lands on the same names.
 */
import { createHash } from 'node:crypto';

export interface StackEnvironment {
  readonly account: string;
  readonly region: string;
  readonly stackName: string;
  /** Default `aws`. */
  readonly partition?: string;
  /** Default `amazonaws.com`. */
  readonly urlSuffix?: string;
}

/** What a rule sees of one resource: its (resolved) name and properties. */
export interface NamedResource {
  readonly logicalId: string;
  /** The explicit name, or the generated one. */
  readonly name: string;
  /** Resolved properties (only the few that shape ids are read). */
  readonly property: (name: string) => unknown;
  readonly env: Required<StackEnvironment>;
}

interface TypeRule {
  /** The property that names the resource. */
  readonly nameProperty?: string;
  /** The generated name when the property is absent. */
  readonly generate?: (logicalId: string, env: Required<StackEnvironment>) => string;
  /** What `Ref` returns (default: the name). */
  readonly ref?: (resource: NamedResource) => string;
  /** `Fn::GetAtt` attributes. */
  readonly attributes?: Readonly<Record<string, (resource: NamedResource) => string>>;
}

const SUFFIX_ALPHABET = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789';

/** A stable, CloudFormation-looking suffix: 12 upper-case letters and digits. */
export const physicalSuffix = (stackName: string, logicalId: string, length = 12): string => {
  const digest = createHash('sha256').update(`${stackName}/${logicalId}`).digest();
  return Array.from(digest.subarray(0, length), (byte) => SUFFIX_ALPHABET[byte % SUFFIX_ALPHABET.length]).join('');
};

/** `<stack>-<logicalId>-<SUFFIX>`, the stack and logical id cut so the whole fits `maxLength`. */
export const generatedName = (stackName: string, logicalId: string, maxLength: number): string => {
  const suffix = physicalSuffix(stackName, logicalId);
  const room = maxLength - suffix.length - 2;
  if (stackName.length + logicalId.length <= room) return `${stackName}-${logicalId}-${suffix}`;
  const stackPart = stackName.slice(0, Math.max(Math.ceil(room / 2), room - logicalId.length));
  return `${stackPart}-${logicalId.slice(0, room - stackPart.length)}-${suffix}`;
};

const stackScoped =
  (maxLength: number) =>
  (logicalId: string, env: Required<StackEnvironment>): string =>
    generatedName(env.stackName, logicalId, maxLength);

const arn = (r: NamedResource, service: string, resource: string, regional = true): string =>
  `arn:${r.env.partition}:${service}:${regional ? r.env.region : ''}:${r.env.account}:${resource}`;

const lastSegment = (value: unknown, marker: string): string | undefined =>
  typeof value === 'string' ? (value.includes(marker) ? value.slice(value.lastIndexOf(marker) + 1) : value) : undefined;

const iamPath = (r: NamedResource): string => {
  const path = r.property('Path');
  return typeof path === 'string' ? path : '/';
};

/** The bus a rule is on, by name (the property may hold a name or an ARN). */
const ruleBus = (r: NamedResource): string => lastSegment(r.property('EventBusName'), '/') ?? 'default';

const RULES: Readonly<Record<string, TypeRule>> = {
  'AWS::Events::EventBus': {
    nameProperty: 'Name',
    attributes: { Arn: (r) => arn(r, 'events', `event-bus/${r.name}`), Name: (r) => r.name },
  },
  'AWS::Events::EventBusPolicy': { nameProperty: 'StatementId' },
  'AWS::Events::Rule': {
    nameProperty: 'Name',
    generate: stackScoped(64),
    // Ref of a rule on a custom bus is `bus|rule`, as CloudFormation returns it.
    ref: (r) => (ruleBus(r) === 'default' ? r.name : `${ruleBus(r)}|${r.name}`),
    attributes: {
      Arn: (r) => arn(r, 'events', `rule/${ruleBus(r) === 'default' ? '' : `${ruleBus(r)}/`}${r.name}`),
    },
  },
  'AWS::Scheduler::ScheduleGroup': {
    nameProperty: 'Name',
    generate: stackScoped(64),
    attributes: { Arn: (r) => arn(r, 'scheduler', `schedule-group/${r.name}`) },
  },
  'AWS::Scheduler::Schedule': {
    nameProperty: 'Name',
    generate: stackScoped(64),
    attributes: {
      Arn: (r) => arn(r, 'scheduler', `schedule/${lastSegment(r.property('GroupName'), '/') ?? 'default'}/${r.name}`),
    },
  },
  'AWS::StepFunctions::StateMachine': {
    nameProperty: 'StateMachineName',
    generate: (logicalId, env) => `${logicalId.slice(0, 66)}-${physicalSuffix(env.stackName, logicalId)}`,
    ref: (r) => arn(r, 'states', `stateMachine:${r.name}`),
    attributes: {
      Arn: (r) => arn(r, 'states', `stateMachine:${r.name}`),
      Name: (r) => r.name,
      StateMachineRevisionId: (r) => arn(r, 'states', `stateMachine:${r.name}`),
    },
  },
  'AWS::SSM::Document': { nameProperty: 'Name', generate: stackScoped(128) },
  'AWS::SSM::Parameter': {
    nameProperty: 'Name',
    generate: (logicalId, env) => `CFN-${logicalId}-${physicalSuffix(env.stackName, logicalId)}`,
    attributes: { Type: (r) => String(r.property('Type')), Value: (r) => String(r.property('Value')) },
  },
  'AWS::SecretsManager::Secret': {
    nameProperty: 'Name',
    generate: (logicalId, env) => `${logicalId}-${physicalSuffix(env.stackName, logicalId)}`,
    // Secrets Manager appends its own six characters; provisioning replaces this with the real ARN.
    ref: (r) => arn(r, 'secretsmanager', `secret:${r.name}-${physicalSuffix(r.env.stackName, r.logicalId, 6)}`),
    attributes: {
      Id: (r) => arn(r, 'secretsmanager', `secret:${r.name}-${physicalSuffix(r.env.stackName, r.logicalId, 6)}`),
    },
  },
  'AWS::Lambda::Function': {
    nameProperty: 'FunctionName',
    generate: stackScoped(64),
    attributes: { Arn: (r) => arn(r, 'lambda', `function:${r.name}`) },
  },
  'AWS::Lambda::Permission': { generate: stackScoped(100) },
  'AWS::IAM::Role': {
    nameProperty: 'RoleName',
    generate: stackScoped(64),
    attributes: {
      Arn: (r) => arn(r, 'iam', `role${iamPath(r)}${r.name}`, false),
      RoleId: (r) => `AROA${physicalSuffix(r.env.stackName, r.logicalId, 17)}`,
    },
  },
  'AWS::IAM::ManagedPolicy': {
    nameProperty: 'ManagedPolicyName',
    generate: stackScoped(128),
    ref: (r) => arn(r, 'iam', `policy${iamPath(r)}${r.name}`, false),
    attributes: { PolicyArn: (r) => arn(r, 'iam', `policy${iamPath(r)}${r.name}`, false) },
  },
  'AWS::IAM::InstanceProfile': {
    nameProperty: 'InstanceProfileName',
    generate: stackScoped(128),
    attributes: { Arn: (r) => arn(r, 'iam', `instance-profile${iamPath(r)}${r.name}`, false) },
  },
  'AWS::Logs::LogGroup': {
    nameProperty: 'LogGroupName',
    generate: stackScoped(512),
    attributes: { Arn: (r) => arn(r, 'logs', `log-group:${r.name}:*`) },
  },
  'AWS::SQS::Queue': {
    nameProperty: 'QueueName',
    generate: (logicalId, env) => generatedName(env.stackName, logicalId, 80),
    ref: (r) => `https://sqs.${r.env.region}.${r.env.urlSuffix}/${r.env.account}/${r.name}`,
    attributes: {
      Arn: (r) => arn(r, 'sqs', r.name),
      QueueName: (r) => r.name,
      QueueUrl: (r) => `https://sqs.${r.env.region}.${r.env.urlSuffix}/${r.env.account}/${r.name}`,
    },
  },
  'AWS::DynamoDB::Table': {
    nameProperty: 'TableName',
    generate: stackScoped(255),
    attributes: { Arn: (r) => arn(r, 'dynamodb', `table/${r.name}`) },
  },
  'AWS::CloudWatch::Alarm': {
    nameProperty: 'AlarmName',
    generate: stackScoped(255),
    attributes: { Arn: (r) => arn(r, 'cloudwatch', `alarm:${r.name}`) },
  },
};

const FALLBACK: TypeRule = { generate: stackScoped(128) };

export const typeRule = (type: string): TypeRule => RULES[type] ?? FALLBACK;

/** The name a resource gets when its template sets none. */
export const defaultName = (
  type: string,
  logicalId: string,
  env: Required<StackEnvironment>,
  property: (name: string) => unknown,
): string => {
  const name = (typeRule(type).generate ?? stackScoped(128))(logicalId, env);
  // A FIFO queue's generated name keeps the suffix SQS requires.
  if (type === 'AWS::SQS::Queue' && (property('FifoQueue') === true || property('FifoQueue') === 'true')) {
    return `${generatedName(env.stackName, logicalId, 75)}.fifo`;
  }
  return name;
};
