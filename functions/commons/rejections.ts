/**
 * What a refusing function publishes besides throwing (issue 18): the reason and the fix of a
 * rejection as two fields, and the request's fields as the sender gave them. Every Bakehouse
 * rejection is worded `rejected <detail-type> <id>: <field>: <problem>. Fix: <what to do>`, issues
 * joined with `; ` (contract.ts, events.ts `describeIssues`), so the fix is read back from the text.
 */
import type { IncomingEvent } from './contract';

export interface ReasonAndFix {
  /** What is wrong, naming the field (the `rejected … <id>: ` prefix dropped). */
  readonly reason: string;
  /** What to change; `fallback` when the message names no fix. */
  readonly fix: string;
}

const REASON_MAX = 1000;
const FIX_MAX = 1000;
const clip = (text: string, max: number): string => (text.length > max ? `${text.slice(0, max - 1)}…` : text);

/** Splits `a. Fix: b; c. Fix: d` into `a; c` and `b; d`. */
export const splitFix = (message: string, fallback: string): ReasonAndFix => {
  const body = message.replace(/^rejected [^:]*?: /, '');
  const reasons: string[] = [];
  const fixes: string[] = [];
  for (const issue of body.split('; ')) {
    const at = issue.indexOf('Fix: ');
    if (at < 0) {
      reasons.push(issue);
      continue;
    }
    reasons.push(issue.slice(0, at).replace(/[.\s]+$/, ''));
    fixes.push(issue.slice(at + 'Fix: '.length).replace(/\.$/, ''));
  }
  const reason = reasons.filter((r) => r.length > 0).join('; ') || body;
  // Each fix once: two fields of the same type share one (`send a string`).
  const distinct = [...new Set(fixes)];
  return { reason: clip(reason, REASON_MAX), fix: clip(distinct.length > 0 ? distinct.join('; ') : fallback, FIX_MAX) };
};

/** The request's detail as an object (a malformed request may have none). */
export const requestDetailOf = (event: unknown): Record<string, unknown> => {
  const detail = ((event ?? {}) as IncomingEvent).detail;
  return (typeof detail === 'object' && detail !== null ? detail : {}) as Record<string, unknown>;
};

/** A field of the request as given: text up to `max` characters, else null. */
export const requestText = (value: unknown, max: number): string | null =>
  typeof value === 'string' && value.length > 0 ? value.slice(0, max) : null;

/** The id PutEvents gave the request: what its sender correlates the rejection by. */
export const requestEventIdOf = (event: unknown): string => ((event ?? {}) as IncomingEvent).id || '(no id)';
