/**
 * cdk-nag suppressions, with their reasons, in one small helper: a suppression without a reason
 * that says why the finding does not apply fails at synth, not in review.
 */
import type { Stack } from 'aws-cdk-lib';
import { NagSuppressions } from 'cdk-nag';
import type { IConstruct } from 'constructs';

export interface Suppression {
  /** The rule, for example `AwsSolutions-IAM5`. */
  readonly id: `AwsSolutions-${string}`;
  /** Why the finding does not apply here; at least a sentence. */
  readonly reason: string;
  /** The findings this covers (for example `Resource::*`); all of the rule's findings when omitted. */
  readonly appliesTo?: readonly string[];
}

const MIN_REASON_LENGTH = 20;

/** Suppresses findings on a construct and its children, insisting on a reason for each. */
export const suppress = (construct: IConstruct, suppressions: readonly Suppression[]): void => {
  for (const { id, reason } of suppressions) {
    if (reason.trim().length < MIN_REASON_LENGTH) {
      throw new Error(
        `cdk-nag suppression ${id} on ${construct.node.path} needs a reason (${MIN_REASON_LENGTH}+ chars)`,
      );
    }
  }
  NagSuppressions.addResourceSuppressions(
    construct,
    suppressions.map(({ id, reason, appliesTo }) =>
      appliesTo ? { id, reason, appliesTo: [...appliesTo] } : { id, reason },
    ),
    true,
  );
};

const flatten = (value: unknown): string => {
  if (typeof value === 'string') return value;
  const record = value as { Ref?: string; 'Fn::Join'?: [string, unknown[]] };
  if (record.Ref) return `<${record.Ref}>`;
  if (record['Fn::Join']) return record['Fn::Join'][1].map(flatten).join(record['Fn::Join'][0]);
  throw new Error(`cannot name the cdk-nag finding of ${JSON.stringify(value)}`);
};

/**
 * The IAM5 findings cdk-nag reports for wildcard resources, as `appliesTo` spells them
 * (`Resource::arn:<AWS::Partition>:ec2:us-east-1::image/*`), from the same ARNs the policies use.
 */
export const wildcardFindings = (stack: Stack, resources: readonly string[]): string[] =>
  resources.map((resource) => `Resource::${flatten(stack.resolve(resource))}`);
