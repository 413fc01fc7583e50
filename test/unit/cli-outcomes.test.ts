/**
 * The CLI's outcome watch (cli/commands/outcomes.ts) and the reason/fix split the refusing
 * functions publish (functions/commons/rejections.ts): correlation by the request's event id or
 * bake id, the fix read back from a `… Fix: …` reason, and a watch over a stand-in sandbox event
 * log that sees what is put after it is ready, and nothing when it cannot start.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import type { TailedEvent } from '../../cli/commands/events';
import { describeRejection, rejectionOf, watchOutcomes } from '../../cli/commands/outcomes';
import type { CommandContext } from '../../cli/context';
import { splitFix } from '../../functions/commons/rejections';

describe('splitFix', () => {
  it('drops the rejected-event prefix and splits each issue into its problem and its fix', () => {
    // Act
    const split = splitFix(
      "rejected Promote Requested 7f3c: version: accepts major 1. Fix: send detail.version '1.0'; channel: no channel 'x'. Fix: use one of dev",
      'fallback',
    );

    // Assess
    expect(split).toEqual({
      reason: "version: accepts major 1; channel: no channel 'x'",
      fix: "send detail.version '1.0'; use one of dev",
    });
  });

  it('keeps a message without a fix whole and gives the fallback', () => {
    // Act & Assess
    expect(splitFix('rejected Bake Requested: requestedBy: say who asked', 'correct it')).toEqual({
      reason: 'requestedBy: say who asked',
      fix: 'correct it',
    });
  });
});

const tailed = (detailType: string, detail: Record<string, unknown>): TailedEvent => ({
  id: 'e-1',
  time: '2026-12-05T22:00:00Z',
  source: 'bakehouse',
  detailType,
  detail,
});

describe('rejectionOf', () => {
  const promotionRejected = tailed('Promotion Rejected', {
    requestEventId: 'req-1',
    reason: "refused to promote ami-1 to web/stable: it belongs to family 'base'",
    fix: "promote an image of family 'web'",
  });

  it('is the rejection of the request it names, with the reason and the fix', () => {
    // Act & Assess
    expect(rejectionOf(promotionRejected, 'Promotion Rejected', { eventId: 'req-1' })).toEqual({
      detailType: 'Promotion Rejected',
      requestEventId: 'req-1',
      reason: "refused to promote ami-1 to web/stable: it belongs to family 'base'",
      fix: "promote an image of family 'web'",
    });
  });

  it("is nothing for another request's rejection, another detail-type, or before the request has an id", () => {
    // Act & Assess
    expect(rejectionOf(promotionRejected, 'Promotion Rejected', { eventId: 'req-2' })).toBeUndefined();
    expect(rejectionOf(promotionRejected, 'Bake Rejected', { eventId: 'req-1' })).toBeUndefined();
    expect(rejectionOf(promotionRejected, 'Promotion Rejected', { eventId: undefined })).toBeUndefined();
  });

  it('matches a Bake Rejected by the bake id as well', () => {
    // Prepare
    const event = tailed('Bake Rejected', { requestEventId: 'other', bakeId: 'web-1', reason: 'r', fix: 'f' });

    // Act & Assess
    expect(rejectionOf(event, 'Bake Rejected', { eventId: 'req-1', bakeId: 'web-1' })).toMatchObject({ fix: 'f' });
  });

  it("reads the fix out of a Revocation Rejected's reason, which carries both", () => {
    // Prepare
    const event = tailed('Revocation Rejected', {
      requestEventId: 'req-3',
      reason:
        'rejected AMI Revoked req-3: amiId: no image ami-1 in this account. Fix: name an existing Bakehouse image',
    });

    // Act
    const rejection = rejectionOf(event, 'Revocation Rejected', { eventId: 'req-3' });

    // Assess
    expect(rejection).toMatchObject({
      reason: 'amiId: no image ami-1 in this account',
      fix: 'name an existing Bakehouse image',
    });
    expect(describeRejection(rejection as never)).toBe(
      'amiId: no image ami-1 in this account.\nFix: name an existing Bakehouse image',
    );
  });
});

describe('watchOutcomes on the sandbox', () => {
  let server: Server | undefined;

  afterEach(async () => {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** A stand-in event log: `old` already logged, `later` logged once the watch has read it once. */
  const eventLog = async (old: TailedEvent[], later: TailedEvent[]): Promise<{ url: string; reads: string[] }> => {
    const reads: string[] = [];
    const asLogged = (e: TailedEvent) => ({ event: { ...e, 'detail-type': e.detailType } });
    const listening = createServer((request, response) => {
      reads.push(request.url ?? '');
      const first = reads.length === 1;
      response.setHeader('content-type', 'application/json');
      response.end(JSON.stringify((first ? old : later).map(asLogged)));
    });
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, '127.0.0.1', resolve));
    return { url: `http://127.0.0.1:${(listening.address() as AddressInfo).port}`, reads };
  };

  const context = (endpoint: string, stderr: string[] = []): CommandContext =>
    ({
      target: { endpoint, sandbox: true, region: 'us-east-1' },
      names: { bus: 'bakehouse-test' },
      io: { stdout: { write: () => true }, stderr: { write: (t: string) => stderr.push(t) }, env: {} },
      json: false,
      now: () => new Date('2026-12-05T22:00:00Z'),
      sleep: (ms: number) => new Promise((resolve) => setTimeout(resolve, ms)),
      signal: new AbortController().signal,
      pollMs: 5,
    }) as unknown as CommandContext;

  it('sees the events logged after it is ready, not those before, and stops reading when closed', async () => {
    // Prepare
    const before = { ...tailed('Promotion Rejected', { requestEventId: 'req-old' }), id: 'old' };
    const after = { ...tailed('Promotion Rejected', { requestEventId: 'req-new' }), id: 'new' };
    const log = await eventLog([before], [after]);

    // Act
    const watch = await watchOutcomes(context(log.url), 5);
    await new Promise((resolve) => setTimeout(resolve, 50));
    const found = watch.find((e) => (e.detail.requestEventId as string) ?? undefined);
    await watch.close();
    const readsWhenClosed = log.reads.length;
    await new Promise((resolve) => setTimeout(resolve, 30));

    // Assess
    expect(found).toBe('req-new');
    expect(log.reads[0]).toBe('/_sandbox/events?bus=bakehouse-test');
    expect(log.reads[1]).toBe('/_sandbox/events?bus=bakehouse-test&since=old');
    expect(log.reads.length).toBe(readsWhenClosed);
  });

  it('sees nothing, and says so on stderr, when it cannot start', async () => {
    // Prepare: a port nobody listens on
    const log = await eventLog([], []);
    const closed = log.url;
    await new Promise<void>((resolve) => server?.close(() => resolve()));
    server = undefined;
    const stderr: string[] = [];

    // Act
    const watch = await watchOutcomes(context(closed, stderr), 5);

    // Assess
    expect(watch.find(() => true)).toBeUndefined();
    expect(stderr.join('')).toMatch(/^\(not watching the bus for the outcome: /);
    await watch.close();
  });
});
