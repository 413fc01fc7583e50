/**
 * What the bake automation documents may do, and nothing else: launch a tagged builder from the
 * configured subnets and security groups, run commands on it, stop it, image it, terminate it.
 * Every EC2 action that changes an existing instance is limited to instances tagged as builders;
 * tags can only be written while creating (RunInstances, CreateImage), so nothing can tag its
 * way into that condition.
 */
import { Token } from 'aws-cdk-lib';
import { Effect, PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { BUILDER_ROLE, Tag } from '../functions/commons/bake-plan';
import { ConfigError } from '../functions/commons/errors';
import type { BakehouseConfig, Family } from '../functions/commons/families';
import type { Arns } from './arns';

/** The SSM command documents (`aws:runCommand` steps) an automation document runs. */
export const commandDocumentsOf = (document: unknown): string[] => {
  const steps = (document as { mainSteps?: unknown } | null)?.mainSteps;
  if (!Array.isArray(steps)) return [];
  const names = steps
    .filter((step): step is { action: string; inputs?: { DocumentName?: unknown } } => {
      return typeof step === 'object' && step !== null && (step as { action?: unknown }).action === 'aws:runCommand';
    })
    .map((step) => step.inputs?.DocumentName)
    .filter((name): name is string => typeof name === 'string');
  return [...new Set(names)].sort();
};

/** AWS managed EBS key: its key policy already admits every principal of the account through EC2. */
const isAwsManagedEbsKey = (keyId: string): boolean => /(^|:)alias\/aws\/ebs$/.test(keyId);

export interface KmsKeyGrants {
  /** Keys named by id or ARN. */
  readonly keyArns: readonly string[];
  /** Keys named by alias (`alias/name`), matched with `kms:ResourceAliases`. */
  readonly aliases: readonly string[];
}

/** The customer managed KMS keys the families encrypt builder and image volumes with. */
export const kmsKeysOf = (config: BakehouseConfig, arns: Pick<Arns, 'kmsKey'>): KmsKeyGrants => {
  const keyArns = new Set<string>();
  const aliases = new Set<string>();
  for (const family of config.families) {
    const { encryptVolumes, kmsKeyId } = family.builder;
    if (!encryptVolumes || isAwsManagedEbsKey(kmsKeyId)) continue;
    const alias = /(?:^|:)(alias\/.+)$/.exec(kmsKeyId)?.[1];
    if (alias) aliases.add(alias);
    else if (kmsKeyId.startsWith('arn:')) keyArns.add(kmsKeyId);
    else keyArns.add(arns.kmsKey(kmsKeyId));
  }
  return { keyArns: [...keyArns].sort(), aliases: [...aliases].sort() };
};

/**
 * The roles of the families' own builder instance profiles, each once, sorted: the ARNs the
 * configuration gives (`builder.instanceRoleArn`), never derived from a profile's name. Launching
 * with an instance profile takes `iam:PassRole` on the role inside it (EC2 User Guide, "Grant
 * permissions to attach an IAM role to an instance",
 * https://docs.aws.amazon.com/AWSEC2/latest/UserGuide/permission-to-pass-iam-roles.html), and a
 * profile and its role are separate IAM entities that may carry different names (IAM User Guide,
 * "Use instance profiles", https://docs.aws.amazon.com/IAM/latest/UserGuide/instance-profiles.html).
 */
export const instanceRoleArnsOf = (families: readonly Family[], account: string): string[] => {
  // A role can be passed only to a service of its own account (IAM User Guide, "Grant a user
  // permissions to pass a role to an AWS service",
  // https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_passrole.html), and EC2 launches
  // only with an instance profile of the instance's account: a role elsewhere can never work.
  const problems = Token.isUnresolved(account)
    ? []
    : families.flatMap((family) => {
        const arn = family.builder.instanceRoleArn;
        const roleAccount = arn?.split(':')[4];
        return roleAccount === undefined || roleAccount === account
          ? []
          : [
              `family '${family.name}': builder.instanceRoleArn: the role is in account ${roleAccount}, but Bakehouse deploys to account ${account}, where builders launch and where the instance profile and its role must be. Fix: give the ARN of the role in instance profile '${family.builder.instanceProfile}' of account ${account}`,
            ];
      });
  if (problems.length > 0) throw new ConfigError(problems);
  return [...new Set(families.flatMap((f) => (f.builder.instanceRoleArn ? [f.builder.instanceRoleArn] : [])))].sort();
};

export interface AutomationRoleInput {
  readonly arns: Arns;
  readonly config: BakehouseConfig;
  /** The parsed bake documents, to find the command documents they run. */
  readonly documents: readonly unknown[];
  /** Roles of the instance profiles builders launch with. */
  readonly builderRoleArns: readonly string[];
  readonly region: string;
}

const builderTag = { [`aws:ResourceTag/${Tag.Role}`]: BUILDER_ROLE };

export const automationRoleStatements = ({
  arns,
  config,
  documents,
  builderRoleArns,
  region,
}: AutomationRoleInput): PolicyStatement[] => {
  const subnets = [...new Set(config.families.map((f) => f.builder.subnetId))].sort();
  const securityGroups = [...new Set(config.families.flatMap((f) => f.builder.securityGroupIds))].sort();
  const commandDocuments = [...new Set(documents.flatMap(commandDocumentsOf))].sort();
  const statements = [
    new PolicyStatement({
      sid: 'LaunchTaggedBuilder',
      effect: Effect.ALLOW,
      actions: ['ec2:RunInstances'],
      resources: [arns.ec2('instance/*'), arns.ec2('volume/*')],
      conditions: {
        StringEquals: { [`aws:RequestTag/${Tag.Role}`]: BUILDER_ROLE, [`aws:RequestTag/${Tag.Managed}`]: 'true' },
      },
    }),
    new PolicyStatement({
      sid: 'LaunchBuilderFrom',
      effect: Effect.ALLOW,
      actions: ['ec2:RunInstances'],
      resources: [
        arns.ec2Unowned('image/*'),
        arns.ec2('network-interface/*'),
        ...subnets.map((id) => arns.ec2(`subnet/${id}`)),
        ...securityGroups.map((id) => arns.ec2(`security-group/${id}`)),
      ],
    }),
    new PolicyStatement({
      sid: 'TagOnlyWhileCreating',
      effect: Effect.ALLOW,
      actions: ['ec2:CreateTags'],
      resources: [
        arns.ec2('instance/*'),
        arns.ec2('volume/*'),
        arns.ec2Unowned('image/*'),
        arns.ec2Unowned('snapshot/*'),
      ],
      conditions: { StringEquals: { 'ec2:CreateAction': ['RunInstances', 'CreateImage'] } },
    }),
    new PolicyStatement({
      sid: 'ManageBuilders',
      effect: Effect.ALLOW,
      // The documents stop and terminate builders, never start them (aws:changeInstanceState).
      actions: ['ec2:StopInstances', 'ec2:TerminateInstances', 'ec2:CreateImage'],
      resources: [arns.ec2('instance/*')],
      conditions: { StringEquals: builderTag },
    }),
    new PolicyStatement({
      sid: 'CreateTaggedImage',
      effect: Effect.ALLOW,
      actions: ['ec2:CreateImage'],
      resources: [arns.ec2Unowned('image/*'), arns.ec2Unowned('snapshot/*')],
      conditions: { StringEquals: { [`aws:RequestTag/${Tag.Managed}`]: 'true' } },
    }),
    new PolicyStatement({
      sid: 'DescribeEc2',
      effect: Effect.ALLOW,
      actions: ['ec2:DescribeImages', 'ec2:DescribeInstanceStatus', 'ec2:DescribeInstances'],
      resources: ['*'],
    }),
    new PolicyStatement({
      sid: 'RunCommandDocuments',
      effect: Effect.ALLOW,
      actions: ['ssm:SendCommand'],
      resources: commandDocuments.map((name) =>
        name.startsWith('AWS-') ? arns.awsDocument(name) : arns.document(name),
      ),
    }),
    new PolicyStatement({
      sid: 'RunCommandsOnBuilders',
      effect: Effect.ALLOW,
      actions: ['ssm:SendCommand'],
      resources: [arns.ec2('instance/*')],
      conditions: { StringEquals: { [`ssm:resourceTag/${Tag.Role}`]: BUILDER_ROLE } },
    }),
    // aws:runCommand and aws:changeInstanceState call these on the role's behalf; the Automation
    // action reference does not say which, so the read-only command and status APIs are granted
    // (wildcard-only, no resource-level permissions). The sandbox uses ListCommandInvocations and
    // DescribeInstances; the least-privilege report lists the others as unused, on purpose.
    new PolicyStatement({
      sid: 'FollowCommands',
      effect: Effect.ALLOW,
      actions: [
        'ssm:DescribeInstanceInformation',
        'ssm:GetCommandInvocation',
        'ssm:ListCommandInvocations',
        'ssm:ListCommands',
      ],
      resources: ['*'],
    }),
    new PolicyStatement({
      sid: 'PassBuilderRole',
      effect: Effect.ALLOW,
      actions: ['iam:PassRole'],
      resources: [...builderRoleArns],
      conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    }),
  ];

  statements.push(
    ...kmsViaEc2Statements({
      keys: kmsKeysOf(config, arns),
      arns,
      region,
      sid: 'EncryptVolumes',
      actions: [
        'kms:CreateGrant',
        'kms:Decrypt',
        'kms:DescribeKey',
        'kms:GenerateDataKeyWithoutPlaintext',
        'kms:ReEncryptFrom',
        'kms:ReEncryptTo',
      ],
    }),
  );
  return statements;
};

/**
 * KMS use through EC2 only (`kms:ViaService`) on the families' keys: by ARN for keys given by id
 * or ARN, by `kms:ResourceAliases` for keys given by alias. `sid` gets `WithKeys` /
 * `WithAliasedKeys` appended.
 */
export const kmsViaEc2Statements = (options: {
  readonly keys: ReturnType<typeof kmsKeysOf>;
  readonly arns: Arns;
  readonly region: string;
  readonly sid: string;
  readonly actions: readonly string[];
}): PolicyStatement[] => {
  const { keys, arns, region, sid, actions } = options;
  const viaEc2 = { 'kms:ViaService': `ec2.${region}.amazonaws.com` };
  const statements: PolicyStatement[] = [];
  if (keys.keyArns.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: `${sid}WithKeys`,
        effect: Effect.ALLOW,
        actions: [...actions],
        resources: [...keys.keyArns],
        conditions: { StringEquals: viaEc2 },
      }),
    );
  }
  if (keys.aliases.length > 0) {
    statements.push(
      new PolicyStatement({
        sid: `${sid}WithAliasedKeys`,
        effect: Effect.ALLOW,
        actions: [...actions],
        resources: [arns.kmsKey('*')],
        conditions: {
          StringEquals: viaEc2,
          'ForAnyValue:StringEquals': { 'kms:ResourceAliases': [...keys.aliases] },
        },
      }),
    );
  }
  return statements;
};

/**
 * What a function that starts automations needs: StartAutomationExecution on the named documents
 * (every version), tagging the executions, and passing the automation's role to SSM only.
 */
export const startAutomationStatements = (options: {
  readonly arns: Arns;
  readonly documentNames: readonly string[];
  readonly roleArn: string;
  readonly sids: { readonly start: string; readonly tag: string; readonly pass: string };
}): PolicyStatement[] => {
  const { arns, documentNames, roleArn, sids } = options;
  return [
    new PolicyStatement({
      sid: sids.start,
      effect: Effect.ALLOW,
      actions: ['ssm:StartAutomationExecution'],
      // The execution it starts is a required resource too (Service Authorization Reference; Systems
      // Manager User Guide, "Setting up identity based policies examples", Example 1): without it
      // StartAutomationExecution is refused and no bake or test starts.
      resources: [
        ...documentNames.flatMap((name) => [arns.automationDefinition(name), arns.document(name)]),
        arns.automationExecutions(),
      ],
    }),
    new PolicyStatement({
      sid: sids.tag,
      effect: Effect.ALLOW,
      actions: ['ssm:AddTagsToResource'],
      resources: [arns.automationExecutions()],
    }),
    new PolicyStatement({
      sid: sids.pass,
      effect: Effect.ALLOW,
      actions: ['iam:PassRole'],
      resources: [roleArn],
      conditions: { StringEquals: { 'iam:PassedToService': 'ssm.amazonaws.com' } },
    }),
  ];
};
