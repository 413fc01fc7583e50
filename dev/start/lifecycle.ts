/**
 * The lifecycle `npm start` shows, driven only through AWS APIs and the control endpoint:
 *
 * 1. a scheduled bake: the clock moves to the family's next schedule time and the schedule fires;
 * 2. bakes requested with `Bake Requested` events, as the CLI or another team sends them;
 * 3. the same request again: skipped, nothing changed;
 * 4. a bake whose patch step fails (an injected Run Command fault): `Bake Failed` naming the
 *    step, and no builder instance left behind; then the failed-bake alarm goes into ALARM (its
 *    event emitted as CloudWatch would: alarms are not emulated) and Slack shows it;
 * 5. the canary: the canary channel is seeded with the first image (its canary has no baseline
 *    and is skipped), then one new image holds up against it (pass: the channel moves) and one
 *    whose instances report a regressed metric (a sandbox metric profile) does not (fail: the
 *    channel stays), each with its scorecard and no canary or baseline instance left;
 * 6. a month later, the janitor.
 *
 * Each scenario states what it expects; the run ends with a summary and fails when any
 * expectation did not hold.
 */
import {
  DescribeImagesCommand,
  DescribeInstancesCommand,
  DescribeLaunchTemplatesCommand,
  DescribeLaunchTemplateVersionsCommand,
  EC2Client,
} from '@aws-sdk/client-ec2';
import { EventBridgeClient, PutEventsCommand } from '@aws-sdk/client-eventbridge';
import { InvokeCommand, LambdaClient } from '@aws-sdk/client-lambda';
import { GetParameterCommand, SSMClient } from '@aws-sdk/client-ssm';
import { bakeIdFor } from '../../functions/commons/bake-id';
import { bakeReportOf } from '../../functions/commons/documents';
import type { CanaryJudged } from '../../functions/commons/events';
import { DetailType } from '../../functions/commons/events';
import type { EmittedServiceEvent } from './alarm';
import type { LoggedEvent } from './render';
import { renderSlackConversation, type SlackCall, shortName } from './render';
import { Watcher } from './watch';

export interface LifecycleOptions {
  readonly endpoint: string;
  readonly region: string;
  readonly busName: string;
  readonly eventSource: string;
  readonly parameterPrefix: string;
  /**
   * The clock moves to the first of these schedules' next firing; every family listed fires
   * within `windowSeconds` after it (for example the two Sunday-morning schedules).
   */
  readonly scheduled: {
    readonly families: readonly string[];
    readonly nextFireMs: (nowMs: number) => Promise<number>;
    /** The first schedule's IANA time zone, to show the firing time as the schedule states it. */
    readonly timezone: string;
  };
  /** Families baked on request (not fired by the schedule above). */
  readonly requested: readonly string[];
  /** The family whose patch step is made to fail. */
  readonly failing: string;
  /**
   * Channels that move on their own (promoteOn baked or tested) per family, and the launch
   * templates registered on each: after the scheduled bakes, the run waits for these promotions.
   */
  readonly promotions: Readonly<
    Record<string, readonly { readonly channel: string; readonly launchTemplates: readonly string[] }[]>
  >;
  /** The deployed janitor function's name. */
  readonly janitorFunction: string;
  /** Families built on a scheduled family's channel: requested once their parent is promoted. */
  readonly children: readonly string[];
  readonly print: (line: string) => void;
  /** Real ms to wait for one bake. */
  readonly bakeTimeoutMs?: number;
  /**
   * The alarm on failed bakes: its name, and the event CloudWatch would put on the default bus
   * when it goes into ALARM at `time` (dev/start/alarm.ts). Emitted after the patch fault.
   */
  readonly failedBakeAlarm?: {
    readonly name: string;
    readonly event: (time: Date, reason: string) => EmittedServiceEvent;
  };
  /**
   * A family's canary channel (promoteOn canary) among the requested families: after its first
   * bake it is seeded, then judged twice, once with `metricName` regressed by `factor`.
   */
  readonly canary?: {
    readonly family: string;
    readonly channel: string;
    /** The CloudWatch metric name the regression profile multiplies (a critical metric's). */
    readonly metricName: string;
    /** The scorecard's name of that metric. */
    readonly metricLabel: string;
    readonly factor: number;
  };
}

export interface Outcome {
  readonly scenario: string;
  readonly family: string;
  readonly expected: string;
  readonly actual: string;
  readonly ok: boolean;
  readonly detail: string;
}

const OUTCOMES: readonly string[] = [DetailType.AmiBaked, DetailType.BakeFailed, DetailType.BakeSkipped];

const control = async (endpoint: string, method: string, path: string, body?: unknown): Promise<unknown> => {
  const response = await fetch(`${endpoint}${path}`, {
    method,
    ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'content-type': 'application/json' } }),
  });
  const text = await response.text();
  if (!response.ok) throw new Error(`${method} ${path} answered ${response.status}: ${text}`);
  return text ? JSON.parse(text) : undefined;
};

/** Waits (real time) until a Slack call the sink accepted mentions `text`. */
const slackMessageWith = async (endpoint: string, text: string, timeoutMs: number): Promise<boolean> => {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const body = (await control(endpoint, 'GET', '/_sandbox/slack/messages').catch(() => ({}))) as {
      messages?: SlackCall[];
    };
    if ((body.messages ?? []).some((call) => call.accepted && JSON.stringify(call.payload).includes(text))) return true;
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  return false;
};

export const runLifecycle = async (options: LifecycleOptions): Promise<Outcome[]> => {
  const clientConfig = {
    endpoint: options.endpoint,
    region: options.region,
    credentials: { accessKeyId: 'sandbox', secretAccessKey: 'sandbox' },
  };
  const events = new EventBridgeClient(clientConfig);
  const ssm = new SSMClient(clientConfig);
  const ec2 = new EC2Client(clientConfig);
  const lambda = new LambdaClient(clientConfig);
  const watcher = new Watcher({ endpoint: options.endpoint, ssm, print: options.print });
  const outcomes: Outcome[] = [];
  const timeout = options.bakeTimeoutMs ?? 60_000;
  watcher.start();

  /** The outcome event of the bake `bakeId`. */
  const outcomeOf = (family: string, bakeId: string): Promise<LoggedEvent> =>
    watcher.waitFor(
      `the outcome of the ${family} bake ${bakeId}`,
      (entry) => OUTCOMES.includes(entry.event['detail-type']) && entry.event.detail.bakeId === bakeId,
      timeout,
    );

  let requests = 0;
  /** Puts a Bake Requested with its own idempotency key; resolves to the bake id StartBake derives from it. */
  const request = async (family: string, extra: Record<string, unknown> = {}): Promise<string> => {
    requests += 1;
    const idempotencyKey = `npm-start:${Date.now()}:${requests}`;
    const result = await events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: options.busName,
            Source: 'cli',
            DetailType: DetailType.BakeRequested,
            Detail: JSON.stringify({
              family,
              reason: 'npm start',
              requestedBy: 'cli:npm-start',
              idempotencyKey,
              ...extra,
            }),
          },
        ],
      }),
    );
    if (result.FailedEntryCount) throw new Error(`PutEvents refused the request: ${JSON.stringify(result.Entries)}`);
    options.print(`put    Bake Requested family=${family}${extra.force ? ' force=true' : ''} on ${options.busName}`);
    return bakeIdFor(family, idempotencyKey);
  };

  const templateImage = async (name: string) => {
    const { LaunchTemplates: [template] = [] } = await ec2.send(
      new DescribeLaunchTemplatesCommand({ LaunchTemplateNames: [name] }),
    );
    const { LaunchTemplateVersions: [version] = [] } = await ec2.send(
      new DescribeLaunchTemplateVersionsCommand({ LaunchTemplateName: name, Versions: ['$Default'] }),
    );
    return { name, version: template?.DefaultVersionNumber, imageId: version?.LaunchTemplateData?.ImageId };
  };

  const lineage = async (amiId: string): Promise<string> => {
    const { Images: [image] = [] } = await ec2.send(new DescribeImagesCommand({ ImageIds: [amiId] }));
    const tags = Object.fromEntries((image?.Tags ?? []).map((t) => [t.Key, t.Value]));
    return `${image?.State ?? 'missing'}, source ${tags['bakehouse:source-ami'] ?? '(no lineage tag)'}, bake key ${(tags['bakehouse:bake-key'] ?? '?').slice(0, 12)}…`;
  };

  const expectBaked = async (scenario: string, family: string, outcome: Promise<LoggedEvent>): Promise<void> => {
    const entry = await outcome;
    const type = entry.event['detail-type'];
    const amiId = String(entry.event.detail.amiId ?? '');
    let detail = type === DetailType.BakeFailed ? String(entry.event.detail.reason) : amiId;
    if (type === DetailType.AmiBaked) {
      const candidate = await ssm
        .send(new GetParameterCommand({ Name: `${options.parameterPrefix}/${family}/candidate` }))
        .then((r) => r.Parameter?.Value);
      const report = bakeReportOf(entry.event.detail.outputs as Record<string, unknown> | undefined);
      const release =
        !report || (report.releaseBefore === null && report.releaseAfter === null)
          ? ''
          : report.releaseBefore === report.releaseAfter
            ? `; release ${report.releaseAfter} (unchanged)`
            : `; release ${report.releaseBefore ?? '?'} → ${report.releaseAfter ?? '?'}`;
      detail = `${amiId} (${await lineage(amiId)}; candidate → ${candidate ?? 'unset'}${release})`;
    }
    outcomes.push({
      scenario,
      family,
      expected: DetailType.AmiBaked,
      actual: type,
      ok: type === DetailType.AmiBaked,
      detail,
    });
  };

  /** The Canary Judged of the canary of `amiId`. */
  const canaryOf = (amiId: string): Promise<LoggedEvent> =>
    watcher.waitFor(
      `the canary of ${amiId}`,
      (entry) => entry.event['detail-type'] === DetailType.CanaryJudged && entry.event.detail.amiId === amiId,
      timeout,
    );

  /** The AMI Promoted that moved `channel` to `amiId`, or undefined when none came in time. */
  const promotedTo = (channel: string, amiId: string, wait = timeout): Promise<LoggedEvent | undefined> =>
    watcher
      .waitFor(
        `${channel} promoted to ${amiId}`,
        (entry) =>
          entry.event['detail-type'] === DetailType.AmiPromoted &&
          entry.event.detail.amiId === amiId &&
          entry.event.detail.channel === channel,
        wait,
      )
      .catch(() => undefined);

  /** The image a requested bake of `family` made, from its AMI Baked. */
  const bakedImage = async (family: string, bakeId: string): Promise<string | undefined> => {
    const entry = await outcomeOf(family, bakeId);
    return entry.event['detail-type'] === DetailType.AmiBaked ? String(entry.event.detail.amiId) : undefined;
  };

  /** Canary and baseline instances not yet terminated. */
  const pairsLeft = async (): Promise<number> => {
    const { Reservations: reservations = [] } = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:bakehouse:role', Values: ['canary', 'baseline'] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      }),
    );
    return reservations.flatMap((r) => r.Instances ?? []).length;
  };

  const printScorecard = (judged: CanaryJudged): void => {
    const number = (n: number | null, digits = 2) => (n === null ? '-' : n.toFixed(digits));
    options.print(
      `canary ${judged.canaryId}: ${judged.verdict}${judged.score === null ? '' : ` (score ${Math.round(judged.score)})`}: ${judged.reason}`,
    );
    for (const m of judged.metrics) {
      const change = m.change === null ? '-' : `${m.change >= 1 ? '+' : ''}${((m.change - 1) * 100).toFixed(1)} %`;
      options.print(
        `       ${m.name.padEnd(10)} baseline ${number(m.baselineMedian).padStart(8)}  canary ${number(m.canaryMedian).padStart(8)}  ${change.padStart(9)}  p ${number(m.pValue, 4)}  ${m.classification}${m.critical ? ' (critical)' : ''}`,
      );
    }
  };

  const canaryScenarios = async (canary: NonNullable<LifecycleOptions['canary']>): Promise<void> => {
    const { family, channel } = canary;
    const parameter = `${options.parameterPrefix}/${family}/${channel}`;
    const channelImage = () =>
      ssm
        .send(new GetParameterCommand({ Name: parameter }))
        .then((r) => r.Parameter?.Value)
        .catch(() => undefined);
    options.print(
      `\n== 5. Canary: ${family}'s ${channel} moves only when a new image holds up against the current one`,
    );

    // The first image has nothing to compare with: its canary is skipped, and an operator seeds the channel.
    const first = /^ami-[0-9a-f]+/.exec(
      outcomes.find((o) => o.family === family && o.scenario === 'requested' && o.ok)?.detail ?? '',
    )?.[0];
    if (!first) {
      outcomes.push({
        scenario: 'canary',
        family,
        expected: 'a first image to seed the channel with',
        actual: 'no image',
        ok: false,
        detail: `the requested ${family} bake did not end with AMI Baked`,
      });
      return;
    }
    const skipped = (await canaryOf(first)).event.detail as unknown as CanaryJudged;
    options.print(`canary of the first image: ${skipped.verdict} (${skipped.reason})`);
    await events.send(
      new PutEventsCommand({
        Entries: [
          {
            EventBusName: options.busName,
            Source: 'cli',
            DetailType: DetailType.PromoteRequested,
            Detail: JSON.stringify({
              version: '1.0',
              family,
              channel,
              amiId: first,
              reason: 'npm start: the canary channel starts on the first image',
              requestedBy: 'cli:npm-start',
            }),
          },
        ],
      }),
    );
    options.print(`put    Promote Requested ${family} ${channel} → ${first}`);
    await promotedTo(channel, first);

    // A healthy image: the pairs report alike, the canary passes and Promote moves the channel.
    const healthy = await bakedImage(family, await request(family, { force: true }));
    const passed = healthy ? ((await canaryOf(healthy)).event.detail as unknown as CanaryJudged) : undefined;
    const promoted = healthy ? await promotedTo(channel, healthy) : undefined;
    if (passed) printScorecard(passed);
    outcomes.push({
      scenario: 'canary pass',
      family,
      expected: `Canary Judged pass, ${channel} moved (canary)`,
      actual: passed
        ? `Canary Judged ${passed.verdict}${promoted ? `, ${channel} moved (${String(promoted.event.detail.cause)})` : `, ${channel} not moved`}`
        : 'no image baked',
      ok: passed?.verdict === 'pass' && promoted?.event.detail.cause === 'canary' && (await pairsLeft()) === 0,
      detail: `${parameter} → ${(await channelImage()) ?? 'unset'}; score ${passed?.score ?? '-'}; ${await pairsLeft()} canary instance(s) left`,
    });

    // A regressed image: its instances report the metric × factor (the sandbox's metric profile,
    // set as soon as the image exists, long before the first judgement reads the metrics).
    const bakeId = await request(family, { force: true });
    const regressed = await bakedImage(family, bakeId);
    if (regressed) {
      await control(options.endpoint, 'POST', '/_sandbox/metrics/profiles', {
        imageId: regressed,
        metric: canary.metricName,
        factor: canary.factor,
      });
      options.print(`profile ${regressed} reports ${canary.metricName} × ${canary.factor}`);
    }
    const failed = regressed ? ((await canaryOf(regressed)).event.detail as unknown as CanaryJudged) : undefined;
    if (failed) printScorecard(failed);
    const stayed = await channelImage();
    const named = failed?.metrics.find((m) => m.name === canary.metricLabel);
    outcomes.push({
      scenario: 'canary fail',
      family,
      expected: `Canary Judged fail on ${canary.metricLabel}, ${channel} unchanged`,
      actual: failed
        ? `Canary Judged ${failed.verdict}, ${canary.metricLabel} ${named?.classification ?? 'not judged'}, ${channel} ${stayed === healthy ? 'unchanged' : `→ ${stayed}`}`
        : 'no image baked',
      ok:
        failed?.verdict === 'fail' &&
        named?.classification === 'High' &&
        stayed === healthy &&
        (await promotedTo(channel, regressed ?? '', 0)) === undefined &&
        (await pairsLeft()) === 0,
      detail: `${parameter} → ${stayed ?? 'unset'}; score ${failed?.score ?? '-'}; ${await pairsLeft()} canary instance(s) left`,
    });
    await control(options.endpoint, 'DELETE', '/_sandbox/metrics/profiles');
  };

  try {
    // 1. Scheduled bakes: the clock moves to the schedule time and the schedules fire.
    const clock = (await control(options.endpoint, 'GET', '/_sandbox/clock')) as { now: string };
    const nowMs = Date.parse(clock.now);
    const fireMs = await options.scheduled.nextFireMs(nowMs);
    const local = new Date(fireMs).toLocaleString('en-GB', {
      timeZone: options.scheduled.timezone,
      weekday: 'short',
      year: 'numeric',
      month: 'short',
      day: 'numeric',
      hour: '2-digit',
      minute: '2-digit',
      timeZoneName: 'short',
    });
    options.print(
      `\n== 1. Scheduled bakes: moving the clock from ${clock.now} to ${local} (${options.scheduled.timezone}), when ${options.scheduled.families.join(' and ')} are due`,
    );
    const mark = watcher.events.length;
    await control(options.endpoint, 'POST', '/_sandbox/clock', { advanceSeconds: Math.ceil((fireMs - nowMs) / 1000) });
    await Promise.all(
      options.scheduled.families.map((family) =>
        expectBaked(
          'scheduled',
          family,
          watcher.waitFor(
            `the outcome of the scheduled ${family} bake`,
            (entry) =>
              watcher.events.indexOf(entry) >= mark &&
              OUTCOMES.includes(entry.event['detail-type']) &&
              entry.event.detail.family === family,
            timeout,
          ),
        ),
      ),
    );

    // The fan-out: each new image is tested, and promoted to the channels that move on their own.
    options.print('\n== 1b. Tests and promotions of the scheduled images');
    for (const family of options.scheduled.families) {
      const baked = outcomes.find((o) => o.family === family && o.scenario === 'scheduled');
      const amiId = /^ami-[0-9a-f]+/.exec(baked?.detail ?? '')?.[0];
      if (!amiId) continue;
      for (const { channel, launchTemplates } of options.promotions[family] ?? []) {
        const promoted = await watcher
          .waitFor(
            `${family} promoted to ${channel}`,
            (entry) =>
              entry.event['detail-type'] === DetailType.AmiPromoted &&
              entry.event.detail.amiId === amiId &&
              entry.event.detail.channel === channel,
            timeout,
          )
          .catch(() => undefined);
        const templates = await Promise.all(launchTemplates.map((name) => templateImage(name)));
        const moved = templates.every((t) => t.imageId === amiId);
        outcomes.push({
          scenario: `promoted ${channel}`,
          family,
          expected: `AMI Promoted to ${channel}`,
          actual: promoted ? `AMI Promoted to ${channel} (${String(promoted.event.detail.cause)})` : 'not promoted',
          ok: promoted !== undefined && moved,
          detail: [
            `${options.parameterPrefix}/${family}/${channel} → ${amiId}`,
            ...templates.map((t) => `launch template ${t.name} default v${t.version} → ${t.imageId}`),
          ].join('; '),
        });
      }
    }

    // 2. Requested bakes, as the CLI or another team sends them; families built on a scheduled
    //    family's channel bake now that the channel points at the new image.
    const askFor = [...options.requested, ...options.children];
    options.print(`\n== 2. Bake Requested events for ${askFor.join(', ')}`);
    const requestedIds = await Promise.all(askFor.map((family) => request(family)));
    await Promise.all(
      askFor.map((family, i) => expectBaked('requested', family, outcomeOf(family, requestedIds[i] ?? ''))),
    );

    // 3. The same family again: nothing changed (same source, document and parameters), so skipped.
    const again = options.scheduled.families[0] ?? '';
    options.print(`\n== 3. ${again} again, with nothing changed`);
    const skipped = await outcomeOf(again, await request(again));
    outcomes.push({
      scenario: 'unchanged',
      family: again,
      expected: DetailType.BakeSkipped,
      actual: skipped.event['detail-type'],
      ok: skipped.event['detail-type'] === DetailType.BakeSkipped,
      detail: `existing ${String(skipped.event.detail.amiId ?? '?')}`,
    });

    // 4. A patch failure: the bake fails naming the step and leaves no builder behind.
    options.print(`\n== 4. ${options.failing} with its patch step failing (injected Run Command fault)`);
    await control(options.endpoint, 'POST', '/_sandbox/faults', {
      runCommand: { match: 'security_only=', status: 'Failed' },
      times: 1,
    });
    const failed = await outcomeOf(options.failing, await request(options.failing, { force: true }));
    await control(options.endpoint, 'DELETE', '/_sandbox/faults');
    const { Reservations: reservations = [] } = await ec2.send(
      new DescribeInstancesCommand({
        Filters: [
          { Name: 'tag:bakehouse:role', Values: ['builder'] },
          { Name: 'instance-state-name', Values: ['pending', 'running', 'stopping', 'stopped'] },
        ],
      }),
    );
    const leftOver = reservations.flatMap((r) => r.Instances ?? []).map((i) => i.InstanceId);
    const failedStep = String(failed.event.detail.failedStep ?? '');
    outcomes.push({
      scenario: 'patch fault',
      family: options.failing,
      expected: `${DetailType.BakeFailed} at patchPackages, no builder left`,
      actual: `${failed.event['detail-type']} at ${failedStep || '?'}, ${leftOver.length} builder(s) left`,
      ok: failed.event['detail-type'] === DetailType.BakeFailed && /patch/i.test(failedStep) && leftOver.length === 0,
      detail: String(failed.event.detail.reason ?? ''),
    });

    // 4b. The failed bake sets off its alarm. CloudWatch is not emulated, so its state change is
    //     emitted on the default bus as CloudWatch would put it; the NotifyAlarms rule takes it to Slack.
    if (options.failedBakeAlarm) {
      const { name, event } = options.failedBakeAlarm;
      options.print(`\n== 4b. The alarm ${name} goes into ALARM (CloudWatch's event, emitted as AWS would)`);
      const now = (await control(options.endpoint, 'GET', '/_sandbox/clock')) as { now: string };
      await control(
        options.endpoint,
        'POST',
        '/_sandbox/events/emit',
        event(
          new Date(now.now),
          'Threshold Crossed: 1 out of the last 1 datapoints [1.0] was greater than the threshold (0.0) (minimum 1 datapoint for OK -> ALARM transition).',
        ),
      );
      const delivered = await watcher
        .waitFor(
          `the state change of ${name}`,
          (entry) =>
            entry.event['detail-type'] === 'CloudWatch Alarm State Change' && entry.event.detail.alarmName === name,
          timeout,
        )
        .catch(() => undefined);
      const posted = delivered ? await slackMessageWith(options.endpoint, name, timeout) : false;
      const routes = delivered?.deliveries.map((d) => `${shortName(d.targetArn)} ${d.status}`).join(', ');
      outcomes.push({
        scenario: 'alarm',
        family: name,
        expected: 'ALARM posted to Slack',
        actual: posted ? 'ALARM posted to Slack' : delivered ? 'delivered, not in Slack' : 'not delivered',
        ok: posted,
        detail: routes ? `→ ${routes}` : 'no rule took it',
      });
    }

    // 5. The canary channel: seeded with the first image, then one image passes and one fails.
    if (options.canary) await canaryScenarios(options.canary);

    // The janitor: the clock moves on a month and the janitor runs (in the configured mode).
    options.print(`\n== ${options.canary ? 6 : 5}. A month later: the janitor`);
    await control(options.endpoint, 'POST', '/_sandbox/clock', { advanceSeconds: 30 * 86_400 });
    const janitor = await lambda.send(
      new InvokeCommand({ FunctionName: options.janitorFunction, Payload: new TextEncoder().encode('{}') }),
    );
    const report = JSON.parse(new TextDecoder().decode(janitor.Payload)) as {
      dryRun?: boolean;
      completed?: boolean;
      stoppedBecause?: string | null;
      counts?: Record<string, number>;
      kept?: Record<string, number>;
      errors?: unknown[];
      errorMessage?: string;
    };
    const counts = Object.entries(report.counts ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    const kept = Object.entries(report.kept ?? {})
      .map(([k, v]) => `${k} ${v}`)
      .join(', ');
    outcomes.push({
      scenario: 'janitor',
      family: report.dryRun ? '(dry run)' : '(real run)',
      expected: 'a completed run that deletes nothing in use',
      actual: janitor.FunctionError
        ? `failed: ${report.errorMessage ?? janitor.FunctionError}`
        : report.completed
          ? 'completed'
          : `stopped: ${report.stoppedBecause ?? '?'}`,
      ok: !janitor.FunctionError && report.completed === true && (report.errors ?? []).length === 0,
      detail: `${counts || 'no actions'}; kept: ${kept || 'nothing'}`,
    });

    // Slack: what the notifier sent, as the channel shows it in the end.
    const slack = (await control(options.endpoint, 'GET', '/_sandbox/slack/messages').catch(() => [])) as
      | { messages?: SlackCall[] }
      | SlackCall[];
    const calls = Array.isArray(slack) ? slack : (slack.messages ?? []);
    const conversation = renderSlackConversation(calls);
    options.print(`\n== Slack (${conversation.length} message(s) from ${calls.length} call(s))`);
    for (const message of conversation) options.print(message);
    options.print(
      `\n${watcher.events.length} events accepted; ${watcher.unroutedServiceEvents} AWS service events (EC2 state and automation step changes) matched no rule and are not shown`,
    );
  } finally {
    await watcher.stop().catch(() => undefined);
    for (const client of [events, ssm, ec2, lambda]) client.destroy();
  }
  return outcomes;
};
