/**
 * The time a request was signed at, and the `Date` the sandbox answers it with.
 *
 * The sandbox runs on its own clock (clock.ts), and so do the Lambda functions in it (their `Date`
 * reads it), as a function's clock agrees with AWS's. Tests and tools on the machine run on real
 * time. The sandbox checks no signature and no request time (AWS refuses a request that reaches it
 * more than five minutes after its time stamp: IAM User Guide, "AWS Signature Version 4 for API
 * requests"), so either clock signs requests it takes.
 *
 * What it must not do is date its answers on a clock the caller does not run on: the AWS SDK for
 * JavaScript reads `Date` from every answer and, when it finds the server's time 4 minutes or more
 * from its own, corrects its offset and retries the failed call (`clockSkewCorrected`): every error,
 * and so every injected fault, would count twice. So an answer carries the time of the clock the
 * request was signed on: the sandbox clock's for a caller on it (a function), real time otherwise.
 * A caller on real time never learns the sandbox clock from `Date`; it reads it at
 * `GET /_sandbox/clock`.
 */

/** `X-Amz-Date` (ISO 8601 basic, `20270301T000000Z`) in milliseconds, or undefined. */
export const signingTimeMs = (amzDate: string | undefined): number | undefined => {
  const match = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(amzDate ?? '');
  if (!match) return undefined;
  const [year, month, day, hour, minute, second] = match.slice(1).map(Number) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return Date.UTC(year, month - 1, day, hour, minute, second);
};

/**
 * The `Date` header for an answer to a request signed at `amzDate`: the sandbox clock's time when
 * the signing time is nearer to it than to real time, real time otherwise (unsigned or unreadable).
 */
export const answerDate = (amzDate: string | undefined, sandboxMs: number, realMs: number): string => {
  const signedMs = signingTimeMs(amzDate);
  const onSandboxClock = signedMs !== undefined && Math.abs(signedMs - sandboxMs) < Math.abs(signedMs - realMs);
  return new Date(onSandboxClock ? sandboxMs : realMs).toUTCString();
};
