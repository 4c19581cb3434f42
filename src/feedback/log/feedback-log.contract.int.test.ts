import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type RedisProcess, startRedis } from '../../../test/support/redis.js';
import { buildRuleset } from '../../ruleset/load.js';
import { FeedbackService } from '../../service/feedback-service.js';
import { MemoryContactHistoryStore } from '../../store/contact-history-store.js';
import { RedisConnection, type RedisReply } from '../../store/redis/redis-connection.js';
import { RedisKeys } from '../../store/redis/redis-keys.js';
import { type AttributionWindows, CLOCK_SKEW_MS } from '../attribution.js';
import type {
  DecisionLogEntry,
  FeedbackEvent,
  FeedbackVerdict,
  OutcomeEvent,
  SubmittedEvent,
} from '../feedback-event.js';
import type { FeedbackLog } from './feedback-log.js';
import { FeedbackSpool } from './feedback-spool.js';
import { MemoryFeedbackLog } from './memory-feedback-log.js';
import { RedisFeedbackLog } from './redis-feedback-log.js';

// One table of cases, run through the embedded log (judge() in TypeScript) and the Redis log (the
// intake script in Lua): the two must give the same verdict, with the same reason, every time.

const log = pino({ level: 'silent' });
const HOUR = 3_600_000;
const WINDOWS: AttributionWindows = { reactionMs: 24 * HOUR, conversionMs: 7 * 24 * HOUR };
const T0 = Date.now() - 10 * 24 * HOUR;

function decision(id: string, at: number): DecisionLogEntry {
  const offer = (offerId: string, probability: number) => ({
    offerId,
    campaignId: 'cards',
    segmentId: offerId === 'gold' ? 'young' : null,
    score: 1.5,
    propensity: 0.1,
    probability,
  });
  return {
    decisionId: id,
    customerId: 'c1',
    channel: 'web',
    placement: null,
    rulesetVersion: 'v1',
    at,
    offers: [offer('gold', 1), offer('silver', 1)],
    heldOut: [offer('platinum', 0)],
  };
}

let seq = 0;
function event(
  decisionId: string,
  type: FeedbackEvent['type'],
  at: number,
  more: Partial<FeedbackEvent> = {},
): FeedbackEvent {
  return {
    eventId: `e${++seq}`,
    decisionId,
    offerId: 'gold',
    customerId: 'c1',
    type,
    value: null,
    at,
    ...more,
  };
}

let outcomes = 0;
function outcome(at: number): OutcomeEvent {
  return {
    eventId: `o${++outcomes}`,
    customerId: 'c1',
    type: 'purchase',
    productId: 'gold-card',
    value: 120,
    at,
    channel: null,
    source: 'order-system',
  };
}

interface Case {
  readonly name: string;
  /** Submitted in one batch, `now` = receivedAt. */
  readonly events: (d: string, decidedAt: number) => SubmittedEvent[];
  readonly expected: readonly (readonly [FeedbackVerdict['status'], string | null])[];
  /** Decision age at submit time. */
  readonly age?: number;
}

const CASES: readonly Case[] = [
  {
    name: 'a click, then the same event again',
    events: (d, t) => {
      const click = event(d, 'click', t + 1000);
      return [click, { ...click }];
    },
    expected: [
      ['accepted', null],
      ['duplicate', `event e${0} was recorded before`],
    ],
  },
  {
    name: 'an unknown decision',
    events: (_d, t) => [event('no-such-decision', 'click', t)],
    expected: [['unknown_decision', 'no such decision, or it is older than the attribution window']],
  },
  {
    name: 'another customer',
    events: (d, t) => [event(d, 'click', t, { customerId: 'c2' })],
    expected: [['conflict', 'customerId is not the customer of the decision']],
  },
  {
    name: 'an offer the decision did not show',
    events: (d, t) => [event(d, 'click', t, { offerId: 'bronze' })],
    expected: [['unknown_offer', 'the decision neither showed nor held out this offer']],
  },
  {
    name: 'before the decision, and in the future',
    events: (d, t) => [
      event(d, 'click', t - CLOCK_SKEW_MS - 1),
      // Received at t + 60 s (the default age), so this is a minute past the allowed skew.
      event(d, 'accept', t + 60_000 + CLOCK_SKEW_MS + 60_000),
    ],
    expected: [
      ['conflict', 'timestamp is before the decision'],
      ['conflict', 'timestamp is in the future'],
    ],
  },
  {
    name: 'a click after the reaction window; a conversion within its own',
    events: (d, t) => [
      event(d, 'click', t + 25 * HOUR),
      event(d, 'convert', t + 25 * HOUR, { value: 120.5 }),
    ],
    expected: [
      ['too_late', 'click came after the attribution window of 24 h'],
      ['accepted', null],
    ],
    age: 2 * 24 * HOUR,
  },
  {
    name: 'a conversion after the conversion window (its decision not yet forgotten)',
    events: (d, t) => [event(d, 'convert', t + 7 * 24 * HOUR + 60_000)],
    expected: [['too_late', 'convert came after the attribution window of 168 h']],
    age: 7 * 24 * HOUR + 120_000,
  },
  {
    name: 'any event of a decision older than the conversion window',
    events: (d, t) => [event(d, 'convert', t + 60_000)],
    expected: [['unknown_decision', 'no such decision, or it is older than the attribution window']],
    age: 7 * 24 * HOUR + CLOCK_SKEW_MS + 60_000,
  },
  {
    name: 'a held-out offer: no accept, but a conversion',
    events: (d, t) => [
      event(d, 'accept', t, { offerId: 'platinum' }),
      event(d, 'convert', t, { offerId: 'platinum' }),
    ],
    expected: [
      ['conflict', 'the offer was held out (control group) and never shown'],
      ['accepted', null],
    ],
  },
  {
    name: 'accept, reject, accept again, and a dismissal of another offer',
    events: (d, t) => [
      event(d, 'accept', t + 1),
      event(d, 'reject', t + 2),
      event(d, 'accept', t + 3),
      event(d, 'dismiss', t + 4, { offerId: 'silver' }),
      event(d, 'accept', t + 5, { offerId: 'silver' }),
    ],
    expected: [
      ['accepted', null],
      ['conflict', 'the offer was already accepted'],
      ['duplicate', 'the offer was already accepted'],
      ['accepted', null],
      ['conflict', 'the offer was already dismissed'],
    ],
  },
  {
    name: 'an outcome beside a reaction, then the same outcome again (by event id)',
    events: (d, t) => {
      const purchase = outcome(t + 1000);
      return [purchase, event(d, 'click', t + 1000), { ...purchase, value: 99 }];
    },
    expected: [
      ['accepted', null],
      ['accepted', null],
      ['duplicate', 'event o0 was recorded before'],
    ],
  },
  {
    name: 'two clicks and two impressions of one offer',
    events: (d, t) => [
      event(d, 'click', t),
      event(d, 'click', t + 1),
      event(d, 'impression', t),
      event(d, 'impression', t),
    ],
    expected: [
      ['accepted', null],
      ['duplicate', 'a click of this offer was already recorded'],
      ['accepted', null],
      ['duplicate', 'a impression of this offer was already recorded'],
    ],
  },
];

let redis: RedisProcess;
let connection: RedisConnection;
let spoolDir: string;

beforeAll(async () => {
  redis = await startRedis();
  connection = await RedisConnection.open(
    { url: redis.url, clusterNodes: [], prefix: 'c', timeoutMs: 1000 },
    log,
  );
  spoolDir = await mkdtemp(path.join(tmpdir(), 'offerloop-contract-'));
});

afterAll(async () => {
  connection?.close();
  await redis?.stop();
  await rm(spoolDir, { recursive: true, force: true });
});

async function redisLog(clock: () => number = Date.now): Promise<FeedbackLog> {
  const spool = await FeedbackSpool.open(spoolDir, log);
  return RedisFeedbackLog.open(connection, new RedisKeys(`c${++seq}`), spool, log, {
    shards: 2,
    windows: WINDOWS,
    clock,
  });
}

function memoryLog(clock: () => number = Date.now): FeedbackLog {
  return new MemoryFeedbackLog(new MemoryContactHistoryStore(), {
    windows: WINDOWS,
    maxDecisions: 100,
    maxEntries: 100,
    clock,
  });
}

// The server's clock judges; Redis' clock only orders the log. So the verdicts must not change when
// the server's clock is far from Redis' (an injected test clock, a skewed host): docs/decisions/0006-clocks.md.
const YEAR = 365 * 24 * HOUR;
describe.each([
  ['embedded (judge)', memoryLog, 0],
  ['Redis (intake script)', redisLog, 0],
  ['Redis, the server a year ahead of Redis', redisLog, YEAR],
  ['Redis, the server a year behind Redis', redisLog, -YEAR],
] as const)('feedback verdicts: %s', (_name, open, offset) => {
  it.each(CASES)('$name', async (c) => {
    const clock = () => Date.now() + offset;
    const feedbackLog = await open(clock);
    const decidedAt = clock() - (c.age ?? 60_000);
    const id = `d-${++seq}`;
    feedbackLog.recordDecision(decision(id, decidedAt));
    const first = seq + 1;
    const firstOutcome = outcomes + 1;
    const events = c.events(id, decidedAt);
    const verdicts = await feedbackLog.submit(events, clock());
    // The first case's duplicate names the first event's id, known only now.
    const expected = c.expected.map(([status, reason]) => ({
      status,
      reason:
        reason?.replace('event e0 ', `event e${first} `).replace('event o0 ', `event o${firstOutcome} `) ??
        null,
    }));
    expect(verdicts).toEqual(expected);
    await feedbackLog.close();
  });
});

describe('feedback log on Redis', () => {
  it('is idempotent: the same batch twice is recorded once', async () => {
    const feedbackLog = await redisLog();
    const id = `d-${++seq}`;
    feedbackLog.recordDecision(decision(id, T0 + 9 * 24 * HOUR));
    const batch = [event(id, 'click', T0 + 9 * 24 * HOUR + 10), event(id, 'accept', T0 + 9 * 24 * HOUR + 20)];
    const once = await feedbackLog.submit(batch, Date.now());
    const twice = await feedbackLog.submit(batch, Date.now());
    expect(once.map((v) => v.status)).toEqual(['accepted', 'accepted']);
    expect(twice.map((v) => v.status)).toEqual(['duplicate', 'duplicate']);
    await feedbackLog.close();
  });

  it('writes each event into the log as it was submitted, ids JSON must escape too', async () => {
    const keys = new RedisKeys(`c${++seq}`);
    const feedbackLog = RedisFeedbackLog.open(
      connection,
      keys,
      await FeedbackSpool.open(spoolDir, log),
      log,
      {
        shards: 1,
        windows: WINDOWS,
        clock: Date.now,
      },
    );
    const id = `d-${++seq}`;
    const at = Date.now() - 60_000;
    feedbackLog.recordDecision(decision(id, at));
    // The script writes a plain event's JSON itself; one with quotes, backslashes or non-ASCII ids goes as JSON.
    const events = [
      event(id, 'click', at + 10),
      event(id, 'convert', at + 20, { value: 120.5 }),
      event(id, 'impression', at + 30, { eventId: `e"\\\\é\u2028-${++seq}` }),
      event(id, 'accept', at + 40, { offerId: 'silver', eventId: 'ø-1' }),
    ];
    const verdicts = await feedbackLog.submit(events, Date.now());
    expect(verdicts.map((v) => v.status)).toEqual(['accepted', 'accepted', 'accepted', 'accepted']);
    const again = await feedbackLog.submit([events[2]!], Date.now());
    expect(again).toEqual([
      { status: 'duplicate', reason: `event ${events[2]!.eventId} was recorded before` },
    ]);
    const entries = (await connection.send<RedisReply>(keys.feedbackLog(0), [
      'XRANGE',
      keys.feedbackLog(0),
      '-',
      '+',
    ])) as unknown as [string, string[]][];
    const logged = entries.filter(([, f]) => f[1] === 'f').map(([, f]) => JSON.parse(f[3]!) as unknown);
    expect(logged).toEqual(events);
    await feedbackLog.close();
  });

  it('replays a spool left behind: valid events into the log once, invalid ones into the rejected stream', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'offerloop-replay-'));
    const keys = new RedisKeys(`c${++seq}`);
    const id = `d-${++seq}`;
    const at = Date.now() - 60_000;
    const valid = event(id, 'click', at + 10);
    const unknown = event('no-such-decision', 'click', at + 10);
    const purchase = outcome(at + 20);
    // What a server that died while Redis was down leaves: a decision, its click (twice, as a
    // client retry), and an event for a decision nobody made.
    const left = await FeedbackSpool.open(dir, log);
    await left.append([
      `d ${JSON.stringify(decision(id, at))}`,
      ...[valid, valid, unknown].map((e) => `f ${Date.now()} ${JSON.stringify(e)}`),
      ...[purchase, purchase].map((e) => `o ${Date.now()} ${JSON.stringify(e)}`),
    ]);
    await left.close();

    const feedbackLog = RedisFeedbackLog.open(connection, keys, await FeedbackSpool.open(dir, log), log, {
      shards: 1,
      windows: WINDOWS,
      clock: Date.now,
    });
    const send = (args: string[]) => connection.send<RedisReply>(args[1], args);
    for (let i = 0; i < 100 && feedbackLog.health().mode !== 'direct'; i++) await sleep(50);
    expect(feedbackLog.health()).toMatchObject({ mode: 'direct', spool: { segments: 0 } });
    const entries = (await send(['XRANGE', keys.feedbackLog(0), '-', '+'])) as unknown as [
      string,
      string[],
    ][];
    expect(entries.map(([, fields]) => fields[1])).toEqual(['d', 'f', 'o']);
    const rejected = (await send(['XRANGE', keys.feedbackRejected(0), '-', '+'])) as unknown as [
      string,
      string[],
    ][];
    expect(rejected.map(([, fields]) => fields.slice(2))).toEqual([
      ['s', 'unknown_decision', 'r', 'no such decision, or it is older than the attribution window'],
    ]);
    await feedbackLog.close();
    await rm(dir, { recursive: true, force: true });
  });
});

describe('feedback that arrives before its decision', () => {
  it('is judged again after a pause, so the race between servers loses nothing', async () => {
    const feedbackLog = await redisLog();
    const service = new FeedbackService({
      feedbackLog,
      clock: Date.now,
      // Only reactions here: outcomes would need a catalog and customers.
      rules: { current: buildRuleset([], 0) },
      profiles: { exists: () => Promise.resolve(false), update: () => Promise.resolve(null) },
    });
    const decidedAt = Date.now();
    // Another server answered the decision and is still writing it when the accept arrives here.
    const receipt = service.record([
      { eventId: 'race-1', decisionId: 'd-race', offerId: 'gold', customerId: 'c1', type: 'accept' },
    ]);
    await sleep(50);
    feedbackLog.recordDecision(decision('d-race', decidedAt));
    expect((await receipt).results).toEqual([{ eventId: 'race-1', status: 'accepted' }]);
    // A decision that never comes is still refused, after the pauses.
    const started = Date.now();
    const never = await service.record([
      { eventId: 'race-2', decisionId: 'd-never', offerId: 'gold', customerId: 'c1', type: 'accept' },
    ]);
    expect(never.results[0]?.status).toBe('unknown_decision');
    expect(Date.now() - started).toBeGreaterThanOrEqual(1400);
    await feedbackLog.close();
  });
});
