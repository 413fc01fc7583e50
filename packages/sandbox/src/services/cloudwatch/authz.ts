/**
 * Which resources CloudWatch's metric actions authorize (Service Authorization Reference,
 * "Actions, resources, and condition keys for Amazon CloudWatch"): GetMetricData, ListMetrics and
 * PutMetricData name no required resource type, so they are authorized on `*`; PutMetricData sets
 * `cloudwatch:namespace` to the request's namespace (CloudWatch User Guide, "Using condition keys
 * to limit access to CloudWatch namespaces").
 */
import type { AuthzMapper } from '../../service';

type Input = Record<string, unknown>;

export const cloudWatchAuthz: Readonly<Record<string, AuthzMapper<Input>>> = {
  GetMetricData: () => [{ action: 'cloudwatch:GetMetricData', resource: '*' }],
  ListMetrics: () => [{ action: 'cloudwatch:ListMetrics', resource: '*' }],
  PutMetricData: (input) =>
    typeof input.Namespace === 'string'
      ? [{ action: 'cloudwatch:PutMetricData', resource: '*', context: { 'cloudwatch:namespace': input.Namespace } }]
      : [{ action: 'cloudwatch:PutMetricData', resource: '*' }],
};
