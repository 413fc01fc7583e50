/**
 * CloudWatch alarms are not emulated (the sandbox's provisioning plan lists them as needing none),
 * so nothing in the sandbox ever changes their state. To show what the notifier does with one,
 * `npm start` and the e2e tests build the event CloudWatch would put on the default bus for a real
 * alarm of the synthesized template (its name, description and metric, the dimensions resolved to
 * the provisioned resources) and emit it through the control endpoint as AWS would
 * (`POST /_sandbox/events/emit`). The shape follows the CloudWatch User Guide, "Alarm events and
 * EventBridge" (single metric alarm):
 * https://docs.aws.amazon.com/AmazonCloudWatch/latest/monitoring/cloudwatch-and-eventbridge.html
 */
import type { CfnTemplate } from '@bakehouse/sandbox';

type State = 'OK' | 'ALARM' | 'INSUFFICIENT_DATA';

export interface AlarmEventOptions {
  readonly template: CfnTemplate;
  /** The alarm's name as the template gives it (`AlarmName`). */
  readonly alarmName: string;
  readonly account: string;
  readonly region: string;
  /** Physical ids of provisioned resources by logical id; unresolved references show the logical id. */
  readonly physicalIds?: Readonly<Record<string, string>>;
  readonly state?: State;
  readonly previousState?: State;
  readonly reason: string;
  readonly time: Date;
}

/** What `POST /_sandbox/events/emit` takes. */
export interface EmittedServiceEvent {
  readonly source: string;
  readonly detailType: string;
  readonly detail: Record<string, unknown>;
  readonly resources: string[];
  readonly region: string;
}

const resolve = (value: unknown, physicalIds: Readonly<Record<string, string>>): string => {
  if (typeof value === 'string') return value;
  const node = (value ?? {}) as { Ref?: string; 'Fn::GetAtt'?: [string, string] };
  const logicalId = node.Ref ?? node['Fn::GetAtt']?.[0];
  return logicalId ? (physicalIds[logicalId] ?? logicalId) : JSON.stringify(value);
};

/** CloudWatch's timestamps: `2019-10-02T17:04:40.985+0000`. */
const cloudWatchTime = (time: Date): string => time.toISOString().replace('Z', '+0000');

export const alarmStateChangeFor = (options: AlarmEventOptions): EmittedServiceEvent => {
  const { template, alarmName, account, region, physicalIds = {} } = options;
  const found = Object.entries(template.Resources).find(
    ([, resource]) => resource.Type === 'AWS::CloudWatch::Alarm' && resource.Properties?.AlarmName === alarmName,
  );
  if (!found) throw new Error(`the template has no alarm named ${alarmName}`);
  const [logicalId, resource] = found;
  const p = (resource.Properties ?? {}) as {
    AlarmDescription?: string;
    Namespace?: string;
    MetricName?: string;
    Dimensions?: { Name: string; Value: unknown }[];
    Period?: number;
    Statistic?: string;
  };
  const timestamp = cloudWatchTime(options.time);
  return {
    source: 'aws.cloudwatch',
    detailType: 'CloudWatch Alarm State Change',
    region,
    resources: [`arn:aws:cloudwatch:${region}:${account}:alarm:${alarmName}`],
    detail: {
      alarmName,
      state: { value: options.state ?? 'ALARM', reason: options.reason, timestamp },
      previousState: {
        value: options.previousState ?? 'OK',
        reason:
          'Threshold Crossed: no datapoints were received for 1 period and 1 missing datapoint was treated as [NonBreaching].',
        timestamp,
      },
      configuration: {
        ...(p.AlarmDescription ? { description: p.AlarmDescription } : {}),
        metrics: [
          {
            id: `${logicalId}-m1`,
            metricStat: {
              metric: {
                namespace: p.Namespace,
                name: p.MetricName,
                dimensions: Object.fromEntries(
                  (p.Dimensions ?? []).map((d) => [d.Name, resolve(d.Value, physicalIds)]),
                ),
              },
              period: p.Period,
              stat: p.Statistic,
            },
            returnData: true,
          },
        ],
      },
    },
  };
};
