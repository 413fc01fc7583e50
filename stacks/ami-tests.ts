/**
 * AMI tests (issue 5): on `AMI Baked`, TestAmi starts the family's test automation; SSM's
 * status-change event for it reaches TestResult, which tags the image and publishes `AMI Tested`.
 *
 * Declared here: one test document per family with tests (rendered from automation/test-*.yaml),
 * the role the test automations run with (launch a tagged tester from a Bakehouse image, run
 * commands on it, terminate it, nothing else), the two functions, their rules and dead-letter
 * queues.
 */
import { Rule } from 'aws-cdk-lib/aws-events';
import { Effect, PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { renderTestDocument } from '../automation/test-documents';
import { TEST_DOCUMENT_BASE_PREFIX, TESTER_ROLE, testDocumentBaseName } from '../functions/commons/ami-tests';
import { TERMINAL_STATUSES } from '../functions/commons/automation-status';
import { Tag } from '../functions/commons/bake-plan';
import { DetailType, SSM_AUTOMATION_STATUS_DETAIL_TYPE, SSM_EVENT_SOURCE } from '../functions/commons/events';
import type { BakehouseConfig } from '../functions/commons/families';
import type { Arns } from './arns';
import { instanceRoleArnsOf, kmsKeysOf, kmsViaEc2Statements, startAutomationStatements } from './automation-role';
import { suppress, wildcardFindings } from './nag';
import { AmiTestFunction } from './names';
import { lambdaTarget, type PipelineContext, pascal, retryAsyncInto } from './pipeline-context';

/** The command documents the check steps run. */
const CHECK_COMMAND_DOCUMENTS = ['AWS-RunPowerShellScript', 'AWS-RunShellScript'] as const;

/** Tag keys the functions may write on images, and only these. */
const TEST_TAG_KEYS = [Tag.Tested, Tag.TestExecution, Tag.TestedAt];

/** The families that have checks, and so a test document. */
export const testedFamilies = (config: BakehouseConfig) => config.families.filter((family) => family.tests.length > 0);

const testerTag = { [`aws:ResourceTag/${Tag.Role}`]: TESTER_ROLE };

interface TestAutomationRoleInput {
  readonly arns: Arns;
  /** The configuration; only its families with tests matter. */
  readonly config: BakehouseConfig;
  /** Roles of the instance profiles testers launch with. */
  readonly testerRoleArns: readonly string[];
  readonly region: string;
}

/** What a test automation may do: launch a tagged tester from a Bakehouse image, command it, terminate it. */
const testAutomationRoleStatements = ({
  arns,
  config,
  testerRoleArns,
  region,
}: TestAutomationRoleInput): PolicyStatement[] => {
  const families = testedFamilies(config);
  const subnets = [...new Set(families.map((f) => f.builder.subnetId))].sort();
  const securityGroups = [...new Set(families.flatMap((f) => f.builder.securityGroupIds))].sort();
  const statements = [
    new PolicyStatement({
      sid: 'LaunchTaggedTester',
      effect: Effect.ALLOW,
      actions: ['ec2:RunInstances'],
      resources: [arns.ec2('instance/*'), arns.ec2('volume/*')],
      conditions: {
        StringEquals: { [`aws:RequestTag/${Tag.Role}`]: TESTER_ROLE, [`aws:RequestTag/${Tag.Managed}`]: 'true' },
      },
    }),
    new PolicyStatement({
      sid: 'LaunchFromBakehouseImages',
      effect: Effect.ALLOW,
      actions: ['ec2:RunInstances'],
      resources: [arns.ec2Unowned('image/*')],
      conditions: { StringEquals: { [`aws:ResourceTag/${Tag.Managed}`]: 'true' } },
    }),
    new PolicyStatement({
      sid: 'LaunchTesterInto',
      effect: Effect.ALLOW,
      actions: ['ec2:RunInstances'],
      resources: [
        arns.ec2('network-interface/*'),
        ...subnets.map((id) => arns.ec2(`subnet/${id}`)),
        ...securityGroups.map((id) => arns.ec2(`security-group/${id}`)),
      ],
    }),
    new PolicyStatement({
      sid: 'TagOnlyWhileLaunching',
      effect: Effect.ALLOW,
      actions: ['ec2:CreateTags'],
      resources: [arns.ec2('instance/*'), arns.ec2('volume/*')],
      conditions: { StringEquals: { 'ec2:CreateAction': 'RunInstances' } },
    }),
    new PolicyStatement({
      sid: 'TerminateTesters',
      effect: Effect.ALLOW,
      actions: ['ec2:TerminateInstances'],
      resources: [arns.ec2('instance/*')],
      conditions: { StringEquals: testerTag },
    }),
    // As for the bake automation (automation-role.ts, FollowCommands): aws:changeInstanceState and
    // aws:runCommand read instance and command status on the role's behalf, through APIs the action
    // reference does not name; the read-only ones are granted, and some show as unused in the report.
    new PolicyStatement({
      sid: 'DescribeInstances',
      effect: Effect.ALLOW,
      actions: ['ec2:DescribeInstanceStatus', 'ec2:DescribeInstances'],
      resources: ['*'],
    }),
    new PolicyStatement({
      sid: 'RunCheckDocuments',
      effect: Effect.ALLOW,
      actions: ['ssm:SendCommand'],
      resources: CHECK_COMMAND_DOCUMENTS.map((name) => arns.awsDocument(name)),
    }),
    new PolicyStatement({
      sid: 'RunChecksOnTesters',
      effect: Effect.ALLOW,
      actions: ['ssm:SendCommand'],
      resources: [arns.ec2('instance/*')],
      conditions: { StringEquals: { [`ssm:resourceTag/${Tag.Role}`]: TESTER_ROLE } },
    }),
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
      sid: 'PassTesterRole',
      effect: Effect.ALLOW,
      actions: ['iam:PassRole'],
      resources: [...testerRoleArns],
      conditions: { StringEquals: { 'iam:PassedToService': 'ec2.amazonaws.com' } },
    }),
  ];
  // Images carry the family's KMS key on their snapshots: the tester's volumes are made from them.
  statements.push(
    ...kmsViaEc2Statements({
      keys: kmsKeysOf({ ...config, families }, arns),
      arns,
      region,
      sid: 'DecryptImages',
      actions: ['kms:CreateGrant', 'kms:Decrypt', 'kms:DescribeKey', 'kms:GenerateDataKeyWithoutPlaintext'],
    }),
  );
  return statements;
};

export const addAmiTests = (context: PipelineContext): void => {
  const { stack, config, names, arns, bus } = context;
  const tested = testedFamilies(config);
  const documentPrefix = names.document(TEST_DOCUMENT_BASE_PREFIX);

  // --- one test document per family with tests --------------------------------------------------
  const documentNames = tested.map((family) => {
    const name = names.document(testDocumentBaseName(family.name));
    const rendered = renderTestDocument(family, family.os, context.app.stage);
    new CfnDocument(stack, `Test${pascal(family.name)}Document`, {
      name,
      documentType: 'Automation',
      documentFormat: 'YAML',
      content: rendered.document,
      updateMethod: 'NewVersion',
    });
    return name;
  });

  // --- the role test automations run with ---------------------------------------------------------
  const testAutomationRole = new Role(stack, 'TestAutomationRole', {
    assumedBy: new ServicePrincipal('ssm.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: { 'aws:SourceArn': arns.automationExecutions() },
      },
    }),
    description: 'Bakehouse test automations: launch, command and terminate tagged testers',
  });
  const kmsAliases = kmsKeysOf({ ...config, families: tested }, arns).aliases;
  for (const statement of testAutomationRoleStatements({
    arns,
    config,
    // Tested families may launch testers with their own instance profile: its role's ARN is in the configuration.
    testerRoleArns: [context.builderRole.roleArn, ...instanceRoleArnsOf(tested, stack.account)],
    region: stack.region,
  })) {
    testAutomationRole.addToPolicy(statement);
  }
  suppress(testAutomationRole, [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'Testers, their volumes and network interfaces get their ids at launch and the image under test is new each time: these ARNs cannot be named ahead. Launching requires the tester request tags and a bakehouse:managed=true image, CreateTags only works while launching (ec2:CreateAction), termination and commands require bakehouse:role=tester on the instance, and Describe*/List*/GetCommandInvocation support no resource-level permissions.',
      appliesTo: wildcardFindings(stack, [
        '*',
        arns.ec2('instance/*'),
        arns.ec2('volume/*'),
        arns.ec2('network-interface/*'),
        arns.ec2Unowned('image/*'),
        ...(kmsAliases.length > 0 ? [arns.kmsKey('*')] : []),
      ]),
    },
  ]);

  // --- functions -----------------------------------------------------------------------------------
  const readImages = new PolicyStatement({
    sid: 'ReadImages',
    effect: Effect.ALLOW,
    actions: ['ec2:DescribeImages'],
    resources: ['*'],
  });
  const tagTestStatus = new PolicyStatement({
    sid: 'TagTestStatus',
    effect: Effect.ALLOW,
    actions: ['ec2:CreateTags'],
    resources: [arns.ec2Unowned('image/*')],
    conditions: {
      StringEquals: { [`aws:ResourceTag/${Tag.Managed}`]: 'true' },
      'ForAllValues:StringEquals': { 'aws:TagKeys': TEST_TAG_KEYS },
    },
  });
  const imageWildcardReason =
    'ec2:DescribeImages supports no resource-level permissions; the image under test is new with every bake, so tagging is on image/* limited to bakehouse:managed=true images and to the three test tag keys (aws:TagKeys).';
  const startStatements =
    documentNames.length > 0
      ? startAutomationStatements({
          arns,
          documentNames,
          roleArn: testAutomationRole.roleArn,
          sids: { start: 'StartTestAutomation', tag: 'TagTestAutomation', pass: 'PassTestAutomationRole' },
        })
      : [];
  const testAmi = context.addFunction(AmiTestFunction.TestAmi, {
    handler: 'functions/test-ami/handler.handler',
    description: 'AMI Baked rule target: starts the family test automation (or passes a family without tests)',
    environment: {
      TEST_DOCUMENT_PREFIX: documentPrefix,
      TEST_AUTOMATION_ROLE_ARN: testAutomationRole.roleArn,
      TESTER_INSTANCE_PROFILE: context.builderProfileName,
    },
    statements: [readImages, tagTestStatus, ...startStatements, context.publishEvents],
    wildcards: {
      resources: [
        arns.ec2Unowned('image/*'),
        ...(documentNames.length > 0
          ? [arns.automationExecutions(), ...documentNames.map((name) => arns.automationDefinition(name))]
          : []),
      ],
      reason: `${imageWildcardReason} Automation executions get their ids at start (tags are written while starting); an automation definition ARN ends in its version (:$DEFAULT, :$LATEST, :n) of the one deployed test document.`,
    },
  });
  const amiBakedDlq = context.addDeadLetterQueue('AmiBakedTestsDlq');
  const testAmiFailures = context.addDeadLetterQueue('TestAmiFailures');
  retryAsyncInto(testAmi, testAmiFailures);
  new Rule(stack, 'AmiBakedTests', {
    eventBus: bus,
    description: 'New images: TestAmi starts their test automation',
    eventPattern: { source: [config.settings.eventSource], detailType: [DetailType.AmiBaked] },
    targets: [lambdaTarget(testAmi, amiBakedDlq)],
  });

  if (documentNames.length === 0) return;

  const testResult = context.addFunction(AmiTestFunction.TestResult, {
    handler: 'functions/test-result/handler.handler',
    description: 'Test automation status-change target: tags the image tested=passed|failed, publishes AMI Tested',
    environment: { TEST_DOCUMENT_PREFIX: documentPrefix },
    statements: [
      new PolicyStatement({
        sid: 'ReadTestAutomation',
        effect: Effect.ALLOW,
        actions: ['ssm:DescribeAutomationStepExecutions', 'ssm:GetAutomationExecution'],
        resources: [arns.automationExecutions()],
      }),
      readImages,
      tagTestStatus,
      context.publishEvents,
    ],
    wildcards: {
      resources: [arns.ec2Unowned('image/*'), arns.automationExecutions()],
      reason: `${imageWildcardReason} Automation execution ids are only known when the status-change event arrives.`,
    },
  });
  const statusDlq = context.addDeadLetterQueue('TestAutomationEventsDlq');
  const testResultFailures = context.addDeadLetterQueue('TestResultFailures');
  retryAsyncInto(testResult, testResultFailures);
  new Rule(stack, 'TestAutomationStatusChanged', {
    description: 'SSM test automations that ended: TestResult records the result',
    eventPattern: {
      source: [SSM_EVENT_SOURCE],
      detailType: [SSM_AUTOMATION_STATUS_DETAIL_TYPE],
      detail: { Definition: documentNames, Status: [...TERMINAL_STATUSES] },
    },
    targets: [lambdaTarget(testResult, statusDlq)],
  });
};
