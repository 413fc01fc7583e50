/**
 * `npm start`: Bakehouse end to end, offline.
 *
 *   npm start -- [--state DIR] [--speed 1200] [--port 0] [--bake-timeout 90] [--iam on|off]
 *                [--eventual-consistency 60] [--report FILE]
 *
 * Starts the sandbox (fresh state in a temporary directory unless --state names one), provisions
 * it from the synthesized stacks (@bakehouse/sandbox provisioning; the assembly is cached in .sandbox/ by a hash
 * of its inputs, the Lambda bundles in .sst/bundle-cache by theirs; the synthesis runs while the
 * sandbox loads and starts), and runs the lifecycle in dev/start/lifecycle.ts with live progress: each
 * event and where it went, each automation step, the AMI ids, Slack messages as text. Ends with a
 * summary; exits 0 when every scenario ended as expected, 1 with the reason otherwise.
 *
 * The sandbox's clock starts on the next Saturday 12:00 UTC (dev/start/plan.ts), so what the
 * schedules fire, and in which order, is the same whatever day the run starts.
 *
 * EC2 is eventually consistent, as on AWS: new instances and images stay unknown to Describe by id
 * (and absent from filtered Describe) for --eventual-consistency sandbox seconds after they are
 * created (default 60, BAKEHOUSE_SANDBOX_EVENTUAL_CONSISTENCY; 0 shows them at once).
 *
 * IAM is enforced as AWS would (`--iam off`, or BAKEHOUSE_SANDBOX_IAM=off, only records what AWS
 * would refuse). Whatever the outcome, the run ends with the least-privilege summary (dev/start/iam.ts)
 * and writes the full report as JSON to --report (default .sandbox/iam-report.json).
 */
import { accessSync, constants, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { assemblyDirFor, synthesizeForSandbox } from '../synth';
import { moveToRunStart, scheduledScenario } from './plan';

const REGION = 'us-east-1';
/** The sandbox's account (DEFAULT_ACCOUNT of @bakehouse/sandbox, checked once it is loaded). */
const ACCOUNT = '000000000000';
const STAGE = 'dev';
const usage =
  'usage: npm start -- [--state DIR] [--speed 1200] [--port 0] [--bake-timeout 90] [--iam on|off] [--eventual-consistency 60] [--report FILE]';

/**
 * Where a temporary state goes: in memory (/dev/shm, tmpfs) where the system has it. The sandbox
 * makes every change durable (fdatasync) before answering, which is waiting, not work, for a
 * state this run deletes at its end: measured, 6.6 s of a run's main thread blocked in fdatasync
 * on disk, none on tmpfs. A --state directory stays where it is named.
 */
const temporaryStateRoot = (): string => {
  try {
    accessSync('/dev/shm', constants.W_OK);
    if (statSync('/dev/shm').isDirectory()) return '/dev/shm';
  } catch {}
  return tmpdir();
};

const elapsed = (since: number): string => `${((performance.now() - since) / 1000).toFixed(1)} s`;

const main = async (): Promise<number> => {
  const { values } = parseArgs({
    options: {
      state: { type: 'string' },
      speed: { type: 'string', default: '1200' },
      port: { type: 'string', default: '0' },
      'bake-timeout': { type: 'string', default: '90' },
      iam: { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_IAM || 'on' },
      'eventual-consistency': { type: 'string', default: process.env.BAKEHOUSE_SANDBOX_EVENTUAL_CONSISTENCY || '60' },
      report: { type: 'string' },
      help: { type: 'boolean', default: false },
    },
    strict: true,
  });
  if (values.help) {
    console.log(usage);
    return 0;
  }
  const speed = Number(values.speed);
  const port = Number(values.port);
  const bakeTimeoutSeconds = Number(values['bake-timeout']);
  if (!Number.isFinite(speed) || speed <= 0) throw new Error(`--speed '${values.speed}' must be a positive number`);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port '${values.port}' is not a port`);
  if (!Number.isFinite(bakeTimeoutSeconds) || bakeTimeoutSeconds <= 0) {
    throw new Error(`--bake-timeout '${values['bake-timeout']}' must be a positive number of seconds`);
  }
  const iam = values.iam;
  if (iam !== 'on' && iam !== 'off') throw new Error(`--iam '${iam}' must be on or off`);
  const hideSeconds = Number(values['eventual-consistency']);
  if (!Number.isFinite(hideSeconds) || hideSeconds < 0) {
    throw new Error(
      `--eventual-consistency '${values['eventual-consistency']}' must be a number of sandbox seconds, 0 or more`,
    );
  }

  const started = performance.now();
  const print = (line: string) => console.log(line);
  // The stacks are synthesized in a child process (or read from the cache) while this process
  // loads the sandbox and the lifecycle and starts the sandbox: the sandbox reads the assembly's
  // assets only when a function runs, after provisioning, so it is given the directory the
  // assembly will be in.
  const stopSynthesis = new AbortController();
  const synthesisOptions = {
    account: ACCOUNT,
    region: REGION,
    signal: stopSynthesis.signal,
    onWait: (lockPath: string) =>
      console.log(`waiting for another process that is synthesizing the same stacks (${lockPath})`),
  };
  const synthesis = synthesizeForSandbox(synthesisOptions);
  synthesis.catch(() => {}); // awaited below; a failure is reported there
  const {
    DEFAULT_ACCOUNT,
    DEFAULT_IAM_REPORT,
    Tag,
    alarmStateChangeFor,
    canaryChannelOf,
    compileSchedule,
    iamReport,
    isDue,
    loadConfig,
    nextFiring,
    printSummary,
    provisionFromAssembly,
    rawConfig,
    readAssemblyStack,
    renderIamSummary,
    runLifecycle,
    sourceImage,
    startSandbox,
    summarizeProvisioning,
    writeIamReport,
  } = await import('./setup').catch((error: unknown) => {
    stopSynthesis.abort();
    throw error;
  });
  if (DEFAULT_ACCOUNT !== ACCOUNT) throw new Error(`the sandbox's account is ${DEFAULT_ACCOUNT}, not ${ACCOUNT}`);
  const reportPath = resolve(values.report ?? DEFAULT_IAM_REPORT);
  const config = loadConfig(rawConfig);
  const assemblyDir = assemblyDirFor(synthesisOptions);

  const temporary = values.state === undefined;
  const stateDir =
    values.state === undefined ? mkdtempSync(join(temporaryStateRoot(), 'bakehouse-start-')) : resolve(values.state);
  // Linux Run Command scripts run for real in sandbox guests (bubblewrap), so the lifecycle shows
  // what the bake scripts do (al2023-base's release moving, Ubuntu's dpkg lock); without bwrap the
  // sandbox falls back to its recorded runs. BAKEHOUSE_SANDBOX_GUESTS=off turns them off.
  process.env.BAKEHOUSE_SANDBOX_GUESTS ??= 'on';
  const sandbox = await startSandbox({
    port,
    stateDir,
    // The clock stands still until the stacks are provisioned, then runs at --speed. At 1200x the
    // synthesis and provisioning alone are hours of sandbox time: enough, on a Saturday evening, to
    // pass the Sunday schedules before the run has looked at them, and scenario 1 would then
    // wait for another family's schedule days later (seen at 23:10 UTC on a Saturday).
    speed: 0,
    assetsDir: assemblyDir,
    iam,
    ...(hideSeconds > 0 ? { eventualConsistency: { hideSeconds } } : {}),
    // Health says provisioning (503) until the stacks are in place: a client that waits for it
    // never sees an empty account.
    provisioning: true,
  }).catch((error: unknown) => {
    stopSynthesis.abort();
    throw error;
  });
  try {
    print(
      `sandbox ready at ${sandbox.url} (state ${stateDir}, clock ${speed}x, IAM enforcement ${iam}, new EC2 resources hidden for ${hideSeconds} s)`,
    );
    const assembly = await synthesis;
    print(
      `stacks ${assembly.cached ? 'reused from' : 'synthesized into'} ${assembly.assemblyDir} (${elapsed(started)})`,
    );
    // The run starts on the next Saturday 12:00 UTC, whatever the host's day (dev/start/plan.ts):
    // the schedules then fire in the same order every time.
    moveToRunStart(sandbox.clock);
    const report = await provisionFromAssembly({ sandbox, assemblyDir: assembly.assemblyDir });
    sandbox.clock.setSpeed(speed);
    print(`sandbox ${summarizeProvisioning(report)} (${elapsed(started)})`);
    if (report.failed.length > 0) {
      const error = `provisioning failed for ${report.failed.map((f) => `${f.logicalId}: ${f.error}`).join('; ')}`;
      sandbox.setReadiness({ status: 'failed', error });
      throw new Error(error);
    }
    sandbox.setReadiness({ status: 'ready', provisioned: summarizeProvisioning(report) });
    const physical = (type: string): string => {
      const found = report.created.find((resource) => resource.type === type);
      if (!found) throw new Error(`the stacks declare no ${type}`);
      return found.physicalId;
    };
    // Slack: the notifier's secret points the Web API at the sandbox's Slack sink.
    await sandbox.runtime.callAws('secretsmanager', 'PutSecretValue', {
      SecretId: physical('AWS::SecretsManager::Secret'),
      SecretString: JSON.stringify({ botToken: 'xoxb-sandbox', apiUrl: `${sandbox.url}/api/` }),
    });
    const busName = physical('AWS::Events::EventBus');
    const scheduleGroup = physical('AWS::Scheduler::ScheduleGroup');
    // The families whose schedules fire first (within two hours of each other) bake on schedule;
    // the other scheduled families are requested with events. Families built on another family's
    // channel wait for promotion (issue 5) and are left out.
    const clockNow = sandbox.clock.now().getTime();
    const firings = await Promise.all(
      config.families
        .filter((family) => family.schedule)
        .map(async (family) => ({
          family: family.name,
          timezone: family.schedule?.timezone ?? 'UTC',
          atMs: await nextFiring(sandbox, family.name, scheduleGroup, clockNow, (atMs) =>
            family.schedule ? isDue(compileSchedule(family.schedule), new Date(atMs)) : false,
          ),
        })),
    );
    const { first, scheduled: scheduledNow, requested } = scheduledScenario(firings);
    // Channels that move on baked or tested; a canary channel moves after its canary (scenario 5).
    const automatic = (family: (typeof config.families)[number]) =>
      family.channels.filter((c) => c.promoteOn === 'baked' || c.promoteOn === 'tested');
    const promotions = Object.fromEntries(
      config.families.map((family) => [
        family.name,
        automatic(family).map((c) => ({
          channel: c.name,
          launchTemplates: c.launchTemplates.map((t) => t.template).filter((t) => !t.startsWith('lt-')),
        })),
      ]),
    );
    // Families built on a scheduled family's automatically promoted channel bake once it moves.
    const children = config.families
      .filter(
        (family) =>
          'family' in family.source &&
          scheduledNow.includes(family.source.family) &&
          automatic(
            config.families.find((f) => f.name === (family.source as { family: string }).family) ?? family,
          ).some((c) => c.name === (family.source as { channel: string }).channel),
      )
      .map((family) => family.name);
    // The teams' launch templates the config registers on channels, as they would exist in their
    // account: each starts on the family's source image, tagged with the name the configuration
    // uses (without that tag Promote and Revoke may not change a template named by name).
    for (const [family, channels] of Object.entries(promotions)) {
      for (const name of channels.flatMap((c) => c.launchTemplates)) {
        await sandbox.runtime.callAws('ec2', 'CreateLaunchTemplate', {
          LaunchTemplateName: name,
          LaunchTemplateData: { ImageId: await sourceImage(sandbox, config, family), InstanceType: 'm7i.large' },
          TagSpecifications: [{ ResourceType: 'launch-template', Tags: [{ Key: Tag.LaunchTemplate, Value: name }] }],
        });
        print(`launch template ${name} created for ${family}'s channels (as the team that launches it would)`);
      }
    }

    // The canary: a requested family with a canary channel, and the Auto Scaling group its pairs
    // join, as the team that runs it would have it (from its launch template, empty until then).
    const canaryFamily = config.families.find(
      (family) => canaryChannelOf(family) && [...requested, ...children].includes(family.name),
    );
    const canaryChannel = canaryFamily ? canaryChannelOf(canaryFamily) : undefined;
    const regressedMetric = canaryChannel?.canary.metrics.find((m) => m.critical) ?? canaryChannel?.canary.metrics[0];
    if (canaryFamily && canaryChannel) {
      const group = canaryChannel.canary.autoScalingGroup;
      const templates = Object.values(promotions).flatMap((channels) => channels.flatMap((c) => c.launchTemplates));
      if (!templates.includes(group)) {
        await sandbox.runtime.callAws('ec2', 'CreateLaunchTemplate', {
          LaunchTemplateName: group,
          LaunchTemplateData: {
            ImageId: await sourceImage(sandbox, config, canaryFamily.name),
            InstanceType: 'm7i.large',
          },
        });
      }
      await sandbox.runtime.callAws('autoscaling', 'CreateAutoScalingGroup', {
        AutoScalingGroupName: group,
        LaunchTemplate: { LaunchTemplateName: group, Version: '$Default' },
        MinSize: 0,
        MaxSize: 10,
        DesiredCapacity: 0,
        AvailabilityZones: [`${REGION}a`],
      });
      print(`Auto Scaling group ${group} created for ${canaryFamily.name}'s ${canaryChannel.channel} canary`);
    }

    // The alarm a failed bake sets off, as the template declares it (dev/start/alarm.ts).
    const template = readAssemblyStack(assembly.assemblyDir, report.stack).template;
    const physicalIds = Object.fromEntries(report.created.map((r) => [r.logicalId, r.physicalId]));
    const failedBakeAlarm = `bakehouse-${STAGE}-BakeExecutionsFailed`;

    const outcomes = await runLifecycle({
      endpoint: sandbox.url,
      region: REGION,
      busName,
      eventSource: config.settings.eventSource,
      parameterPrefix: config.settings.parameterPrefix,
      scheduled: { families: scheduledNow, nextFireMs: async () => first.atMs, timezone: first.timezone },
      requested,
      failing: scheduledNow[1] ?? requested[0] ?? first.family,
      promotions,
      children,
      janitorFunction: `bakehouse-${STAGE}-Janitor`,
      print,
      bakeTimeoutMs: bakeTimeoutSeconds * 1000,
      ...(canaryFamily && canaryChannel && regressedMetric
        ? {
            canary: {
              family: canaryFamily.name,
              channel: canaryChannel.channel,
              metricName: regressedMetric.metricName,
              metricLabel: regressedMetric.name,
              factor: 1.5,
            },
          }
        : {}),
      failedBakeAlarm: {
        name: failedBakeAlarm,
        event: (time, reason) =>
          alarmStateChangeFor({
            template,
            alarmName: failedBakeAlarm,
            account: DEFAULT_ACCOUNT,
            region: REGION,
            physicalIds,
            reason,
            time,
          }),
      },
    });
    printSummary(outcomes, print);
    if (hideSeconds > 0) {
      // What AWS's eventual consistency would have answered right after a create, and the run survived.
      const hidden = sandbox.hiddenByConsistency();
      const byAnswer = new Map<string, number>();
      for (const answer of hidden) byAnswer.set(answer.answer, (byAnswer.get(answer.answer) ?? 0) + 1);
      const kinds = [...byAnswer].map(([answer, count]) => `${count} ${answer}`).join(', ');
      print(
        `eventual consistency: new EC2 resources hidden for ${hideSeconds} s; ${hidden.length} answer(s) as AWS may give right after a create${kinds ? ` (${kinds})` : ''}`,
      );
    }
    const failed = outcomes.filter((o) => !o.ok);
    print(
      `\n${failed.length === 0 ? 'all scenarios ended as expected' : `${failed.length} scenario(s) did not end as expected`} in ${elapsed(started)}`,
    );
    return failed.length === 0 ? 0 : 1;
  } finally {
    // The report explains a failed run too: a denial is often why a scenario did not end as expected.
    try {
      const report = await iamReport(sandbox);
      writeIamReport(report, reportPath);
      for (const line of renderIamSummary(report, reportPath)) print(line);
    } catch (error) {
      print(`IAM report failed: ${error instanceof Error ? error.message : String(error)}`);
    }
    stopSynthesis.abort();
    await sandbox.close();
    if (temporary) rmSync(stateDir, { recursive: true, force: true });
  }
};

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(`npm start: ${error instanceof Error ? error.message : String(error)}`);
    process.exit(1);
  },
);
