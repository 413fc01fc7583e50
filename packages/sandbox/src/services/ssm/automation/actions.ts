/**
 * The automation actions the sandbox runs. Each takes its step's interpolated inputs and a few
 * ports (AWS calls through the sandbox's own APIs, sleeps on the sandbox clock, the step's abort
 * signal) and returns typed outputs, or throws StepFailure. Waiting actions poll on the sandbox
 * clock, so they take sandbox time and follow the clock when it is moved.
 */
import { chooseBranch } from './branch';
import { durationSeconds, timestampMs } from './duration';
import type { FailureDetailsRecord } from './model';
import { select } from './selector';
import { asText, isPlainObject, type ValueType } from './values';

export interface StepPorts {
  readonly signal: AbortSignal;
  readonly region: string;
  readonly executionId: string;
  /** Calls the sandbox's API; an AWS error becomes a StepFailure naming the call. */
  callAws(service: string, api: string, input: Record<string, unknown>): Promise<Record<string, unknown>>;
  /** Sleeps `seconds` of sandbox time (rejects when the step is stopped). */
  sleep(seconds: number): Promise<void>;
  sleepUntil(ms: number): Promise<void>;
  nowMs(): number;
}

export type TypedOutputs = Record<string, { readonly type: ValueType; readonly value: unknown }>;

export interface ActionResult {
  readonly outputs?: TypedOutputs;
  /** What the document's `outputs` selectors read (aws:executeAwsApi: the API response). */
  readonly selectable?: unknown;
  readonly response?: string;
  readonly responseCode?: string;
  /** aws:branch: the step it picked. */
  readonly nextStep?: string;
}

export type FailureType = 'Action' | 'Verification' | 'Throttling' | 'Permission' | 'Internal';

/** A step failure as AWS reports it: a message and FailureDetails. */
export class StepFailure extends Error {
  readonly details: FailureDetailsRecord;

  constructor(
    message: string,
    options: { type?: FailureType; stage?: string; details?: Record<string, string[]> } = {},
  ) {
    super(message);
    this.name = 'StepFailure';
    this.details = {
      FailureStage: options.stage ?? 'Invocation',
      FailureType: options.type ?? 'Action',
      Details: options.details ?? { ExceptionMessage: [message] },
    };
  }
}

type Inputs = Record<string, unknown>;
type Action = (inputs: Inputs, ports: StepPorts) => Promise<ActionResult>;

const invalidInput = (message: string): StepFailure =>
  new StepFailure(message, { stage: 'InputValidation', type: 'Verification' });

/** A text input; a one-item list (a StringList output such as InstanceIds) counts as its item. */
const requiredText = (inputs: Inputs, name: string, action: string): string => {
  const given = inputs[name];
  const value = Array.isArray(given) && given.length === 1 ? given[0] : given;
  if (value === undefined || value === null || asText(value) === '') {
    throw invalidInput(`${action} needs the input ${name}.`);
  }
  return asText(value);
};

const textList = (inputs: Inputs, name: string, action: string): string[] => {
  const value = inputs[name];
  const list = Array.isArray(value) ? value.map(asText) : value === undefined ? [] : [asText(value)];
  if (list.length === 0) throw invalidInput(`${action} needs the input ${name} (a list).`);
  return list;
};

const flag = (value: unknown): boolean | undefined =>
  value === undefined ? undefined : typeof value === 'boolean' ? value : asText(value).toLowerCase() === 'true';

/** Drops undefined members so SDK inputs carry only what was given. */
const defined = (record: Record<string, unknown>): Record<string, unknown> =>
  Object.fromEntries(Object.entries(record).filter(([, value]) => value !== undefined));

const POLL_SECONDS = { instances: 5, images: 15, commands: 2, property: 5 } as const;

// ---------- EC2 waits ----------

const instanceStates = async (ports: StepPorts, instanceIds: readonly string[]): Promise<Map<string, string>> => {
  const output = await ports.callAws('ec2', 'DescribeInstances', { InstanceIds: [...instanceIds] });
  const states = new Map<string, string>();
  for (const reservation of (output.Reservations as Inputs[] | undefined) ?? []) {
    for (const instance of (reservation.Instances as Inputs[] | undefined) ?? []) {
      states.set(asText(instance.InstanceId), asText((instance.State as Inputs | undefined)?.Name));
    }
  }
  return states;
};

/** Polls until every instance is in `desired`; fails when one can never get there. */
const waitForInstances = async (
  ports: StepPorts,
  instanceIds: readonly string[],
  desired: string,
): Promise<string[]> => {
  for (;;) {
    const states = await instanceStates(ports, instanceIds);
    const current = instanceIds.map((id) => states.get(id) ?? 'unknown');
    if (current.every((state) => state === desired)) return current;
    const lost = instanceIds.filter((_, index) => ['terminated', 'shutting-down'].includes(current[index] ?? ''));
    if (desired !== 'terminated' && lost.length > 0) {
      throw new StepFailure(`Instance(s) ${lost.join(', ')} terminated while waiting for the state ${desired}.`, {
        type: 'Verification',
      });
    }
    await ports.sleep(POLL_SECONDS.instances);
  }
};

const waitForImage = async (ports: StepPorts, imageId: string): Promise<string> => {
  for (;;) {
    const output = await ports.callAws('ec2', 'DescribeImages', { ImageIds: [imageId] });
    const state = asText(((output.Images as Inputs[] | undefined) ?? [])[0]?.State);
    if (state === 'available') return state;
    if (state === 'failed' || state === 'invalid' || state === 'deregistered') {
      throw new StepFailure(`Image ${imageId} is ${state}; it will never be available.`, { type: 'Verification' });
    }
    await ports.sleep(POLL_SECONDS.images);
  }
};

// ---------- EC2 actions ----------

const RUN_INSTANCES_PASSTHROUGH = [
  'AdditionalInfo',
  'BlockDeviceMappings',
  'ClientToken',
  'DisableApiTermination',
  'EbsOptimized',
  'InstanceInitiatedShutdownBehavior',
  'KernelId',
  'KeyName',
  'NetworkInterfaces',
  'PrivateIpAddress',
  'RamdiskId',
  'SecurityGroupIds',
  'SecurityGroups',
  'SubnetId',
  'TagSpecifications',
  'UserData',
  'MetadataOptions',
];

const runInstances: Action = async (inputs, ports) => {
  const imageId = requiredText(inputs, 'ImageId', 'aws:runInstances');
  const request: Inputs = {
    ImageId: imageId,
    InstanceType: inputs.InstanceType === undefined ? 't3.micro' : asText(inputs.InstanceType),
    MinCount: Number(inputs.MinInstanceCount ?? 1),
    MaxCount: Number(inputs.MaxInstanceCount ?? 1),
  };
  for (const key of RUN_INSTANCES_PASSTHROUGH) if (inputs[key] !== undefined) request[key] = inputs[key];
  if (inputs.IamInstanceProfileArn !== undefined)
    request.IamInstanceProfile = { Arn: asText(inputs.IamInstanceProfileArn) };
  if (inputs.IamInstanceProfileName !== undefined) {
    request.IamInstanceProfile = { Name: asText(inputs.IamInstanceProfileName) };
  }
  if (inputs.Monitoring !== undefined) request.Monitoring = { Enabled: flag(inputs.Monitoring) };
  if (Array.isArray(inputs.Tags) && inputs.TagSpecifications === undefined) {
    request.TagSpecifications = [{ ResourceType: 'instance', Tags: inputs.Tags }];
  }
  const output = await ports.callAws('ec2', 'RunInstances', request);
  const instanceIds = ((output.Instances as Inputs[] | undefined) ?? []).map((instance) => asText(instance.InstanceId));
  const states = await waitForInstances(ports, instanceIds, 'running');
  return {
    outputs: {
      InstanceIds: { type: 'StringList', value: instanceIds },
      InstanceStates: { type: 'StringList', value: states },
    },
  };
};

const STATE_CHANGERS: Record<string, string> = {
  running: 'StartInstances',
  stopped: 'StopInstances',
  terminated: 'TerminateInstances',
};

const changeInstanceState: Action = async (inputs, ports) => {
  const instanceIds = textList(inputs, 'InstanceIds', 'aws:changeInstanceState');
  const desired = requiredText(inputs, 'DesiredState', 'aws:changeInstanceState');
  const api = STATE_CHANGERS[desired];
  if (!api) {
    throw invalidInput(`DesiredState ${desired} is not valid; use running, stopped or terminated.`);
  }
  if (!flag(inputs.CheckStateOnly)) {
    await ports.callAws('ec2', api, {
      InstanceIds: instanceIds,
      ...(desired === 'stopped' && flag(inputs.Force) ? { Force: true } : {}),
    });
  }
  await waitForInstances(ports, instanceIds, desired);
  return {};
};

const createImage: Action = async (inputs, ports) => {
  const output = await ports.callAws(
    'ec2',
    'CreateImage',
    defined({
      InstanceId: requiredText(inputs, 'InstanceId', 'aws:createImage'),
      Name: requiredText(inputs, 'ImageName', 'aws:createImage'),
      Description: inputs.ImageDescription === undefined ? undefined : asText(inputs.ImageDescription),
      NoReboot: flag(inputs.NoReboot),
      BlockDeviceMappings: inputs.BlockDeviceMappings,
    }),
  );
  const imageId = asText(output.ImageId);
  const state = await waitForImage(ports, imageId);
  return {
    outputs: { ImageId: { type: 'String', value: imageId }, ImageState: { type: 'String', value: state } },
  };
};

const copyImage: Action = async (inputs, ports) => {
  const output = await ports.callAws(
    'ec2',
    'CopyImage',
    defined({
      SourceImageId: requiredText(inputs, 'SourceImageId', 'aws:copyImage'),
      SourceRegion: requiredText(inputs, 'SourceRegion', 'aws:copyImage'),
      Name: requiredText(inputs, 'ImageName', 'aws:copyImage'),
      Description: inputs.ImageDescription === undefined ? undefined : asText(inputs.ImageDescription),
      Encrypted: flag(inputs.Encrypted),
      KmsKeyId: inputs.KmsKeyId === undefined ? undefined : asText(inputs.KmsKeyId),
      ClientToken: inputs.ClientToken === undefined ? undefined : asText(inputs.ClientToken),
    }),
  );
  const imageId = asText(output.ImageId);
  const state = await waitForImage(ports, imageId);
  return {
    outputs: { ImageId: { type: 'String', value: imageId }, ImageState: { type: 'String', value: state } },
  };
};

const deleteImage: Action = async (inputs, ports) => {
  await ports.callAws('ec2', 'DeregisterImage', {
    ImageId: requiredText(inputs, 'ImageId', 'aws:deleteImage'),
    DeleteAssociatedSnapshots: true,
  });
  return {};
};

const createTags: Action = async (inputs, ports) => {
  const resourceType = inputs.ResourceType === undefined ? 'EC2' : asText(inputs.ResourceType);
  if (resourceType !== 'EC2') {
    throw invalidInput(`aws:createTags in the sandbox tags EC2 resources only, not ${resourceType}.`);
  }
  const tags = inputs.Tags;
  if (!Array.isArray(tags) || !tags.every(isPlainObject)) {
    throw invalidInput('aws:createTags needs Tags, a list of {Key, Value}.');
  }
  await ports.callAws('ec2', 'CreateTags', {
    Resources: textList(inputs, 'ResourceIds', 'aws:createTags'),
    Tags: tags.map((tag) => ({ Key: asText(tag.Key), Value: asText(tag.Value) })),
  });
  return {};
};

// ---------- generic API actions ----------

const API_KEYS = new Set(['Service', 'Api', 'PropertySelector', 'DesiredValues']);

const apiCall = (inputs: Inputs, action: string) => {
  const service = requiredText(inputs, 'Service', action);
  const api = requiredText(inputs, 'Api', action);
  const request = Object.fromEntries(Object.entries(inputs).filter(([key]) => !API_KEYS.has(key)));
  return { service, api, request };
};

const selectProperty = (output: unknown, inputs: Inputs, action: string): string[] | undefined => {
  const selector = requiredText(inputs, 'PropertySelector', action);
  const selected = select(output, selector);
  if (!selected.found) return undefined;
  return Array.isArray(selected.value) ? selected.value.map(asText) : [asText(selected.value)];
};

const matchesDesired = (values: readonly string[] | undefined, desired: readonly string[]): boolean =>
  values !== undefined && values.length > 0 && values.every((value) => desired.includes(value));

const executeAwsApi: Action = async (inputs, ports) => {
  const { service, api, request } = apiCall(inputs, 'aws:executeAwsApi');
  const output = await ports.callAws(service, api, request);
  return { selectable: output };
};

const waitForAwsResourceProperty: Action = async (inputs, ports) => {
  const { service, api, request } = apiCall(inputs, 'aws:waitForAwsResourceProperty');
  const desired = textList(inputs, 'DesiredValues', 'aws:waitForAwsResourceProperty');
  for (;;) {
    const output = await ports.callAws(service, api, request);
    if (matchesDesired(selectProperty(output, inputs, 'aws:waitForAwsResourceProperty'), desired)) return {};
    await ports.sleep(POLL_SECONDS.property);
  }
};

const assertAwsResourceProperty: Action = async (inputs, ports) => {
  const { service, api, request } = apiCall(inputs, 'aws:assertAwsResourceProperty');
  const desired = textList(inputs, 'DesiredValues', 'aws:assertAwsResourceProperty');
  const output = await ports.callAws(service, api, request);
  const actual = selectProperty(output, inputs, 'aws:assertAwsResourceProperty');
  if (!matchesDesired(actual, desired)) {
    throw new StepFailure(
      `Asserted property ${asText(inputs.PropertySelector)} of ${service} ${api} is ${actual === undefined ? 'absent' : `[${actual.join(', ')}]`}, expected one of [${desired.join(', ')}].`,
      { type: 'Verification', stage: 'PostVerification' },
    );
  }
  return {};
};

// ---------- Run Command ----------

const SEND_COMMAND_PASSTHROUGH = [
  'Comment',
  'DocumentHash',
  'DocumentHashType',
  'DocumentVersion',
  'MaxConcurrency',
  'MaxErrors',
  'Targets',
];

const commandParameters = (value: unknown): Record<string, string[]> | undefined => {
  if (value === undefined) return undefined;
  if (!isPlainObject(value)) throw invalidInput('aws:runCommand Parameters must be a map.');
  return Object.fromEntries(
    Object.entries(value).map(([name, item]) => [name, Array.isArray(item) ? item.map(asText) : [asText(item)]]),
  );
};

/**
 * aws:runCommand's outputs are CommandId, Status, ResponseCode and Output, "the output of the
 * command" (https://docs.aws.amazon.com/systems-manager/latest/userguide/automation-action-runcommand.html).
 * Output is the invocation's plugin output as ListCommandInvocations gives it: stdout, then
 * stderr after the agent's ERROR line, at most 2,500 characters (CommandPluginOutput,
 * https://docs.aws.amazon.com/systems-manager/latest/APIReference/API_CommandPlugin.html), cut
 * with the agent's truncation marks (commands.ts `pluginOutput`). The same page notes that
 * Automation supports the output of only one Run Command action: a runbook may hold several,
 * but output is supported for one action at a time. Full output (24,000 / 8,000 characters) is
 * only in GetCommandInvocation.
 */
const OUTPUT_LIMIT = 2_500;

const runCommand: Action = async (inputs, ports) => {
  const documentName = requiredText(inputs, 'DocumentName', 'aws:runCommand');
  const request: Inputs = { DocumentName: documentName };
  if (inputs.InstanceIds !== undefined) request.InstanceIds = textList(inputs, 'InstanceIds', 'aws:runCommand');
  for (const key of SEND_COMMAND_PASSTHROUGH) if (inputs[key] !== undefined) request[key] = inputs[key];
  const parameters = commandParameters(inputs.Parameters);
  if (parameters) request.Parameters = parameters;
  if (inputs.TimeoutSeconds !== undefined) request.TimeoutSeconds = Number(inputs.TimeoutSeconds);
  const sent = await ports.callAws('ssm', 'SendCommand', request);
  const commandId = asText((sent.Command as Inputs | undefined)?.CommandId);
  for (;;) {
    await ports.sleep(POLL_SECONDS.commands);
    const listed = await ports.callAws('ssm', 'ListCommandInvocations', { CommandId: commandId, Details: true });
    const invocations = (listed.CommandInvocations as Inputs[] | undefined) ?? [];
    if (
      invocations.length === 0 ||
      invocations.some((i) => ['Pending', 'InProgress', 'Delayed'].includes(asText(i.Status)))
    ) {
      continue;
    }
    const plugin = (invocation: Inputs): Inputs => ((invocation.CommandPlugins as Inputs[] | undefined) ?? [])[0] ?? {};
    const first = invocations[0] as Inputs;
    const output = asText(plugin(first).Output).slice(0, OUTPUT_LIMIT);
    const failed = invocations.find((invocation) => asText(invocation.Status) !== 'Success');
    const responseCode = Number(plugin(failed ?? first).ResponseCode ?? (failed ? 1 : 0));
    if (failed) {
      const status = asText(failed.Status);
      throw new StepFailure(
        `Command ${commandId} (${documentName}) ended ${status} on ${asText(failed.InstanceId)} with response code ${responseCode}. Output: ${asText(plugin(failed).Output).slice(0, OUTPUT_LIMIT) || '(none)'}`,
        {
          details: {
            CommandId: [commandId],
            InstanceId: [asText(failed.InstanceId)],
            Status: [status],
            ResponseCode: [String(responseCode)],
          },
        },
      );
    }
    return {
      outputs: {
        CommandId: { type: 'String', value: commandId },
        Status: { type: 'String', value: 'Success' },
        ResponseCode: { type: 'Integer', value: responseCode },
        Output: { type: 'String', value: output },
      },
    };
  }
};

// ---------- flow and the rest ----------

const branch: Action = async (inputs) => ({ nextStep: chooseBranch(inputs) });

const sleep: Action = async (inputs, ports) => {
  if (inputs.Duration !== undefined) {
    const seconds = durationSeconds(asText(inputs.Duration));
    if (seconds === undefined)
      throw invalidInput(`aws:sleep Duration ${asText(inputs.Duration)} is not an ISO-8601 duration.`);
    await ports.sleep(seconds);
    return {};
  }
  if (inputs.Timestamp !== undefined) {
    const until = timestampMs(asText(inputs.Timestamp));
    if (until === undefined)
      throw invalidInput(`aws:sleep Timestamp ${asText(inputs.Timestamp)} is not an ISO-8601 time.`);
    await ports.sleepUntil(until);
    return {};
  }
  throw invalidInput('aws:sleep needs a Duration or a Timestamp.');
};

const invokeLambdaFunction: Action = async (inputs, ports) => {
  const functionName = requiredText(inputs, 'FunctionName', 'aws:invokeLambdaFunction');
  const payload =
    inputs.InputPayload !== undefined
      ? JSON.stringify(inputs.InputPayload)
      : inputs.Payload === undefined
        ? undefined
        : asText(inputs.Payload);
  let output: Record<string, unknown>;
  try {
    output = await ports.callAws(
      'lambda',
      'Invoke',
      defined({
        FunctionName: functionName,
        Qualifier: inputs.Qualifier === undefined ? undefined : asText(inputs.Qualifier),
        InvocationType: inputs.InvocationType === undefined ? undefined : asText(inputs.InvocationType),
        LogType: inputs.LogType === undefined ? undefined : asText(inputs.LogType),
        ClientContext: inputs.ClientContext === undefined ? undefined : asText(inputs.ClientContext),
        Payload: payload === undefined ? undefined : new TextEncoder().encode(payload),
      }),
    );
  } catch (error) {
    if (error instanceof StepFailure) {
      throw new StepFailure(`aws:invokeLambdaFunction could not invoke ${functionName}: ${error.message}`, {
        details: error.details.Details ?? {},
      });
    }
    throw error;
  }
  const body = output.Payload instanceof Uint8Array ? new TextDecoder().decode(output.Payload) : asText(output.Payload);
  const outputs: TypedOutputs = {
    StatusCode: { type: 'Integer', value: Number(output.StatusCode ?? 200) },
    Payload: { type: 'String', value: body },
  };
  if (output.FunctionError !== undefined)
    outputs.FunctionError = { type: 'String', value: asText(output.FunctionError) };
  if (output.LogResult !== undefined) outputs.LogResult = { type: 'String', value: asText(output.LogResult) };
  let parsed: unknown = body;
  try {
    parsed = JSON.parse(body);
  } catch {
    // not JSON: selectors see the text
  }
  return { outputs, selectable: { Payload: parsed } };
};

export const EXECUTE_SCRIPT_NOTE =
  'aws:executeScript is recorded but not run by the sandbox: the step succeeds with empty outputs.';

const executeScript: Action = async () => ({ response: EXECUTE_SCRIPT_NOTE });

export const ACTIONS: Readonly<Record<string, Action>> = {
  'aws:runInstances': runInstances,
  'aws:runCommand': runCommand,
  'aws:changeInstanceState': changeInstanceState,
  'aws:createImage': createImage,
  'aws:createTags': createTags,
  'aws:deleteImage': deleteImage,
  'aws:copyImage': copyImage,
  'aws:waitForAwsResourceProperty': waitForAwsResourceProperty,
  'aws:assertAwsResourceProperty': assertAwsResourceProperty,
  'aws:executeAwsApi': executeAwsApi,
  'aws:branch': branch,
  'aws:sleep': sleep,
  'aws:invokeLambdaFunction': invokeLambdaFunction,
  'aws:executeScript': executeScript,
};

/** Actions that wait on resources: without a timeoutSeconds they give up after an hour, as AWS does. */
export const DEFAULT_TIMEOUT_SECONDS: Readonly<Record<string, number>> = {
  'aws:waitForAwsResourceProperty': 3600,
};
