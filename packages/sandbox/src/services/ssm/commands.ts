/**
 * Run Command and managed instances. EC2 instances launched with an instance profile are managed
 * (Online while running, ConnectionLost otherwise). SendCommand records one invocation per
 * instance; the tick moves them Pending → InProgress → a final status on the sandbox clock.
 *
 * With guests on (the default; `BAKEHOUSE_SANDBOX_GUESTS=off` turns them off; src/guest), a Linux `aws:runShellScript` runs for
 * real in the instance's guest when the invocation starts: its exit code decides Success or
 * Failed (ResponseCode is the exit code), its time limit TimedOut, and its output is what the
 * APIs show, truncated as AWS documents. Otherwise (guests off, Windows, bubblewrap missing)
 * nothing is executed and the output says what would have run. An injected Run Command fault
 * ends matching invocations Failed, TimedOut or Cancelled without running anything.
 *
 * Output limits (the SSM API model, botocore ssm/2014-11-06 service-2.json, and the API reference):
 *   GetCommandInvocation StandardOutputContent: the first 24,000 characters of stdout
 *   GetCommandInvocation StandardErrorContent: the first 8,000 characters of stderr
 *     https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_GetCommandInvocation.html
 *   ListCommandInvocations CommandPlugins[].Output: at most 2,500 characters (CommandPluginOutput)
 *     https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CommandPlugin.html
 *     The SSM Agent builds it from stdout and stderr (stderr after a `----------ERROR-------`
 *     line) and marks what it cut (`---Output truncated---`, `---Error truncated----`);
 *     `pluginOutput` does the same.
 */
import { randomUUID } from 'node:crypto';
import { agentMayRegister } from '../../authz/instance-profile';
import { AwsError } from '../../errors';
import { guestsEnabled, runGuestCommand, sweepInstanceRoots } from '../../guest';
import {
  epochSeconds,
  type Input,
  maxResults,
  optionalBoolean,
  optionalInteger,
  optionalObject,
  optionalObjectList,
  optionalString,
  optionalStringList,
  page,
  pageStart,
  requiredString,
  validationError,
} from '../../protocol/json';
import type { JsonAction, ServiceContext } from '../../service';
import type { Store } from '../../store';
import { Ec2Table, type ImageRecord, type InstanceRecord } from '../ec2/model';
import { type DocumentRecord, findDocument, selectDocumentVersion } from './documents';

export const COMMANDS_TABLE = 'ssm.commands';
export const INVOCATIONS_TABLE = 'ssm.commandInvocations';

const AGENT_VERSION = '3.3.1957.0';
/** Sandbox seconds from SendCommand until an invocation starts, and until it ends. */
const START_AFTER_S = 1;
const FINISH_AFTER_S = 3;

type InvocationStatus = 'Pending' | 'InProgress' | 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';
type Outcome = 'Success' | 'Failed' | 'TimedOut' | 'Cancelled';

interface CommandRecord extends Record<string, unknown> {
  readonly commandId: string;
  readonly documentName: string;
  readonly documentVersion: string;
  readonly comment?: string;
  readonly parameters: Record<string, string[]>;
  readonly instanceIds: readonly string[];
  readonly targets: readonly { Key: string; Values: string[] }[];
  readonly requestedDateTime: string;
  readonly expiresAfter: string;
  readonly timeoutSeconds: number;
  readonly maxConcurrency: string;
  readonly maxErrors: string;
}

interface InvocationRecord extends Record<string, unknown> {
  readonly commandId: string;
  readonly instanceId: string;
  readonly documentName: string;
  readonly documentVersion: string;
  readonly comment?: string;
  readonly pluginName: string;
  readonly requestedDateTime: string;
  readonly status: InvocationStatus;
  /** What the invocation ends with (decided when it is sent, so faults are used up once). */
  readonly outcome: Outcome;
  readonly startAt: string;
  readonly finishAt: string;
  readonly startedAt?: string;
  readonly endedAt?: string;
  /** A successful run shuts the guest down (see SHUTDOWN). */
  readonly shutsDown?: boolean;
  readonly standardOutput: string;
  readonly standardError: string;
  /** Runs in the instance's guest (Linux shell script, guests on, no fault injected). */
  readonly guest?: boolean;
  /** The script and its executionTimeout (sandbox seconds), for the guest. */
  readonly script?: string;
  readonly executionTimeoutS?: number;
  /** The guest's exit code once the script ended (a Failed invocation's ResponseCode). */
  readonly exitCode?: number;
  /** The script ended (sandbox clock), so the invocation may finish. */
  readonly ranUntil?: string;
}

const invocationKey = (commandId: string, instanceId: string): string => `${commandId}#${instanceId}`;
const isFinal = (status: InvocationStatus): boolean => !['Pending', 'InProgress'].includes(status);

// ---------- managed instances ----------

type PingStatus = 'Online' | 'ConnectionLost';

/** An instance is a managed node when its profile's role lets the SSM Agent register (authz/instance-profile.ts). */
const isManaged = (ctx: ServiceContext, instance: InstanceRecord): boolean =>
  instance.iamInstanceProfile !== undefined &&
  instance.state !== 'terminated' &&
  agentMayRegister(ctx.store, ctx.account, ctx.region, instance.instanceId, instance.iamInstanceProfile).managed;

const pingStatus = (instance: InstanceRecord): PingStatus =>
  instance.state === 'running' ? 'Online' : 'ConnectionLost';

const platformType = (instance: InstanceRecord): 'Windows' | 'Linux' =>
  instance.platform === 'windows' ? 'Windows' : 'Linux';

const platformName = (ctx: ServiceContext, instance: InstanceRecord): { name: string; version: string } => {
  const image = ctx.store.get<ImageRecord>(Ec2Table.Images, instance.imageId);
  const imageName = image?.name ?? '';
  if (instance.platform === 'windows') {
    const year = /20\d\d/.exec(imageName)?.[0] ?? '2022';
    return {
      name: `Microsoft Windows Server ${year} Datacenter`,
      version: year === '2025' ? '10.0.26100' : '10.0.20348',
    };
  }
  if (/ubuntu/i.test(imageName)) return { name: 'Ubuntu', version: '24.04' };
  return { name: 'Amazon Linux', version: '2023' };
};

const roleName = (profile: string): string => profile.split('/').pop() ?? profile;

const instanceInformation = (ctx: ServiceContext, instance: InstanceRecord) => {
  const status = pingStatus(instance);
  const platform = platformName(ctx, instance);
  const lastPing = status === 'Online' ? ctx.clock.now().toISOString() : (instance.stateUntil ?? instance.launchTime);
  return {
    InstanceId: instance.instanceId,
    PingStatus: status,
    LastPingDateTime: epochSeconds(lastPing),
    AgentVersion: AGENT_VERSION,
    IsLatestVersion: true,
    PlatformType: platformType(instance),
    PlatformName: platform.name,
    PlatformVersion: platform.version,
    IamRole: roleName(instance.iamInstanceProfile ?? ''),
    ResourceType: 'EC2Instance',
    IPAddress: instance.privateIpAddress,
    ComputerName: `ip-${instance.privateIpAddress.replaceAll('.', '-')}.ec2.internal`,
    SourceId: instance.instanceId,
    SourceType: 'AWS::EC2::Instance',
  };
};

type InstanceInfo = ReturnType<typeof instanceInformation>;

interface InfoFilter {
  readonly key: string;
  readonly values: readonly string[];
}

const INFO_FILTER_KEYS = ['InstanceIds', 'AgentVersion', 'PingStatus', 'PlatformTypes', 'ResourceType', 'IamRole'];

const parseInfoFilters = (input: Input): InfoFilter[] => {
  const legacy = (optionalObjectList(input, 'InstanceInformationFilterList') ?? []).map((filter) => ({
    key: requiredString(filter, 'key'),
    values: optionalStringList(filter, 'valueSet') ?? [],
  }));
  const filters = (optionalObjectList(input, 'Filters') ?? []).map((filter) => ({
    key: requiredString(filter, 'Key'),
    values: optionalStringList(filter, 'Values') ?? [],
  }));
  if (legacy.length > 0 && filters.length > 0) {
    throw new AwsError('InvalidFilter', 'You can specify InstanceInformationFilterList or Filters, not both.');
  }
  const all = [...legacy, ...filters];
  for (const filter of all) {
    if (!INFO_FILTER_KEYS.includes(filter.key) && !filter.key.startsWith('tag:') && filter.key !== 'tag-key') {
      throw new AwsError('InvalidInstanceInformationFilterValue', `The filter key ${filter.key} is not valid.`);
    }
    if (filter.values.length === 0) {
      throw new AwsError('InvalidInstanceInformationFilterValue', `The filter ${filter.key} needs at least one value.`);
    }
  }
  return all;
};

const matchesInfoFilter = (instance: InstanceRecord, info: InstanceInfo, filter: InfoFilter): boolean => {
  const { key, values } = filter;
  if (key === 'tag-key') return values.some((value) => instance.tags[value] !== undefined);
  if (key.startsWith('tag:')) {
    const tag = instance.tags[key.slice(4)];
    return tag !== undefined && values.includes(tag);
  }
  const field: Record<string, string> = {
    InstanceIds: info.InstanceId,
    AgentVersion: info.AgentVersion,
    PingStatus: info.PingStatus,
    PlatformTypes: info.PlatformType,
    ResourceType: info.ResourceType,
    IamRole: info.IamRole,
  };
  return values.includes(field[key] ?? '');
};

const describeInstanceInformation: JsonAction = (input, ctx) => {
  const size = maxResults(input, 5, 50, 50);
  const start = pageStart(input);
  const filters = parseInfoFilters(input);
  const listed: InstanceInfo[] = [];
  for (const instance of ctx.store.table<InstanceRecord>(Ec2Table.Instances).values()) {
    if (!isManaged(ctx, instance)) continue;
    const info = instanceInformation(ctx, instance);
    if (filters.every((filter) => matchesInfoFilter(instance, info, filter))) listed.push(info);
  }
  listed.sort((a, b) => (a.InstanceId < b.InstanceId ? -1 : 1));
  const result = page(listed, start, size);
  return {
    InstanceInformationList: result.items,
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

// ---------- sending commands ----------

const invalidInstances = (ctx: ServiceContext, ids: readonly string[]): AwsError =>
  new AwsError('InvalidInstanceId', `Instances [[${ids.join(', ')}]] not in a valid state for account ${ctx.account}`);

const onlineManaged = (ctx: ServiceContext, instanceId: string): boolean => {
  const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, instanceId);
  return instance !== undefined && isManaged(ctx, instance) && pingStatus(instance) === 'Online';
};

/** Targets `InstanceIds` and `tag:K` resolve to the online managed instances they name. */
const resolveTargets = (ctx: ServiceContext, targets: readonly { Key: string; Values: string[] }[]): string[] => {
  const ids = new Set<string>();
  for (const instance of ctx.store.table<InstanceRecord>(Ec2Table.Instances).values()) {
    if (!isManaged(ctx, instance) || pingStatus(instance) !== 'Online') continue;
    const selected = targets.every(({ Key, Values }) => {
      if (Key === 'InstanceIds') return Values.includes(instance.instanceId);
      if (Key === 'tag-key') return Values.some((value) => instance.tags[value] !== undefined);
      if (Key.startsWith('tag:')) return Values.includes(instance.tags[Key.slice(4)] ?? '\u0000');
      return false;
    });
    if (selected) ids.add(instance.instanceId);
  }
  return [...ids];
};

const parseTargets = (input: Input): { Key: string; Values: string[] }[] =>
  (optionalObjectList(input, 'Targets') ?? []).map((target) => {
    const key = requiredString(target, 'Key');
    if (key !== 'InstanceIds' && key !== 'tag-key' && !key.startsWith('tag:')) {
      throw validationError(`Target key ${key} is not supported; use InstanceIds, tag:<key> or tag-key.`);
    }
    return { Key: key, Values: optionalStringList(target, 'Values') ?? [] };
  });

const parseCommandParameters = (
  input: Input,
  document: DocumentRecord,
  version: ReturnType<typeof selectDocumentVersion>,
): Record<string, string[]> => {
  const given = optionalObject(input, 'Parameters') ?? {};
  const declared = new Map(version.parameters.map((parameter) => [parameter.name, parameter]));
  const parameters: Record<string, string[]> = {};
  for (const [name, values] of Object.entries(given)) {
    if (!declared.has(name)) {
      throw new AwsError('InvalidParameters', `Parameter "${name}" is not declared by document ${document.name}.`);
    }
    if (!Array.isArray(values) || values.some((value) => typeof value !== 'string')) {
      throw new AwsError('SerializationException', `Parameters.${name} must be a list of strings`);
    }
    parameters[name] = values as string[];
  }
  const missing = version.parameters.filter(
    (parameter) => parameter.defaultValue === undefined && parameters[parameter.name] === undefined,
  );
  if (missing.length > 0) {
    throw new AwsError(
      'InvalidParameters',
      `Document ${document.name} requires parameter "${missing[0]?.name}" which is not specified.`,
    );
  }
  return parameters;
};

const plusSeconds = (iso: string, seconds: number): string => new Date(Date.parse(iso) + seconds * 1000).toISOString();

const notRunOutput = (documentName: string, version: string, count: number, instanceId: string): string =>
  `bakehouse sandbox: ${documentName} (version ${version}) ran ${count} command(s) on ${instanceId}; Run Command does not execute scripts in the sandbox.\n`;

const sendCommand: JsonAction = (input, ctx) => {
  const documentName = requiredString(input, 'DocumentName');
  const document = findDocument(ctx, documentName);
  if (!document) throw new AwsError('InvalidDocument', 'The specified document does not exist.');
  if (document.documentType !== 'Command') {
    throw new AwsError('InvalidDocument', `Document ${document.name} is not a Command document.`);
  }
  const version = selectDocumentVersion(document, optionalString(input, 'DocumentVersion'));
  const hash = optionalString(input, 'DocumentHash');
  if (hash !== undefined && hash !== version.hash) {
    throw new AwsError('InvalidDocument', 'The document hash does not match the document.');
  }
  const explicitIds = optionalStringList(input, 'InstanceIds');
  const targets = parseTargets(input);
  if (explicitIds !== undefined && targets.length > 0) {
    throw validationError('Specify either InstanceIds or Targets, not both.');
  }
  if ((explicitIds ?? []).length === 0 && targets.length === 0) {
    throw validationError('Specify InstanceIds or Targets.');
  }
  if ((explicitIds ?? []).length > 50) throw validationError('You can specify at most 50 InstanceIds.');
  const offline = (explicitIds ?? []).filter((id) => !onlineManaged(ctx, id));
  if (offline.length > 0) throw invalidInstances(ctx, offline);
  const instanceIds = explicitIds ? [...new Set(explicitIds)] : resolveTargets(ctx, targets);
  const parameters = parseCommandParameters(input, document, version);
  const timeoutSeconds = optionalInteger(input, 'TimeoutSeconds') ?? 3600;
  if (timeoutSeconds < 30 || timeoutSeconds > 2_592_000) {
    throw validationError('TimeoutSeconds must be between 30 and 2592000.');
  }

  const now = ctx.clock.now().toISOString();
  const comment = optionalString(input, 'Comment');
  const command: CommandRecord = {
    commandId: randomUUID(),
    documentName: document.name,
    documentVersion: version.documentVersion,
    ...(comment === undefined ? {} : { comment }),
    parameters,
    instanceIds: explicitIds ? instanceIds : [],
    targets,
    requestedDateTime: now,
    expiresAfter: plusSeconds(now, timeoutSeconds),
    timeoutSeconds,
    maxConcurrency: optionalString(input, 'MaxConcurrency') ?? '50',
    maxErrors: optionalString(input, 'MaxErrors') ?? '0',
  };
  const commands = parameters.commands ?? [];
  const pluginName = version.steps[0]?.name ?? document.name;
  const script = commands.join('\n');
  const shellScript = version.steps[0]?.action === 'aws:runShellScript';
  const executionTimeoutS = Number(parameters.executionTimeout?.[0] ?? 3600) || 3600;
  const invocations = instanceIds.map((instanceId): InvocationRecord => {
    const outcome = ctx.faults.runCommandOutcome(`${document.name}\n${script}`) ?? 'Success';
    const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, instanceId);
    const guest = outcome === 'Success' && shellScript && instance?.guest !== undefined && guestsEnabled();
    return {
      commandId: command.commandId,
      instanceId,
      documentName: document.name,
      documentVersion: version.documentVersion,
      ...(comment === undefined ? {} : { comment }),
      pluginName,
      requestedDateTime: now,
      status: 'Pending',
      outcome,
      startAt: plusSeconds(now, START_AFTER_S),
      finishAt: plusSeconds(now, FINISH_AFTER_S),
      standardOutput:
        outcome === 'Success' && !guest
          ? notRunOutput(document.name, version.documentVersion, commands.length, instanceId)
          : '',
      standardError:
        outcome === 'Success' ? '' : `bakehouse sandbox: injected Run Command fault: invocation ended ${outcome}.\n`,
      ...(guest ? { guest: true, script, executionTimeoutS } : {}),
      ...(outcome === 'Success' && !guest && commands.some((c) => SHUTDOWN.test(c)) ? { shutsDown: true } : {}),
    };
  });
  ctx.transact((tx) => {
    tx.put(COMMANDS_TABLE, command.commandId, command);
    for (const invocation of invocations) {
      tx.put(INVOCATIONS_TABLE, invocationKey(invocation.commandId, invocation.instanceId), invocation);
    }
  });
  const active = activeInvocations(ctx.store);
  for (const invocation of invocations) active.add(invocationKey(invocation.commandId, invocation.instanceId));
  return { Command: commandView(ctx, command) };
};

// ---------- the clock moves invocations along ----------

/**
 * Commands that shut the guest down when they succeed (sysprep with `--shutdown`, `shutdown -h`,
 * `Stop-Computer`, `shutdown /s`): no script shuts anything down in the sandbox (a guest's
 * `shutdown` is a stand-in), so it stops the instance itself when such an invocation succeeds, as
 * the guest would.
 */
const SHUTDOWN = /--shutdown\b|\bshutdown\s+(-h|-P|\/s)\b|\bStop-Computer\b|\bpoweroff\b/i;

const active = new WeakMap<Store, Set<string>>();

/** Keys of invocations not yet finished; built from the store once per sandbox. */
const activeInvocations = (store: Store): Set<string> => {
  let keys = active.get(store);
  if (!keys) {
    keys = new Set();
    for (const [key, invocation] of store.table<InvocationRecord>(INVOCATIONS_TABLE)) {
      if (!isFinal(invocation.status)) keys.add(key);
    }
    active.set(store, keys);
  }
  return keys;
};

const advance = (invocation: InvocationRecord, nowIso: string): InvocationRecord | undefined => {
  if (isFinal(invocation.status)) return undefined;
  // A guest script finishes the invocation when it has ended, and not before the usual time.
  const ended = !invocation.guest || invocation.ranUntil !== undefined;
  if (ended && nowIso >= invocation.finishAt) {
    const endedAt =
      invocation.ranUntil && invocation.ranUntil > invocation.finishAt ? invocation.ranUntil : invocation.finishAt;
    return { ...invocation, status: invocation.outcome, startedAt: invocation.startAt, endedAt };
  }
  if (invocation.status === 'Pending' && nowIso >= invocation.startAt) {
    return { ...invocation, status: 'InProgress', startedAt: invocation.startAt };
  }
  return undefined;
};

/** Guest scripts running in this process, by invocation key. */
const runningGuests = new Set<string>();

/**
 * While a guest script runs, the sandbox clock runs at most GUEST_PACE times real time. A script
 * takes real time (the stand-ins start processes); at the default 600× (1200× in the product's
 * tests) half a real second would be five or ten sandbox minutes, and a bake of ten scripts would
 * outlast the step timeouts and the state machine's wait that hold on AWS, where such a script
 * takes seconds to a minute or two. At 60× it counts as tens of seconds. The clock gets its speed
 * back when the last script ends, unless someone changed it meanwhile.
 */
const GUEST_PACE = 60;
const paced = new WeakMap<ServiceContext['clock'], { running: number; restore?: number }>();

const paceClock = (clock: ServiceContext['clock']): void => {
  const pace = paced.get(clock);
  if (pace) {
    pace.running += 1;
    return;
  }
  if (clock.speed > GUEST_PACE) {
    paced.set(clock, { running: 1, restore: clock.speed });
    clock.setSpeed(GUEST_PACE);
  } else paced.set(clock, { running: 1 });
};

const unpaceClock = (clock: ServiceContext['clock']): void => {
  const pace = paced.get(clock);
  if (!pace) return;
  pace.running -= 1;
  if (pace.running > 0) return;
  paced.delete(clock);
  if (pace.restore !== undefined && clock.speed === GUEST_PACE) clock.setSpeed(pace.restore);
};

const sweptStores = new WeakSet<Store>();

/** Starts an invocation's script in its instance's guest; records the result when it ends. */
const startGuest = (ctx: ServiceContext, key: string, invocation: InvocationRecord): void => {
  const instance = ctx.store.get<InstanceRecord>(Ec2Table.Instances, invocation.instanceId);
  if (!instance?.guest || runningGuests.has(key)) return;
  if (!sweptStores.has(ctx.store)) {
    sweptStores.add(ctx.store);
    sweepInstanceRoots(ctx.store.dir, (id) => ctx.store.get(Ec2Table.Instances, id) !== undefined);
  }
  runningGuests.add(key);
  const guest = instance.guest;
  const bootMs = Date.parse(instance.startedAt ?? instance.launchTime);
  const region = ctx.region;
  paceClock(ctx.clock);
  ctx.runtime.spawn(`Run Command ${invocation.commandId} on ${invocation.instanceId}`, async () => {
    try {
      const result = await runGuestCommand({
        stateDir: ctx.store.dir,
        instanceId: invocation.instanceId,
        guest,
        commandId: invocation.commandId,
        pluginName: invocation.pluginName,
        script: invocation.script ?? '',
        executionTimeoutS: invocation.executionTimeoutS ?? 3600,
        bootMs,
        clock: ctx.clock,
        closed: () => ctx.runtime.isClosed,
      });
      const bg = ctx.runtime.context(region);
      bg.transact((tx) => {
        const current = tx.get<InvocationRecord>(INVOCATIONS_TABLE, key);
        if (!current || isFinal(current.status)) return;
        tx.put<InvocationRecord>(
          INVOCATIONS_TABLE,
          key,
          withGuestResult(current, result, bg.clock.now().toISOString()),
        );
      });
    } finally {
      runningGuests.delete(key);
      unpaceClock(ctx.clock);
    }
  });
};

type GuestOutcome = Awaited<ReturnType<typeof runGuestCommand>>;

/** What the script did, as the invocation will report it. */
const withGuestResult = (invocation: InvocationRecord, result: GuestOutcome, nowIso: string): InvocationRecord => {
  if ('unavailable' in result) {
    const commandCount = (invocation.script ?? '').split('\n').length;
    return {
      ...invocation,
      outcome: 'Success',
      standardOutput: notRunOutput(
        invocation.documentName,
        invocation.documentVersion,
        commandCount,
        invocation.instanceId,
      ),
      ranUntil: nowIso,
      ...(SHUTDOWN.test(invocation.script ?? '') ? { shutsDown: true } : {}),
    };
  }
  const outcome: Outcome = result.timedOut ? 'TimedOut' : result.exitCode === 0 ? 'Success' : 'Failed';
  return {
    ...invocation,
    outcome,
    exitCode: result.timedOut ? -1 : result.exitCode,
    standardOutput: result.stdout.slice(0, STDOUT_KEPT),
    standardError: result.stderr.slice(0, STDERR_KEPT),
    ranUntil: nowIso,
    ...(outcome === 'Success' && SHUTDOWN.test(invocation.script ?? '') ? { shutsDown: true } : {}),
  };
};

/** Characters kept of each stream: what GetCommandInvocation shows, plus one to know it was cut. */
const STDOUT_LIMIT = 24_000;
const STDERR_LIMIT = 8_000;
const STDOUT_KEPT = STDOUT_LIMIT + 1;
const STDERR_KEPT = STDERR_LIMIT + 1;
/** ListCommandInvocations' plugin Output (CommandPluginOutput, max 2,500). */
const PLUGIN_OUTPUT_LIMIT = 2_500;

const ERROR_HEADER = '\n----------ERROR-------\n';
const OUTPUT_CUT = '\n---Output truncated---';
const ERROR_CUT = '\n---Error truncated----';

/**
 * The plugin Output of ListCommandInvocations: stdout, then stderr after the agent's ERROR line,
 * at most `capacity` characters; what does not fit is cut, each cut marked, stdout and stderr
 * sharing the room when both are long.
 */
export const pluginOutput = (stdout: string, stderr: string, capacity = PLUGIN_OUTPUT_LIMIT): string => {
  const whole = stderr === '' ? stdout : `${stdout}${ERROR_HEADER}${stderr}`;
  if (whole.length <= capacity) return whole;
  const room = capacity - 1 - (stderr === '' ? 0 : ERROR_HEADER.length);
  const cutOut = (length: number) => `${stdout.slice(0, length)}${OUTPUT_CUT}`;
  const cutErr = (length: number) => `${ERROR_HEADER}${stderr.slice(0, length)}${ERROR_CUT}`;
  if (stderr === '') return cutOut(room - OUTPUT_CUT.length);
  if (stdout === '') return cutErr(room - ERROR_CUT.length);
  const half = Math.floor((room - OUTPUT_CUT.length - ERROR_CUT.length) / 2);
  if (stdout.length <= half) return `${stdout}${cutErr(room - stdout.length - ERROR_CUT.length)}`;
  if (stderr.length <= half) {
    return `${cutOut(room - stderr.length - OUTPUT_CUT.length)}${ERROR_HEADER}${stderr}`;
  }
  return `${cutOut(half)}${cutErr(half)}`;
};

export const tickCommands = (ctx: ServiceContext): void => {
  const keys = activeInvocations(ctx.store);
  if (keys.size === 0) return;
  const nowIso = ctx.clock.now().toISOString();
  const changed: [string, InvocationRecord][] = [];
  for (const key of keys) {
    const invocation = ctx.store.get<InvocationRecord>(INVOCATIONS_TABLE, key);
    if (!invocation) {
      keys.delete(key);
      continue;
    }
    const next = advance(invocation, nowIso);
    if (next) changed.push([key, next]);
    // A guest script that should be running but is not (it just started, or the sandbox restarted).
    const state = next ?? invocation;
    if (state.guest && state.status === 'InProgress' && state.ranUntil === undefined) startGuest(ctx, key, state);
  }
  if (changed.length === 0) return;
  ctx.transact((tx) => {
    for (const [key, invocation] of changed) tx.put(INVOCATIONS_TABLE, key, invocation);
  });
  for (const [key, invocation] of changed) if (isFinal(invocation.status)) keys.delete(key);
  for (const [, invocation] of changed) {
    if (invocation.status !== 'Success' || !invocation.shutsDown) continue;
    ctx.runtime.spawn(`guest shutdown of ${invocation.instanceId}`, async () => {
      await ctx.runtime.callAws('ec2', 'StopInstances', { InstanceIds: [invocation.instanceId] });
    });
  }
};

// ---------- reading commands and invocations ----------

const invocationsOf = (ctx: ServiceContext, command: CommandRecord): InvocationRecord[] => {
  const invocations: InvocationRecord[] = [];
  const ids = command.instanceIds.length > 0 ? command.instanceIds : undefined;
  if (ids) {
    for (const id of ids) {
      const invocation = ctx.store.get<InvocationRecord>(INVOCATIONS_TABLE, invocationKey(command.commandId, id));
      if (invocation) invocations.push(invocation);
    }
    return invocations;
  }
  for (const invocation of ctx.store.table<InvocationRecord>(INVOCATIONS_TABLE).values()) {
    if (invocation.commandId === command.commandId) invocations.push(invocation);
  }
  return invocations;
};

const FAILURE_ORDER: readonly InvocationStatus[] = ['Failed', 'TimedOut', 'Cancelled'];

/** A command's status sums up its invocations', as Run Command reports it. */
const commandStatus = (invocations: readonly InvocationRecord[]): InvocationStatus => {
  if (invocations.length === 0) return 'Success';
  if (invocations.every((invocation) => invocation.status === 'Pending')) return 'Pending';
  if (invocations.some((invocation) => !isFinal(invocation.status))) return 'InProgress';
  return FAILURE_ORDER.find((status) => invocations.some((invocation) => invocation.status === status)) ?? 'Success';
};

const commandView = (ctx: ServiceContext, command: CommandRecord) => {
  const invocations = invocationsOf(ctx, command);
  const status = commandStatus(invocations);
  const finished = invocations.filter((invocation) => isFinal(invocation.status));
  return {
    CommandId: command.commandId,
    DocumentName: command.documentName,
    DocumentVersion: command.documentVersion,
    ...(command.comment === undefined ? {} : { Comment: command.comment }),
    ExpiresAfter: epochSeconds(command.expiresAfter),
    Parameters: command.parameters,
    InstanceIds: command.instanceIds,
    Targets: command.targets,
    RequestedDateTime: epochSeconds(command.requestedDateTime),
    Status: status,
    StatusDetails: status,
    MaxConcurrency: command.maxConcurrency,
    MaxErrors: command.maxErrors,
    TargetCount: invocations.length,
    CompletedCount: finished.length,
    ErrorCount: finished.filter((invocation) => invocation.status === 'Failed').length,
    DeliveryTimedOutCount: 0,
    TimeoutSeconds: command.timeoutSeconds,
  };
};

const responseCode = (invocation: InvocationRecord): number =>
  !isFinal(invocation.status)
    ? -1
    : invocation.status === 'Success'
      ? 0
      : invocation.exitCode !== undefined && invocation.status === 'Failed'
        ? invocation.exitCode
        : 1;

const elapsed = (invocation: InvocationRecord): string => {
  if (!invocation.startedAt || !invocation.endedAt) return '';
  return `PT${(Date.parse(invocation.endedAt) - Date.parse(invocation.startedAt)) / 1000}S`;
};

const statusDetails = (status: InvocationStatus): string => (status === 'TimedOut' ? 'ExecutionTimedOut' : status);

const getCommandInvocation: JsonAction = (input, ctx) => {
  const commandId = requiredString(input, 'CommandId');
  const instanceId = requiredString(input, 'InstanceId');
  const pluginName = optionalString(input, 'PluginName');
  const invocation = ctx.store.get<InvocationRecord>(INVOCATIONS_TABLE, invocationKey(commandId, instanceId));
  if (!invocation || (pluginName !== undefined && pluginName !== invocation.pluginName)) {
    throw new AwsError(
      'InvocationDoesNotExist',
      'An invocation with the specified CommandId and InstanceId does not exist.',
    );
  }
  const finished = isFinal(invocation.status);
  return {
    CommandId: invocation.commandId,
    InstanceId: invocation.instanceId,
    ...(invocation.comment === undefined ? {} : { Comment: invocation.comment }),
    DocumentName: invocation.documentName,
    DocumentVersion: invocation.documentVersion,
    PluginName: invocation.pluginName,
    ResponseCode: responseCode(invocation),
    ExecutionStartDateTime: invocation.startedAt ?? '',
    ExecutionElapsedTime: elapsed(invocation),
    ExecutionEndDateTime: invocation.endedAt ?? '',
    Status: invocation.status,
    StatusDetails: statusDetails(invocation.status),
    StandardOutputContent: finished ? invocation.standardOutput.slice(0, STDOUT_LIMIT) : '',
    StandardOutputUrl: '',
    StandardErrorContent: finished ? invocation.standardError.slice(0, STDERR_LIMIT) : '',
    StandardErrorUrl: '',
    CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
  };
};

const invocationView = (invocation: InvocationRecord, details: boolean) => ({
  CommandId: invocation.commandId,
  InstanceId: invocation.instanceId,
  InstanceName: '',
  ...(invocation.comment === undefined ? {} : { Comment: invocation.comment }),
  DocumentName: invocation.documentName,
  DocumentVersion: invocation.documentVersion,
  RequestedDateTime: epochSeconds(invocation.requestedDateTime),
  Status: invocation.status,
  StatusDetails: statusDetails(invocation.status),
  StandardOutputUrl: '',
  StandardErrorUrl: '',
  CommandPlugins: details
    ? [
        {
          Name: invocation.pluginName,
          Status: invocation.status,
          StatusDetails: statusDetails(invocation.status),
          ResponseCode: responseCode(invocation),
          ...(invocation.startedAt ? { ResponseStartDateTime: epochSeconds(invocation.startedAt) } : {}),
          ...(invocation.endedAt ? { ResponseFinishDateTime: epochSeconds(invocation.endedAt) } : {}),
          Output: isFinal(invocation.status) ? pluginOutput(invocation.standardOutput, invocation.standardError) : '',
          StandardOutputUrl: '',
          StandardErrorUrl: '',
        },
      ]
    : [],
  CloudWatchOutputConfig: { CloudWatchLogGroupName: '', CloudWatchOutputEnabled: false },
});

const COMMAND_FILTER_KEYS = ['Status', 'DocumentName', 'InvokedAfter', 'InvokedBefore', 'ExecutionStage'];

const parseCommandFilters = (input: Input): { key: string; value: string }[] =>
  (optionalObjectList(input, 'Filters') ?? []).map((filter) => {
    const key = requiredString(filter, 'key');
    if (!COMMAND_FILTER_KEYS.includes(key)) {
      throw new AwsError('InvalidFilterKey', `The filter key ${key} is not valid.`);
    }
    return { key, value: requiredString(filter, 'value') };
  });

const matchesCommandFilter = (
  filter: { key: string; value: string },
  entry: { status: InvocationStatus; documentName: string; requestedDateTime: string },
): boolean => {
  switch (filter.key) {
    case 'Status':
      return entry.status === filter.value;
    case 'DocumentName':
      return entry.documentName === filter.value;
    case 'InvokedAfter':
      return entry.requestedDateTime >= new Date(filter.value).toISOString();
    case 'InvokedBefore':
      return entry.requestedDateTime <= new Date(filter.value).toISOString();
    case 'ExecutionStage':
      return filter.value === 'Executing' ? !isFinal(entry.status) : isFinal(entry.status);
    default:
      return false;
  }
};

const knownCommand = (ctx: ServiceContext, commandId: string | undefined): void => {
  if (commandId !== undefined && !ctx.store.get(COMMANDS_TABLE, commandId)) {
    throw new AwsError('InvalidCommandId', `The command ID ${commandId} is not valid.`);
  }
};

const byRequestedDesc = <T extends { requestedDateTime: string }>(a: T, b: T): number =>
  a.requestedDateTime < b.requestedDateTime ? 1 : a.requestedDateTime > b.requestedDateTime ? -1 : 0;

const listCommandInvocations: JsonAction = (input, ctx) => {
  const commandId = optionalString(input, 'CommandId');
  const instanceId = optionalString(input, 'InstanceId');
  const details = optionalBoolean(input, 'Details') ?? false;
  const size = maxResults(input, 1, 50, 50);
  const start = pageStart(input);
  const filters = parseCommandFilters(input);
  knownCommand(ctx, commandId);
  const command = commandId === undefined ? undefined : ctx.store.get<CommandRecord>(COMMANDS_TABLE, commandId);
  const candidates = command
    ? invocationsOf(ctx, command)
    : [...ctx.store.table<InvocationRecord>(INVOCATIONS_TABLE).values()];
  const matching = candidates
    .filter((invocation) => instanceId === undefined || invocation.instanceId === instanceId)
    .filter((invocation) => filters.every((filter) => matchesCommandFilter(filter, invocation)))
    .sort(byRequestedDesc);
  const result = page(matching, start, size);
  return {
    CommandInvocations: result.items.map((invocation) => invocationView(invocation, details)),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

const listCommands: JsonAction = (input, ctx) => {
  const commandId = optionalString(input, 'CommandId');
  const instanceId = optionalString(input, 'InstanceId');
  const size = maxResults(input, 1, 50, 50);
  const start = pageStart(input);
  const filters = parseCommandFilters(input);
  knownCommand(ctx, commandId);
  const commands =
    commandId === undefined
      ? [...ctx.store.table<CommandRecord>(COMMANDS_TABLE).values()]
      : [ctx.store.get<CommandRecord>(COMMANDS_TABLE, commandId) as CommandRecord];
  const views = commands
    .map((command) => ({ command, view: commandView(ctx, command) }))
    .filter(
      ({ command }) =>
        instanceId === undefined ||
        invocationsOf(ctx, command).some((invocation) => invocation.instanceId === instanceId),
    )
    .filter(({ command, view }) =>
      filters.every((filter) =>
        matchesCommandFilter(filter, {
          status: view.Status,
          documentName: command.documentName,
          requestedDateTime: command.requestedDateTime,
        }),
      ),
    )
    .sort((a, b) => byRequestedDesc(a.command, b.command));
  const result = page(views, start, size);
  return {
    Commands: result.items.map(({ view }) => view),
    ...(result.nextToken ? { NextToken: result.nextToken } : {}),
  };
};

export const commandActions: Readonly<Record<string, JsonAction>> = {
  DescribeInstanceInformation: describeInstanceInformation,
  SendCommand: sendCommand,
  GetCommandInvocation: getCommandInvocation,
  ListCommandInvocations: listCommandInvocations,
  ListCommands: listCommands,
};
