/** Step Functions error names for the sandbox's task integrations, and the Retry/Catch rules. */
import { ParameterNotFound, SSMServiceException } from '@aws-sdk/client-ssm';
import { describe, expect, it } from 'vitest';
import {
  awsSdkTaskError,
  catcherFor,
  errorMatches,
  lambdaFunctionError,
  optimizedTaskError,
  readSdkFailure,
  retryDelaySeconds,
  withExceptionSuffix,
} from '../../src/services/stepfunctions/task-errors';

const metadata = { httpStatusCode: 400, requestId: 'req-1', attempts: 1, totalRetryDelay: 0 };

describe('error names', () => {
  it('adds the Exception suffix to modeled errors and keeps it when present', () => {
    expect(withExceptionSuffix('ParameterNotFound')).toBe('ParameterNotFoundException');
    expect(withExceptionSuffix('ResourceNotFoundException')).toBe('ResourceNotFoundException');
  });

  it('names a modeled SDK error <Service>.<Error>Exception with the AWS cause format', () => {
    const error = new ParameterNotFound({ message: 'Parameter /x not found.', $metadata: metadata });
    const failure = readSdkFailure(error);
    expect(failure).toMatchObject({ code: 'ParameterNotFound', modeled: true, status: 400 });
    const taskError = awsSdkTaskError('ssm', failure);
    expect(taskError.name).toBe('Ssm.ParameterNotFoundException');
    expect(taskError.message).toBe(
      'Parameter /x not found. (Service: Ssm, Status Code: 400, Error Code: ParameterNotFound, Request ID: req-1)',
    );
  });

  it('names an unmodeled SDK error after the service', () => {
    const error = new SSMServiceException({
      name: 'SomethingNew',
      $fault: 'client',
      $metadata: metadata,
      message: 'new',
    });
    expect(readSdkFailure(error).modeled).toBe(false);
    expect(awsSdkTaskError('ssm', readSdkFailure(error)).name).toBe('Ssm.SsmException');
    expect(awsSdkTaskError('ec2', readSdkFailure(error)).name).toBe('Ec2.Ec2Exception');
    expect(optimizedTaskError('Lambda', readSdkFailure(error)).name).toBe('Lambda.AWSLambdaException');
    expect(optimizedTaskError('EventBridge', readSdkFailure(error)).name).toBe(
      'EventBridge.AmazonEventBridgeException',
    );
  });

  it("names a Lambda function's failure by the payload's errorType, Lambda.Unknown without one", () => {
    const payload = '{"errorType":"FamilyBusyError","errorMessage":"busy"}';
    expect(lambdaFunctionError(payload)).toMatchObject({ name: 'FamilyBusyError', message: payload });
    expect(lambdaFunctionError('{"errorMessage":"Task timed out after 3.00 seconds"}').name).toBe('Lambda.Unknown');
    expect(lambdaFunctionError('not json').name).toBe('Lambda.Unknown');
  });
});

describe('matching', () => {
  it('States.TaskFailed matches any error but a timeout; States.Timeout matches heartbeat timeouts', () => {
    expect(errorMatches(['States.TaskFailed'], 'Ssm.ThrottlingException')).toBe(true);
    expect(errorMatches(['States.TaskFailed'], 'States.Timeout')).toBe(false);
    expect(errorMatches(['States.TaskFailed'], 'States.HeartbeatTimeout')).toBe(false);
    expect(errorMatches(['States.Timeout'], 'States.HeartbeatTimeout')).toBe(true);
    expect(errorMatches(['States.ALL'], 'States.Timeout')).toBe(true);
    expect(errorMatches(['A', 'B'], 'C')).toBe(false);
  });

  it('picks the first catcher that matches', () => {
    const catchers = [{ ErrorEquals: ['States.TaskFailed'] }, { ErrorEquals: ['States.ALL'] }];
    expect(catcherFor(catchers, 'Boom')).toBe(0);
    expect(catcherFor(catchers, 'States.Timeout')).toBe(1);
    expect(catcherFor([{ ErrorEquals: ['Other'] }], 'Boom')).toBe(-1);
  });
});

describe('retry delays', () => {
  it('backs off per retrier, caps at MaxDelaySeconds and stops after MaxAttempts', () => {
    const retriers = [
      { ErrorEquals: ['Busy'], IntervalSeconds: 2, BackoffRate: 3, MaxAttempts: 3, MaxDelaySeconds: 10 },
    ];
    const attempts: number[] = [];
    expect([1, 2, 3, 4].map(() => retryDelaySeconds(retriers, attempts, 'Busy'))).toEqual([2, 6, 10, undefined]);
  });

  it('uses the defaults (1 s, rate 2, 3 attempts) and FULL jitter scales the delay', () => {
    const attempts: number[] = [];
    const retriers = [{ ErrorEquals: ['States.ALL'] }];
    expect([1, 2, 3, 4].map(() => retryDelaySeconds(retriers, attempts, 'X'))).toEqual([1, 2, 4, undefined]);
    const jittered = [{ ErrorEquals: ['X'], IntervalSeconds: 10, JitterStrategy: 'FULL' as const }];
    expect(retryDelaySeconds(jittered, [], 'X', () => 0.25)).toBe(2.5);
  });

  it('the first matching retrier decides, even when it is spent', () => {
    const retriers = [
      { ErrorEquals: ['X'], MaxAttempts: 0 },
      { ErrorEquals: ['States.ALL'], MaxAttempts: 5 },
    ];
    expect(retryDelaySeconds(retriers, [], 'X')).toBeUndefined();
    expect(retryDelaySeconds(retriers, [], 'Y')).toBe(1);
  });
});
