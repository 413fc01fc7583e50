/**
 * The bake automation documents (automation/bake-*.yaml), deployed under the stage's names, and
 * the role the automations run with: launch, patch, image and terminate tagged builders, nothing
 * else (automation-role.ts says what that is, statement by statement).
 */
import { Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { CfnDocument } from 'aws-cdk-lib/aws-ssm';
import { type BakeDocument, type BakeOs, loadBakeDocument } from '../automation/documents';
import { automationRoleStatements, instanceRoleArnsOf, kmsKeysOf } from './automation-role';
import { suppress, wildcardFindings } from './nag';
import { type PipelineContext, pascal } from './pipeline-context';

export interface DeployedBakeDocument extends BakeDocument {
  /** The document's name in SSM: `bakehouse-<stage>-bake-<os>`. */
  readonly deployedName: string;
}

export interface BakeAutomation {
  readonly documents: Readonly<Record<BakeOs, DeployedBakeDocument>>;
  /** The deployed names, Linux first. */
  readonly documentNames: readonly string[];
  /** The role the bake automations run with. */
  readonly role: Role;
}

export const addBakeAutomation = (context: PipelineContext): BakeAutomation => {
  const { stack, config, names, arns } = context;

  const deploy = (os: BakeOs): DeployedBakeDocument => {
    const file = loadBakeDocument(os);
    const name = names.document(file.name);
    new CfnDocument(stack, `Bake${pascal(os)}Document`, {
      name,
      documentType: 'Automation',
      documentFormat: 'YAML',
      content: file.document,
      updateMethod: 'NewVersion',
    });
    return { ...file, deployedName: name };
  };
  const documents = { linux: deploy('linux'), windows: deploy('windows') };

  const role = new Role(stack, 'AutomationRole', {
    assumedBy: new ServicePrincipal('ssm.amazonaws.com', {
      conditions: {
        StringEquals: { 'aws:SourceAccount': stack.account },
        ArnLike: { 'aws:SourceArn': arns.automationExecutions() },
      },
    }),
    description: 'Bakehouse bake automations: launch, patch, image and terminate tagged builders',
  });
  for (const statement of automationRoleStatements({
    arns,
    config,
    documents: [documents.linux.document, documents.windows.document],
    // Families may launch with their own instance profile: its role's ARN is in the configuration.
    builderRoleArns: [context.builderRole.roleArn, ...instanceRoleArnsOf(config.families, stack.account)],
    region: stack.region,
  })) {
    role.addToPolicy(statement);
  }
  suppress(role, [
    {
      id: 'AwsSolutions-IAM5',
      reason:
        'Builder instances, volumes, network interfaces, images and snapshots get their ids at launch, and source AMIs change with every patch release: these ARNs cannot be named ahead. Instance actions require the bakehouse:role=builder tag, creation requires the request tags, CreateTags only works while creating (ec2:CreateAction), and Describe*/List*/GetCommandInvocation support no resource-level permissions.',
      appliesTo: wildcardFindings(stack, [
        '*',
        arns.ec2('instance/*'),
        arns.ec2('volume/*'),
        arns.ec2('network-interface/*'),
        arns.ec2Unowned('image/*'),
        arns.ec2Unowned('snapshot/*'),
        ...(kmsKeysOf(config, arns).aliases.length > 0 ? [arns.kmsKey('*')] : []),
      ]),
    },
  ]);

  return { documents, documentNames: [documents.linux.deployedName, documents.windows.deployedName], role };
};
