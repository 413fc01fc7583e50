import { beforeEach, describe, expect, it, vi } from 'vitest';
import { bakeIdFor } from '../../functions/commons/bake-id';
import type { BakehouseConfig, ConfigInput } from '../../functions/commons/families';
import { loadConfig } from '../../functions/commons/families';
import { type NotifyDeps, type NotifyState, notify } from '../../functions/notify/core';
import { SlackDeliveryError } from '../../functions/notify/errors';
import type { PostArguments, SlackPort } from '../../functions/notify/slack';
import { configInput, linuxFamily, recordingLogger } from './support/bake-factories';
import { type MemoryNotifyStore, memoryNotifyStore } from './support/memory-notify-store';
import { BAKE_ID, envelope, events, LINKS } from './support/notify-events';

/** Where Notify keeps state and takes turns (the state table, in memory). */
let store: MemoryNotifyStore;

interface FakeSlack extends SlackPort {
  readonly posts: PostArguments[];
  readonly updates: { channel: string; ts: string; text: string }[];
}

const fakeSlack = (mode: SlackPort['mode'] = 'web-api'): FakeSlack => {
  const posts: PostArguments[] = [];
  const updates: { channel: string; ts: string; text: string }[] = [];
  let ts = 0;
  return {
    mode,
    posts,
    updates,
    post: vi.fn(async (message: PostArguments) => {
      posts.push(message);
      ts += 1;
      return {
        channel: 'C0BAKEHOUSE',
        ts: mode === 'webhook' ? undefined : `1700000000.${String(ts).padStart(6, '0')}`,
      };
    }),
    update: vi.fn(async (message) => {
      updates.push({ channel: message.channel, ts: message.ts, text: message.text });
    }),
  };
};

const config = (slack: Record<string, unknown> = {}): BakehouseConfig => {
  const input: ConfigInput = configInput([linuxFamily({ slack } as never)]);
  return loadConfig({ ...input, settings: { ...input.settings, slack: { channel: '#bakehouse' } } });
};

const deps = (slack: SlackPort | undefined, overrides: Partial<NotifyDeps> = {}) => {
  const metrics = { count: vi.fn() };
  const logger = recordingLogger();
  const built: NotifyDeps = {
    config: config(),
    store,
    slack: async () => slack,
    links: LINKS,
    clock: () => new Date('2026-01-14T09:00:00Z'),
    sleep: async () => undefined,
    logger,
    metrics,
    owner: 'request-1',
    ...overrides,
  };
  return { deps: built, metrics, logger };
};

const stateOf = (key = BAKE_ID): NotifyState => store.stateOf(key) as NotifyState;

beforeEach(() => {
  store = memoryNotifyStore();
});

describe('a bake in one thread', () => {
  it('posts one parent, updates it in place as the bake advances, and replies in its thread', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d, metrics } = deps(slack);
    const requested = envelope(
      'Bake Requested',
      { ...events.requested().detail, idempotencyKey: undefined },
      'req-1',
      'cli',
    );
    const bakeId = bakeIdFor('al2023-base', 'event:req-1');
    const retarget = <T extends { detail: Record<string, unknown> }>(e: T) => ({
      ...e,
      detail: { ...e.detail, bakeId },
    });

    // Act
    for (const event of [
      requested,
      retarget(events.started()),
      retarget(events.baked()),
      retarget(events.tested()),
      retarget(events.promoted()),
    ]) {
      await notify(event, d);
    }

    // Assess
    const parents = slack.posts.filter((p) => !p.threadTs);
    expect(parents).toHaveLength(1);
    expect(parents[0]?.channel).toBe('#bakehouse');
    expect(slack.updates).toHaveLength(4);
    expect(slack.updates.every((u) => u.ts === '1700000000.000001' && u.channel === 'C0BAKEHOUSE')).toBe(true);
    expect(slack.updates.at(-1)?.text).toContain('promoted');
    const replies = slack.posts.filter((p) => p.threadTs === '1700000000.000001');
    expect(replies.map((r) => r.text)).toEqual([
      expect.stringContaining('requested by'),
      expect.stringContaining('started'),
      expect.stringContaining('baked'),
      expect.stringContaining('passed its tests'),
      expect.stringContaining('stable now points at'),
    ]);
    expect(stateOf(bakeId)).toMatchObject({
      channel: 'C0BAKEHOUSE',
      ts: '1700000000.000001',
      state: { status: 'promoted' },
    });
    expect(metrics.count).toHaveBeenCalledWith('SlackMessagesSent', 2);
    expect(await store.locks.read(`lock#slack#${bakeId}`)).toBeUndefined();
  });

  it('keeps a failed bake failed when a late event arrives', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    await notify(events.started(), d);
    await notify(events.failed(), d);
    await notify(events.baked(), d);

    // Assess
    expect(stateOf().state).toMatchObject({ status: 'failed', failedStep: 'WaitForAutomation/patchPackages' });
    expect(slack.updates.at(-1)?.text).toContain('failed');
  });
});

describe('canaries', () => {
  it("reply in the bake's thread, one message each, and show the canary on the parent", async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    for (const event of [events.started(), events.tested(), events.canaryStarted(), events.canaryJudged('pass')]) {
      await notify(event, d);
    }

    // Assess
    expect(slack.posts.filter((p) => !p.threadTs)).toHaveLength(1);
    const replies = slack.posts.filter((p) => p.threadTs === '1700000000.000001');
    expect(replies.map((r) => r.text)).toEqual([
      expect.stringContaining('started'),
      expect.stringContaining('passed its tests'),
      expect.stringContaining('Canary started for ami-0a1b2c3d4e5f60718'),
      expect.stringContaining('Canary pass'),
    ]);
    expect(stateOf().state).toMatchObject({ status: 'tested', canary: { verdict: 'pass', score: 92 } });
    expect(slack.updates.at(-1)?.text).toContain('tested');
  });

  it('marks the parent as running while the canary runs', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    await notify(events.tested(), d);
    await notify(events.canaryStarted(), d);

    // Assess
    expect(stateOf().state).toMatchObject({ canary: { verdict: 'running', score: null } });
  });

  it('posts a redelivered Canary Judged once', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    const judged = events.canaryJudged();

    // Act
    await notify(judged, d);
    const again = await notify(judged, d);

    // Assess
    expect(again.outcome).toBe('duplicate');
    expect(slack.posts.filter((p) => p.text.includes('Canary fail'))).toHaveLength(1);
  });
});

describe('redelivery', () => {
  it('changes nothing when the same event id arrives again', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    const baked = events.baked();
    await notify(events.started(), d);
    await notify(baked, d);
    const calls = slack.posts.length + slack.updates.length;

    // Act
    const again = await notify(structuredClone(baked), d);

    // Assess
    expect(again.outcome).toBe('duplicate');
    expect(slack.posts.length + slack.updates.length).toBe(calls);
  });

  it('keeps only the last 50 event ids', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    for (let i = 0; i < 55; i++) await notify(envelope('Bake Started', events.started().detail, `evt-${i}`), d);

    // Assess
    expect(stateOf().seen).toHaveLength(50);
    expect(stateOf().seen[0]).toBe('evt-5');
  });

  it('records a reply it posted even when another invocation wrote the state meanwhile, so a retry posts nothing again', async () => {
    // Prepare: the parent exists; while Slack takes the next reply, another notification of the
    // bake (whose lock lease ran out on this one) writes the state
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    await notify(events.started(), d);
    const post = slack.post;
    let intruded = false;
    const intruding: SlackPort = {
      ...slack,
      post: async (message) => {
        const posted = await post(message);
        if (!intruded && message.threadTs) {
          intruded = true;
          const { state, version } = await store.read(BAKE_ID);
          await store.write(
            BAKE_ID,
            { ...(state as NotifyState), seen: [...(state as NotifyState).seen, 'evt-other'] },
            version,
          );
        }
        return posted;
      },
    };
    const baked = events.baked();

    // Act
    const first = await notify(baked, { ...d, slack: async () => intruding });
    const replies = slack.posts.filter((p) => p.threadTs).length;
    const again = await notify(structuredClone(baked), d);

    // Assess
    expect(first.outcome).toBe('sent');
    expect(again.outcome).toBe('duplicate');
    expect(slack.posts.filter((p) => p.threadTs)).toHaveLength(replies);
    expect(stateOf().seen).toEqual(expect.arrayContaining(['evt-other', baked.id]));
  });

  it('waits for another invocation of the same bake, then posts no second parent', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    await notify(events.started(), d);
    const lock = `lock#slack#${BAKE_ID}`;
    await store.locks.acquire(lock, 'other', new Date(Date.now() + 60_000));
    setTimeout(() => void store.locks.release(lock, 'other'), 30); // the other invocation finishes

    // Act
    await notify(events.baked(), { ...d, owner: 'request-2' });

    // Assess: it took the lock only after the other let go
    expect(
      store.locks.turns.filter((t) => t.startsWith(`acquire ${lock}`) || t.startsWith(`release ${lock}`)).slice(-4),
    ).toEqual([
      `acquire ${lock} other`,
      `release ${lock} other`,
      `acquire ${lock} request-2`,
      `release ${lock} request-2`,
    ]);
    expect(slack.posts.filter((p) => !p.threadTs)).toHaveLength(1);
  });
});

describe('routing', () => {
  it("posts to the family's channel and mentions its people on failure", async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack, {
      config: config({ channel: '#team-images', mentionOnFailure: ['<!subteam^S0123ABCD>', '<@U0123ABCD>'] }),
    });

    // Act
    await notify(events.failed(), d);

    // Assess
    expect(slack.posts[0]?.channel).toBe('#team-images');
    const reply = slack.posts.find((p) => p.threadTs);
    expect(reply?.text).toMatch(/^<!subteam\^S0123ABCD> <@U0123ABCD> /);
    expect(JSON.stringify(reply?.blocks)).toContain('<@U0123ABCD>');
  });

  it('says nothing about skipped bakes of a quiet family, nor about its requests', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack, { config: config({ quiet: true }) });

    // Act
    const skipped = await notify(events.skipped(), d);
    const requested = await notify(events.requested(), d);

    // Assess
    expect([skipped.outcome, requested.outcome]).toEqual(['quiet', 'quiet']);
    expect(slack.posts).toHaveLength(0);
    expect(store.records.size).toBe(0);
  });

  it('reports skipped bakes of other families', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    await notify(events.skipped(), d);

    // Assess
    expect(slack.posts[0]?.text).toContain('skipped');
  });

  it('reports a request for a family the config does not know as rejected, naming the family and the fix', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    const result = await notify(
      envelope('Bake Requested', { family: 'nope', requestedBy: 'team-x' }, undefined, 'team.x'),
      d,
    );

    // Assess
    expect(result).toMatchObject({ outcome: 'rejected', messages: 1 });
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]?.text).toContain('Bake request rejected');
    const blocks = JSON.stringify(slack.posts[0]?.blocks);
    expect(blocks).toContain("family: no family named 'nope'");
    expect(blocks).toContain('Fix: use one of al2023-base');
    expect(blocks).not.toMatch(/requested a bake|bake requested by/i);
  });

  it('posts a janitor report as one message of its own, once', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    const report = events.janitor();

    // Act
    await notify(report, d);
    await notify(structuredClone(report), d);

    // Assess
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]?.channel).toBe('#bakehouse');
    expect(slack.posts[0]?.text).toContain('1 image(s) deregistered');
    expect(slack.updates).toHaveLength(0);
  });
});

describe('revocations: the outcome, never the request', () => {
  it('posts nothing for an AMI Revoked, which Revoke may refuse (a foreign or unknown image)', async () => {
    // Prepare: the request names an image Revoke will refuse; nothing has been revoked yet
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    const result = await notify(events.revoked(), d);

    // Assess
    expect(result.outcome).toBe('ignored');
    expect(slack.posts).toHaveLength(0);
    expect(store.records.size).toBe(0);
  });

  it("announces a channel Revoke moved back, from its AMI Promoted (cause 'revocation'), as a message of its own", async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    const moved = events.promoted();
    moved.detail = { ...moved.detail, cause: 'revocation', promotedBy: 'team-security' };

    // Act
    const result = await notify(moved, d);

    // Assess
    expect(result).toMatchObject({ outcome: 'sent', messages: 1 });
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]?.threadTs).toBeUndefined();
    expect(JSON.stringify(slack.posts)).not.toContain('was revoked');
  });

  const completed = (overrides: Record<string, unknown> = {}) =>
    envelope('Revocation Completed', {
      version: '1.0',
      requestEventId: 'req-1',
      amiId: 'ami-0fedcba9876543210',
      family: 'al2023-base',
      reason: 'CVE-2026-0001 in openssl',
      requestedBy: 'team-security',
      cascade: true,
      revoked: ['ami-0fedcba9876543210', 'ami-0123456789abcdef0'],
      channelsMoved: [],
      stranded: [{ family: 'al2023-base', channel: 'stable', amiId: 'ami-0fedcba9876543210' }],
      ...overrides,
    });

  it('announces a revocation that moved no channel, from Revocation Completed, with what it revoked and stranded', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    const result = await notify(completed(), d);

    // Assess
    expect(result).toMatchObject({ outcome: 'sent', messages: 1 });
    const text = JSON.stringify(slack.posts);
    expect(slack.posts[0]?.text).toBe(
      'al2023-base: ami-0fedcba9876543210 revoked by team-security (1 channel(s) stranded)',
    );
    expect(text).toContain('ami-0123456789abcdef0');
    expect(text).toContain('none held it');
    expect(text).toContain('Stranded on a revoked image');
  });

  it('announces one revocation once, however often its outcome arrives', async () => {
    // Prepare: the same outcome redelivered with a new event id
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    await notify(completed(), d);
    const again = await notify(completed(), d);

    // Assess
    expect(again.outcome).toBe('duplicate');
    expect(slack.posts).toHaveLength(1);
  });

  it("reports a refused revocation once, as rejected, though each of Revoke's tries publishes it", async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    const refused = () =>
      envelope('Revocation Rejected', {
        version: '1.0',
        requestEventId: 'req-9',
        amiId: 'ami-0fedcba9876543210',
        requestedBy: 'cli:mallory',
        reason: 'rejected AMI Revoked req-9: amiId: ami-0fedcba9876543210 is not a Bakehouse image',
      });

    // Act
    const outcomes = [];
    for (let attempt = 0; attempt < 3; attempt += 1) outcomes.push((await notify(refused(), d)).outcome);

    // Assess
    expect(outcomes).toEqual(['rejected', 'duplicate', 'duplicate']);
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]?.text).toBe('Revocation of ami-0fedcba9876543210 refused: nothing was revoked');
    expect(JSON.stringify(slack.posts)).toContain('is not a Bakehouse image');
    expect(JSON.stringify(slack.posts)).not.toMatch(/ revoked by /);
  });
});

describe('refused bakes and promotions (Bake Rejected, Promotion Rejected)', () => {
  const AMI_OTHER = 'ami-0fedcba9876543210';
  const promotionRejected = (overrides: Record<string, unknown> = {}, id?: string) =>
    envelope(
      'Promotion Rejected',
      {
        version: '1.0',
        requestEventId: 'req-p1',
        requestDetailType: 'Promote Requested',
        family: 'al2023-base',
        channel: 'stable',
        amiId: AMI_OTHER,
        requestedBy: 'cli:alice',
        bakeId: null,
        reason: `refused to promote ${AMI_OTHER} to al2023-base/stable: it belongs to family 'al2023-web'`,
        fix: "promote an image of family 'al2023-base'",
        ...overrides,
      },
      id,
    );
  const bakeRejected = (overrides: Record<string, unknown> = {}) =>
    envelope('Bake Rejected', {
      version: '1.0',
      requestEventId: 'req-b1',
      family: 'al2023-ghost',
      idempotencyKey: 'ticket-1',
      requestedBy: 'cli:alice',
      bakeId: bakeIdFor('al2023-ghost', 'ticket-1'),
      reason: "family: no family named 'al2023-ghost' in this deployment",
      fix: 'use one of al2023-base',
      ...overrides,
    });

  it("posts a refused promotion once, with the field and the fix, though each of Promote's tries publishes it", async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    const outcomes = [];
    for (let attempt = 0; attempt < 3; attempt += 1) outcomes.push((await notify(promotionRejected(), d)).outcome);

    // Assess
    expect(outcomes).toEqual(['rejected', 'duplicate', 'duplicate']);
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]).toMatchObject({
      channel: '#bakehouse',
      text: `Promotion of ${AMI_OTHER} to al2023-base/stable refused: no channel moved`,
    });
    expect(slack.posts[0]?.threadTs).toBeUndefined();
    const blocks = JSON.stringify(slack.posts[0]?.blocks);
    expect(blocks).toContain("it belongs to family 'al2023-web'");
    expect(blocks).toContain("*Fix*\\npromote an image of family 'al2023-base'");
    expect(blocks).toContain('cli:alice');
  });

  it("replies in the bake's thread when the refusal belongs to a bake that has one, leaving the parent as it is", async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    await notify(events.requested(), d);
    await notify(events.started(), d);
    const parent = stateOf(BAKE_ID);
    const updates = slack.updates.length;

    // Act
    const result = await notify(
      promotionRejected({ requestDetailType: 'AMI Tested', bakeId: BAKE_ID, requestedBy: null }),
      d,
    );

    // Assess
    expect(result.outcome).toBe('rejected');
    const reply = slack.posts.at(-1);
    expect(reply).toMatchObject({ channel: parent.channel, threadTs: parent.ts });
    expect(reply?.text).toContain('refused');
    expect(slack.updates).toHaveLength(updates);
    expect(stateOf(BAKE_ID)).toEqual(parent);
  });

  it('posts a message of its own when the bake it names has no thread (yet, or any more)', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    await notify(promotionRejected({ bakeId: 'al2023-base-ffffffffffffffffffffffffffffffff' }), d);

    // Assess
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]?.threadTs).toBeUndefined();
    expect(store.stateOf('al2023-base-ffffffffffffffffffffffffffffffff')).toBeUndefined();
  });

  it('posts a refused bake once, with the field and the fix, in the default channel for a family it does not know', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    const first = await notify(bakeRejected(), d);
    const again = await notify(bakeRejected(), d);

    // Assess
    expect([first.outcome, again.outcome]).toEqual(['rejected', 'duplicate']);
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]).toMatchObject({
      channel: '#bakehouse',
      text: 'Bake request rejected: al2023-ghost from cli:alice: no bake starts',
    });
    const blocks = JSON.stringify(slack.posts[0]?.blocks);
    expect(blocks).toContain("family: no family named 'al2023-ghost' in this deployment");
    expect(blocks).toContain('use one of al2023-base');
  });

  it.each([
    ['Bake Requested first', true],
    ['Bake Rejected first', false],
  ])(
    'posts one message for a request Notify rejects itself and StartBake rejects too (%s)',
    async (_order, requestFirst) => {
      // Prepare
      const slack = fakeSlack();
      const { deps: d } = deps(slack);
      const request = envelope(
        'Bake Requested',
        { family: 'al2023-ghost', requestedBy: 'cli:alice' },
        'req-b1',
        'bakehouse.cli',
      );

      // Act
      const results = [];
      for (const event of requestFirst ? [request, bakeRejected()] : [bakeRejected(), request]) {
        results.push((await notify(event, d)).outcome);
      }

      // Assess
      expect(results).toEqual(['rejected', 'duplicate']);
      expect(slack.posts).toHaveLength(1);
    },
  );

  it.each([
    ['the event first', true],
    ['Promotion Rejected first', false],
  ])(
    'posts one message for an event that breaks the contract, which Promote rejects too (%s)',
    async (_order, eventFirst) => {
      // Prepare: an AMI Tested without its amiId reaches Notify, and Promote, which answers it
      const slack = fakeSlack();
      const { deps: d } = deps(slack);
      const { amiId: _missing, ...malformed } = events.tested().detail;
      const event = envelope('AMI Tested', malformed, 'req-t1');
      const rejected = promotionRejected({
        requestEventId: 'req-t1',
        requestDetailType: 'AMI Tested',
        channel: null,
        amiId: null,
        requestedBy: null,
        reason: 'amiId: must be a string',
      });

      // Act
      const results = [];
      for (const e of eventFirst ? [event, rejected] : [rejected, event]) results.push((await notify(e, d)).outcome);

      // Assess
      expect(results).toEqual(['rejected', 'duplicate']);
      expect(slack.posts).toHaveLength(1);
    },
  );

  it('posts a rejection as a message of its own with a webhook (no threads)', async () => {
    // Prepare
    const slack = fakeSlack('webhook');
    const { deps: d } = deps(slack);
    await notify(events.requested(), d);

    // Act
    await notify(promotionRejected({ bakeId: BAKE_ID }), d);

    // Assess
    expect(slack.posts).toHaveLength(2);
    expect(slack.posts[1]?.threadTs).toBeUndefined();
    expect(slack.posts[1]?.text).toContain('refused');
  });
});

describe('webhook mode', () => {
  it('posts one message per event, never updates, and still deduplicates', async () => {
    // Prepare
    const slack = fakeSlack('webhook');
    const { deps: d } = deps(slack);
    const baked = events.baked();

    // Act
    await notify(events.started(), d);
    await notify(baked, d);
    await notify(structuredClone(baked), d);

    // Assess
    expect(slack.posts).toHaveLength(2);
    expect(slack.posts.every((p) => p.threadTs === undefined)).toBe(true);
    expect(slack.updates).toHaveLength(0);
    expect(JSON.stringify(slack.posts[1]?.blocks)).toContain('Updated (2)');
  });
});

describe('failures', () => {
  it('posts one rejection of a malformed Bake Requested, naming the field and the fix, and does not throw', async () => {
    // Prepare: another team's request with no requestedBy and a misspelt field
    const slack = fakeSlack();
    const { deps: d, metrics } = deps(slack);
    const request = envelope(
      'Bake Requested',
      { version: '1.0', family: 'al2023-base', reasn: 'CVE-2026-1234' },
      'team-request-1',
      'team.payments',
    );

    // Act
    const result = await notify(request, d);

    // Assess
    expect(result).toMatchObject({ outcome: 'rejected', messages: 1 });
    expect(slack.posts).toHaveLength(1);
    const [posted] = slack.posts;
    expect(posted?.channel).toBe('#bakehouse');
    expect(posted?.threadTs).toBeUndefined();
    expect(posted?.text).toBe('Bake request rejected: team-request-1 from team.payments');
    const blocks = JSON.stringify(posted?.blocks);
    // One line per problem, field first (the wording is describeIssues', as in every Bakehouse rejection).
    const why = (posted?.blocks ?? [])
      .map((b) => (b.type === 'section' ? (b.text?.text ?? '') : ''))
      .find((text) => text.startsWith('*Why*'));
    expect(why?.split('\n')).toEqual([
      '*Why*',
      expect.stringMatching(/^• requestedBy: /),
      expect.stringContaining('reasn'),
    ]);
    expect(blocks).toContain('no bake starts');
    expect(metrics.count).toHaveBeenCalledWith('SlackMessagesSent', 1);
  });

  it('posts the rejection once when the same malformed request is delivered again', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    const request = envelope('Bake Requested', { family: 'al2023-base' }, 'team-request-2', 'team.payments');

    // Act
    const first = await notify(request, d);
    const again = await notify(structuredClone(request), d);

    // Assess
    expect([first.outcome, again.outcome]).toEqual(['rejected', 'duplicate']);
    expect(slack.posts).toHaveLength(1);
  });

  it('reports any event that breaks the contract as rejected instead of failing: a retry cannot fix it', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);

    // Act
    const result = await notify(envelope('AMI Baked', { version: '1.0', bakeId: BAKE_ID }, 'baked-1'), d);

    // Assess
    expect(result.outcome).toBe('rejected');
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]?.text).toBe('AMI Baked event rejected: baked-1 from bakehouse');
    expect(JSON.stringify(slack.posts[0]?.blocks)).toContain('• family: ');
  });

  it('still throws for a rejection Slack does not take, so the dead-letter queue keeps the delivery failure', async () => {
    // Prepare
    const slack = fakeSlack();
    slack.post = vi.fn(async () => {
      throw new SlackDeliveryError('chat.postMessage failed: ratelimited');
    });
    const { deps: d } = deps(slack);

    // Act & Assess
    await expect(notify(envelope('Bake Requested', { family: 'al2023-base' }), d)).rejects.toMatchObject({
      name: 'SlackDeliveryError',
    });
  });

  it('counts a dropped message, releases the lock and throws when Slack does not take it', async () => {
    // Prepare
    const slack = fakeSlack();
    slack.post = vi.fn(async () => {
      throw new SlackDeliveryError('chat.postMessage failed: ratelimited');
    });
    const { deps: d, metrics } = deps(slack);

    // Act
    const error = await notify(events.started(), d).catch((e: Error) => e);

    // Assess
    expect(error).toMatchObject({ name: 'SlackDeliveryError' });
    expect(metrics.count).toHaveBeenCalledWith('SlackMessagesDropped');
    expect(store.records.size).toBe(0);
  });

  it('posts no second parent when the reply failed and the event comes again', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    const post = slack.post;
    let calls = 0;
    slack.post = vi.fn(async (m: PostArguments) => {
      calls += 1;
      if (calls === 2) throw new SlackDeliveryError('chat.postMessage failed: internal_error');
      return post(m);
    });
    const started = events.started();
    await notify(started, d).catch(() => undefined);

    // Act
    await notify(structuredClone(started), d);

    // Assess
    expect(slack.posts.filter((p) => !p.threadTs)).toHaveLength(1);
    expect(slack.posts.filter((p) => p.threadTs)).toHaveLength(1);
  });

  it('keeps every state record within 4 KB, whatever the event carries', async () => {
    // Prepare
    const slack = fakeSlack();
    const { deps: d } = deps(slack);
    const reason = `AutomationFailed: ${'dnf: cannot download metadata; '.repeat(3300)}`;

    // Act
    await notify(envelope('Bake Failed', { ...events.failed().detail, reason }), d);

    // Assess
    const written = [...store.records.values()].map((r) => Buffer.byteLength(r.text));
    expect(written.length).toBeGreaterThan(0);
    expect(Math.max(...written)).toBeLessThanOrEqual(4096);
  });

  it('drops messages with a warning while the secret holds no token or URL', async () => {
    // Prepare
    const { deps: d, metrics, logger } = deps(undefined);

    // Act
    const result = await notify(events.started(), d);

    // Assess
    expect(result.outcome).toBe('not-configured');
    expect(metrics.count).toHaveBeenCalledWith('SlackMessagesDropped');
    expect(logger.warn).toHaveBeenCalled();
  });
});

describe('the slack configuration', () => {
  it('rejects a mention that is not a Slack user group or user, naming the family and field', () => {
    // Act
    const error = (() => {
      try {
        config({ mentionOnFailure: ['@oncall'] });
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();

    // Assess
    expect(error?.message).toMatch(/family 'al2023-base': slack\.mentionOnFailure\.0: .*subteam/);
  });
});
