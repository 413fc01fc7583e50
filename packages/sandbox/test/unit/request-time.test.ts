import { describe, expect, it } from 'vitest';
import { answerDate, signingTimeMs } from '../../src/request-time';

const REAL = Date.parse('2026-12-05T13:00:00Z');
const SANDBOX = Date.parse('2027-03-01T00:00:00Z');

describe('signingTimeMs', () => {
  it('reads X-Amz-Date and refuses anything else', () => {
    expect(signingTimeMs('20270301T000102Z')).toBe(Date.parse('2027-03-01T00:01:02Z'));
    expect(signingTimeMs('2027-03-01T00:01:02Z')).toBeUndefined();
    expect(signingTimeMs(undefined)).toBeUndefined();
  });
});

describe('answerDate', () => {
  it('dates an answer on the sandbox clock for a caller that signed on it (a Lambda function)', () => {
    expect(answerDate('20270301T000003Z', SANDBOX, REAL)).toBe(new Date(SANDBOX).toUTCString());
  });

  it('dates an answer on real time for a caller on real time, or an unsigned request', () => {
    expect(answerDate('20261205T125959Z', SANDBOX, REAL)).toBe(new Date(REAL).toUTCString());
    expect(answerDate(undefined, SANDBOX, REAL)).toBe(new Date(REAL).toUTCString());
  });
});
