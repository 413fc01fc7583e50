/** How the sandbox validates definitions and rewrites them for aws-local-stepfunctions. */
import { describe, expect, it } from 'vitest';
import {
  CONTEXT_MARKER,
  definitionProblems,
  fillContextMarkers,
  type JsonObject,
  prepareDefinition,
  SANDBOX_WAIT_RESOURCE,
} from '../../src/services/stepfunctions/definition';
import { parseResource } from '../../src/services/stepfunctions/integrations';

const machine = (): JsonObject => ({
  TimeoutSeconds: 300,
  StartAt: 'Call',
  States: {
    Call: {
      Type: 'Task',
      Resource: 'arn:aws:states:::lambda:invoke.waitForTaskToken',
      Parameters: {
        FunctionName: 'f',
        Payload: { 'token.$': '$$.Task.Token', 'name.$': '$$.Execution.Name', 'state.$': '$$.State.Name' },
      },
      TimeoutSecondsPath: '$.timeout',
      HeartbeatSeconds: 60,
      Retry: [{ ErrorEquals: ['States.ALL'] }],
      Catch: [{ ErrorEquals: ['States.TaskFailed'], Next: 'Pause' }],
      Next: 'Pause',
    },
    Pause: { Type: 'Wait', SecondsPath: '$.seconds', Next: 'Fan' },
    Fan: {
      Type: 'Parallel',
      Branches: [
        {
          StartAt: 'Inner',
          States: { Inner: { Type: 'Task', Resource: 'arn:aws:states:::aws-sdk:ssm:getParameter', End: true } },
        },
      ],
      End: true,
    },
  },
});

describe('definitionProblems', () => {
  it('accepts a valid definition and reports what asl-validator finds', () => {
    expect(definitionProblems(machine())).toEqual([]);
    const problems = definitionProblems({ StartAt: 'Missing', States: { Here: { Type: 'Pass', End: true } } });
    expect(problems.join('\n')).toContain('Missing');
  });

  it('answers a definition it has seen again as it did the first time, each caller with its own list', () => {
    const broken = (): JsonObject => ({ StartAt: 'Missing', States: { Here: { Type: 'Pass', End: true } } });
    const first = definitionProblems(broken());
    first.push('changed by the caller');
    const again = definitionProblems(broken());
    expect(again).toEqual(first.slice(0, -1));
    expect(again.join('\n')).toContain('Missing');
    expect(definitionProblems(machine())).toEqual([]);
  });
});

describe('prepareDefinition', () => {
  it('finds every state, including those in Parallel branches, and keeps TimeoutSeconds for the sandbox', () => {
    const prepared = prepareDefinition(machine());
    expect([...prepared.states.keys()].sort()).toEqual(['Call', 'Fan', 'Inner', 'Pause']);
    expect(prepared.timeoutSeconds).toBe(300);
    expect(prepared.engineDefinition.TimeoutSeconds).toBeUndefined();
  });

  it('takes Retry and timeouts from a Task, wraps its Parameters and starts its catchers empty', () => {
    const call = prepareDefinition(machine()).states.get('Call');
    expect(call?.engine).toMatchObject({
      Parameters: {
        __parameters: {
          FunctionName: 'f',
          Payload: {
            token: { [CONTEXT_MARKER]: 'Task.Token' },
            'name.$': '$$.SandboxExecution.Name',
            state: { [CONTEXT_MARKER]: 'State.Name' },
          },
        },
        '__timeoutSeconds.$': '$.timeout',
      },
      Catch: [{ ErrorEquals: [], Next: 'Pause' }],
    });
    expect(call?.engine.Retry).toBeUndefined();
    expect(call?.engine.HeartbeatSeconds).toBeUndefined();
    expect(call?.original.Retry).toEqual([{ ErrorEquals: ['States.ALL'] }]);
  });

  it('turns a Wait into a sandbox task that keeps its input and reads its path', () => {
    const pause = prepareDefinition(machine()).states.get('Pause');
    expect(pause?.type).toBe('Wait');
    expect(pause?.engine).toMatchObject({
      Type: 'Task',
      Resource: SANDBOX_WAIT_RESOURCE,
      Parameters: { '__input.$': '$', '__seconds.$': '$.seconds' },
      Next: 'Fan',
    });
  });

  it('leaves the definition it was given untouched', () => {
    const definition = machine();
    prepareDefinition(definition);
    expect(definition).toEqual(machine());
  });
});

describe('context markers', () => {
  it('fills markers with the values only the task knows', () => {
    const filled = fillContextMarkers(
      { a: { [CONTEXT_MARKER]: 'Task.Token' }, list: [{ [CONTEXT_MARKER]: 'State.RetryCount' }], plain: 1 },
      { 'Task.Token': 'tok', 'State.RetryCount': 2 },
    );
    expect(filled).toEqual({ a: 'tok', list: [2], plain: 1 });
  });
});

describe('parseResource', () => {
  it('reads each integration the sandbox runs, and nothing else', () => {
    expect(parseResource('arn:aws:states:::aws-sdk:ssm:getParameter')).toMatchObject({
      integration: { kind: 'aws-sdk', service: 'ssm', action: 'getParameter' },
      resourceType: 'aws-sdk:ssm',
      waitForTaskToken: false,
    });
    expect(parseResource('arn:aws:states:::lambda:invoke.waitForTaskToken')).toMatchObject({
      integration: { kind: 'lambda-invoke' },
      resource: 'invoke.waitForTaskToken',
      waitForTaskToken: true,
    });
    expect(parseResource('arn:aws:lambda:eu-west-1:123456789012:function:plan:live')).toMatchObject({
      integration: { kind: 'lambda-function', region: 'eu-west-1' },
    });
    expect(parseResource('arn:aws:states:::events:putEvents')?.integration.kind).toBe('put-events');
    expect(parseResource('arn:aws:states:::states:startExecution.sync:2')?.integration).toEqual({
      kind: 'start-execution',
      sync: 'sync:2',
    });
    expect(parseResource('arn:aws:states:us-east-1:123456789012:activity:manual')).toBeUndefined();
  });
});
