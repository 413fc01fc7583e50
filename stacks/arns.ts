/**
 * ARNs the IAM policies name, built with the stack's partition, region and account. Kept in one
 * place because the formats differ in small ways that matter: AMIs, snapshots, public SSM
 * parameters and AWS-owned SSM documents carry no account.
 */
import { ArnFormat, type Stack } from 'aws-cdk-lib';

export interface Arns {
  /** An SSM parameter of this account, by its path (`/bakehouse/_locks/*`). */
  parameter(path: string): string;
  /** A public SSM parameter (`/aws/service/...`), which has no account. */
  publicParameter(path: string): string;
  /** An EC2 resource of this account: `instance/*`, `subnet/subnet-...`, `volume/*`... */
  ec2(resource: string): string;
  /** An AMI or an EBS snapshot: `image/*`, `snapshot/*` (no account in the ARN). */
  ec2Unowned(resource: string): string;
  /** An SSM document owned by AWS (`AWS-RunShellScript`), which has no account. */
  awsDocument(name: string): string;
  /** One of this account's SSM documents. */
  document(name: string): string;
  /** The automation definition of a document, every version (`:$DEFAULT`, `:$LATEST`, `:3`). */
  automationDefinition(documentName: string): string;
  /** Every automation execution of this account. */
  automationExecutions(): string;
  /** A state machine by its explicit name. */
  stateMachine(name: string): string;
  /** Every execution of a state machine. */
  stateMachineExecutions(name: string): string;
  /** An IAM role by name. */
  role(name: string): string;
  /** A KMS key by id. */
  kmsKey(id: string): string;
  /**
   * A schedule group: what EventBridge Scheduler sets as `aws:SourceArn` when it assumes a
   * schedule's role (Scheduler User Guide, "Confused deputy prevention": the value is the
   * schedule group's ARN, never a schedule's).
   */
  scheduleGroup(groupName: string): string;
  /**
   * An Auto Scaling group by name, whatever its id: `autoScalingGroup:*:autoScalingGroupName/<name>`
   * (Service Authorization Reference, Amazon EC2 Auto Scaling, resource type autoScalingGroup).
   */
  autoScalingGroup(name: string): string;
}

const withoutLeadingSlash = (path: string): string => path.replace(/^\/+/, '');

export const arnsOf = (stack: Stack): Arns => ({
  parameter: (path) =>
    stack.formatArn({
      service: 'ssm',
      resource: 'parameter',
      resourceName: withoutLeadingSlash(path),
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
  publicParameter: (path) =>
    stack.formatArn({
      service: 'ssm',
      account: '',
      resource: 'parameter',
      resourceName: withoutLeadingSlash(path),
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
  ec2: (resource) => stack.formatArn({ service: 'ec2', resource, arnFormat: ArnFormat.NO_RESOURCE_NAME }),
  ec2Unowned: (resource) =>
    stack.formatArn({ service: 'ec2', account: '', resource, arnFormat: ArnFormat.NO_RESOURCE_NAME }),
  awsDocument: (name) =>
    stack.formatArn({
      service: 'ssm',
      account: '',
      resource: 'document',
      resourceName: name,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
  document: (name) =>
    stack.formatArn({
      service: 'ssm',
      resource: 'document',
      resourceName: name,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
  automationDefinition: (documentName) =>
    stack.formatArn({
      service: 'ssm',
      resource: 'automation-definition',
      resourceName: `${documentName}:*`,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
  automationExecutions: () =>
    stack.formatArn({
      service: 'ssm',
      resource: 'automation-execution',
      resourceName: '*',
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
  stateMachine: (name) =>
    stack.formatArn({
      service: 'states',
      resource: 'stateMachine',
      resourceName: name,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  stateMachineExecutions: (name) =>
    stack.formatArn({
      service: 'states',
      resource: 'execution',
      resourceName: `${name}:*`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
  role: (name) =>
    stack.formatArn({
      service: 'iam',
      region: '',
      resource: 'role',
      resourceName: name,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
  kmsKey: (id) =>
    stack.formatArn({ service: 'kms', resource: 'key', resourceName: id, arnFormat: ArnFormat.SLASH_RESOURCE_NAME }),
  scheduleGroup: (groupName) =>
    stack.formatArn({
      service: 'scheduler',
      resource: 'schedule-group',
      resourceName: groupName,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    }),
  autoScalingGroup: (name) =>
    stack.formatArn({
      service: 'autoscaling',
      resource: 'autoScalingGroup',
      resourceName: `*:autoScalingGroupName/${name}`,
      arnFormat: ArnFormat.COLON_RESOURCE_NAME,
    }),
});
