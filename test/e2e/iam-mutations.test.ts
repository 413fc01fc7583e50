/**
 * Mutation tests of the stacks' permissions: the synthesized template with one grant, one Lambda
 * permission or one condition changed is provisioned into its own sandbox, and the sandbox must
 * refuse exactly where AWS would, with AWS's error, while the lifecycle reports the failure where
 * an operator looks: a Bake Failed naming the step, a failed delivery, a failed schedule firing.
 * The unchanged template is the other half of each test: the lifecycle and contract suites run it
 * with enforcement on and expect no refusal.
 */
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { GetScheduleCommand, SchedulerClient } from '@aws-sdk/client-scheduler';
import type { ProvisionReport } from '@bakehouse/sandbox';
import type { TestSandbox } from '@bakehouse/sandbox/testing';
import { afterEach, describe, expect, it } from 'vitest';
import type { LoggedEvent } from '../../dev/start/render';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { DetailType } from '../../functions/commons/events';
import { eventLog, startProvisionedSandbox, type TemplateJson } from './support/stack';

const BUS = 'bakehouse-dev';
const BUS_ARN = `arn:aws:events:us-east-1:000000000000:event-bus/${BUS}`;
/** Sandbox seconds per real second. */
const SPEED = 1200;
/** The account bakehouse.config.ts lets request bakes (settings.bakeRequestAccounts). */
const TEAM_ACCOUNT = '111122223333';
/** Real milliseconds a test may take: synthesis is cached, a bake takes seconds at SPEED. */
const TIMEOUT_MS = 120_000;

type Statement = { Action?: string | string[]; Condition?: Record<string, unknown>; Sid?: string };

const resourcesOf = (template: TemplateJson, type: string) =>
  Object.entries(template.Resources).filter(([, resource]) => resource.Type === type);

/** Removes `action` from every statement of the role's identity policies (and statements left empty). */
const withoutAction = (template: TemplateJson, rolePrefix: string, action: string): number => {
  let removed = 0;
  for (const [id, resource] of resourcesOf(template, 'AWS::IAM::Policy')) {
    if (!id.startsWith(rolePrefix)) continue;
    const document = (resource.Properties as { PolicyDocument: { Statement: Statement[] } }).PolicyDocument;
    document.Statement = document.Statement.flatMap((statement) => {
      const actions = [statement.Action ?? []].flat();
      if (!actions.includes(action)) return [statement];
      removed += 1;
      const rest = actions.filter((name) => name !== action);
      return rest.length === 0 ? [] : [{ ...statement, Action: rest }];
    });
  }
  return removed;
};

let sandbox: TestSandbox | undefined;
afterEach(async () => {
  await sandbox?.stop();
  sandbox = undefined;
});

const waitFor = async <T>(what: string, probe: () => Promise<T | undefined>, timeoutMs = 60_000): Promise<T> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const found = await probe();
    if (found !== undefined) return found;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  throw new Error(`${what} did not happen within ${timeoutMs} ms`);
};

const requestBake = async (test: TestSandbox, family: string, key: string): Promise<string> => {
  const events = new EventBridgeClient(test.clientConfig);
  try {
    const sent = await events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: BUS,
            Source: 'team.payments',
            DetailType: DetailType.BakeRequested,
            Detail: JSON.stringify({
              family,
              requestedBy: 'team-payments',
              reason: 'mutation test',
              idempotencyKey: key,
            }),
          },
        ],
      }),
    );
    expect(sent.FailedEntryCount).toBe(0);
  } finally {
    events.destroy();
  }
  return bakeIdFor(family, key);
};

interface QueueMessage {
  readonly queueArn: string;
  readonly kind: string;
  readonly body: string;
  /** Scheduler's dead-letter attributes: ERROR_CODE, ERROR_MESSAGE, … (the body is the target's payload). */
  readonly attributes: Record<string, string>;
}

const queueMessages = async (test: TestSandbox): Promise<QueueMessage[]> =>
  (await test.control('GET', '/_sandbox/dlq')).body as QueueMessage[];

describe('permission mutations: the sandbox refuses where AWS would, and the lifecycle says so', () => {
  it(
    "the automation role without ec2:CreateImage: the bake fails at its image step with EC2's UnauthorizedOperation",
    async () => {
      // Prepare
      let removed = 0;
      ({ sandbox } = await startProvisionedSandbox(SPEED, {
        mutate: (template) => {
          removed = withoutAction(template, 'AutomationRoleDefaultPolicy', 'ec2:CreateImage');
        },
      }));
      expect(removed).toBeGreaterThan(0);
      const test = sandbox;

      // Act
      const bakeId = await requestBake(test, 'al2023-base', 'mutation-create-image');
      const outcome = await waitFor('the bake outcome', async () =>
        (await eventLog(test)).find(
          (entry) =>
            entry.event.detail.bakeId === bakeId &&
            [DetailType.AmiBaked, DetailType.BakeFailed].includes(entry.event['detail-type'] as never),
        ),
      );

      // Assess
      expect(outcome.event['detail-type']).toBe(DetailType.BakeFailed);
      expect(String(outcome.event.detail.failedStep)).toMatch(/image/i);
      expect(String(outcome.event.detail.reason)).toMatch(
        /UnauthorizedOperation|not authorized to perform: ec2:CreateImage/,
      );
    },
    TIMEOUT_MS,
  );

  it(
    'StartBake without its Lambda permission for the Bake Requested rule: the delivery fails and nothing bakes',
    async () => {
      // Prepare
      let removed: string[] = [];
      ({ sandbox } = await startProvisionedSandbox(SPEED, {
        mutate: (template) => {
          removed = resourcesOf(template, 'AWS::Lambda::Permission')
            .filter(([id]) => id.startsWith('BakeRequestedAllowEventRule'))
            .map(([id]) => id);
          for (const id of removed) delete template.Resources[id];
        },
      }));
      expect(removed).toHaveLength(1);
      const test = sandbox;

      // Act
      const bakeId = await requestBake(test, 'al2023-base', 'mutation-permission');
      const requested = await waitFor('the failed delivery', async () =>
        (await eventLog(test)).find(
          (entry: LoggedEvent) =>
            entry.event['detail-type'] === DetailType.BakeRequested &&
            entry.deliveries.some(
              (delivery) => delivery.targetArn.includes('StartBake') && delivery.status !== 'delivered',
            ),
        ),
      );

      // Assess
      const delivery = requested.deliveries.find((d) => d.targetArn.includes('StartBake'));
      expect(delivery?.status).toMatch(/failed|dead-letter/);
      expect(JSON.stringify(delivery)).toMatch(/not authorized|AccessDenied/);
      const log = await eventLog(test);
      expect(log.filter((entry) => entry.event.detail.bakeId === bakeId)).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it(
    'the BakeRequestedDlq policy without its Allow for the rule: a Bake Requested whose StartBake delivery keeps failing is lost, and the log says why',
    async () => {
      // Prepare: the queue policy keeps only enforceSSL's Deny
      let removed = 0;
      ({ sandbox } = await startProvisionedSandbox(SPEED, {
        mutate: (template) => {
          for (const [, resource] of resourcesOf(template, 'AWS::SQS::QueuePolicy')) {
            const props = resource.Properties as {
              Queues: { Ref?: string }[];
              PolicyDocument: { Statement: (Statement & { Effect: string })[] };
            };
            if (!props.Queues.some((queue) => queue.Ref?.startsWith('BakeRequestedDlq'))) continue;
            const before = props.PolicyDocument.Statement.length;
            props.PolicyDocument.Statement = props.PolicyDocument.Statement.filter((s) => s.Effect !== 'Allow');
            removed += before - props.PolicyDocument.Statement.length;
          }
        },
      }));
      expect(removed).toBe(1);
      const test = sandbox;
      // Every Lambda Invoke fails for a while: StartBake's rule delivery retries, then gives up.
      await test.control('POST', '/_sandbox/faults', {
        service: 'lambda',
        action: 'Invoke',
        error: 'ServiceException',
        message: 'injected: the function is unavailable',
        status: 500,
        times: 200,
      });

      // Act
      await requestBake(test, 'al2023-base', 'mutation-dlq-policy');
      const requested = await waitFor('the StartBake delivery given up', async () =>
        (await eventLog(test)).find(
          (entry: LoggedEvent) =>
            entry.event['detail-type'] === DetailType.BakeRequested &&
            entry.deliveries.some(
              (delivery) =>
                delivery.targetArn.includes('StartBake') && !['pending', 'delivered'].includes(delivery.status),
            ),
        ),
      );

      // Assess
      const delivery = requested.deliveries.find((d) => d.targetArn.includes('StartBake'));
      expect(delivery?.status).toBe('failed');
      expect(delivery?.error).toMatch(/ServiceException/);
      expect(delivery?.error).toMatch(
        /not sent to the dead-letter queue arn:aws:sqs:us-east-1:000000000000:\S*BakeRequestedDlq\S* \(InvocationsFailedToBeSentToDlq\): User: events\.amazonaws\.com is not authorized to perform: sqs:SendMessage/,
      );
      expect((await queueMessages(test)).filter((message) => message.queueArn.includes('BakeRequestedDlq'))).toEqual(
        [],
      );
    },
    TIMEOUT_MS,
  );

  it(
    'the Scheduler role trusting schedule ARNs instead of the group: the firing fails and lands in the schedule DLQ',
    async () => {
      // Prepare: the trust scoped as it was before the fix (arn:…:schedule/GROUP/*)
      let changed = 0;
      let report: ProvisionReport;
      ({ sandbox, report } = await startProvisionedSandbox(SPEED, {
        schedules: 'keep',
        mutate: (template) => {
          for (const [id, resource] of resourcesOf(template, 'AWS::IAM::Role')) {
            if (!id.startsWith('SchedulerRole')) continue;
            const trust = (resource.Properties as { AssumeRolePolicyDocument: { Statement: Statement[] } })
              .AssumeRolePolicyDocument;
            for (const statement of trust.Statement) {
              const arnEquals = statement.Condition?.ArnEquals as Record<string, unknown> | undefined;
              if (!arnEquals?.['aws:SourceArn']) continue;
              statement.Condition = {
                ...statement.Condition,
                ArnEquals: undefined,
                ArnLike: { 'aws:SourceArn': 'arn:aws:scheduler:us-east-1:000000000000:schedule/*' },
              };
              delete (statement.Condition as Record<string, unknown>).ArnEquals;
              changed += 1;
            }
          }
        },
      }));
      expect(changed).toBe(1);
      const test = sandbox;
      const scheduler = new SchedulerClient(test.clientConfig);
      const group = report.created.find((resource) => resource.type === 'AWS::Scheduler::ScheduleGroup')?.physicalId;
      const schedule = await scheduler.send(new GetScheduleCommand({ Name: 'al2023-base', GroupName: group }));
      scheduler.destroy();
      const dlq = schedule.Target?.DeadLetterConfig?.Arn;
      expect(dlq).toBeDefined();

      // Act: move the clock a day on, past al2023-base's next firing
      await test.control('POST', '/_sandbox/clock', { advanceSeconds: 24 * 3600 });
      const failed = await waitFor('the failed firing in the DLQ', async () =>
        (await queueMessages(test)).find((message) => message.queueArn === dlq),
      );

      // Assess
      expect(failed.attributes.ERROR_CODE).toBe('AccessDeniedException');
      expect(failed.attributes.ERROR_MESSAGE).toMatch(/assume/i);
      const log = await eventLog(test);
      expect(
        log.filter(
          (entry) =>
            entry.event['detail-type'] === DetailType.BakeRequested && entry.event.detail.family === 'al2023-base',
        ),
      ).toEqual([]);
    },
    TIMEOUT_MS,
  );

  it(
    "the bus policy without its detail-type condition: another account's Promote Requested gets through (the contract test refuses it with the real policy)",
    async () => {
      // Prepare
      let changed = 0;
      ({ sandbox } = await startProvisionedSandbox(SPEED, {
        mutate: (template) => {
          for (const [, resource] of resourcesOf(template, 'AWS::Events::EventBusPolicy')) {
            const statement = (resource.Properties as { Statement?: Statement }).Statement;
            if (statement?.Condition) {
              delete statement.Condition;
              changed += 1;
            }
          }
        },
      }));
      expect(changed).toBe(1);
      const client = new EventBridgeClient({
        ...sandbox.clientConfig,
        credentials: { accessKeyId: TEAM_ACCOUNT, secretAccessKey: 'test' },
      });

      // Act
      const sent = await client.send(
        new PutEventsCommand({
          Entries: [
            { EventBusName: BUS_ARN, Source: 'team.payments', DetailType: DetailType.PromoteRequested, Detail: '{}' },
          ],
        }),
      );
      client.destroy();

      // Assess
      expect(sent.Entries?.[0]?.ErrorCode).toBeUndefined();
      expect(sent.Entries?.[0]?.EventId).toBeDefined();
    },
    TIMEOUT_MS,
  );
});
