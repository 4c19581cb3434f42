import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { counterField, dayOf } from '../src/feedback/feedback-effects.js';
import type { MemoryFeedbackLog } from '../src/feedback/log/memory-feedback-log.js';
import type { Services } from '../src/services.js';
import { postDecision, type TestServer, testServer } from './helpers.js';

// POST /v1/feedback on the embedded store: the same verdicts as with Redis (the contract test
// holds the two together), the effects on counters and on contact policy, and refusals.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const KEYS = 'agent-key=decide+feedback,decide-key=decide';
const auth = (key: string) => ({ authorization: `Bearer ${key}` });

let server: TestServer;
let app: FastifyInstance;
let services: Services;

beforeAll(async () => {
  server = await testServer({ OFFERLOOP_API_KEYS: KEYS }, () => NOW);
  ({ app, services } = server);
});
afterAll(() => server.close());

const postFeedback = (events: object[], key = 'agent-key') =>
  app.inject({ method: 'POST', url: '/v1/feedback', headers: auth(key), payload: { events } });

async function decision(customerId: string, channel = 'web') {
  const res = await postDecision(app, 'agent-key', { customerId, channel });
  expect(res.statusCode).toBe(200);
  return res.json() as { decisionId: string; offers: { offerId: string; campaignId: string }[] };
}

let seq = 0;
const eventId = () => `ev-${++seq}`;

describe('POST /v1/feedback', () => {
  it('accepts a batch with 202, answers each event, and counts a retried batch once', async () => {
    const d = await decision('cust-1');
    const offerId = d.offers[0]!.offerId;
    const events = [
      { eventId: eventId(), decisionId: d.decisionId, offerId, customerId: 'cust-1', type: 'impression' },
      { eventId: eventId(), decisionId: d.decisionId, offerId, customerId: 'cust-1', type: 'click' },
      { eventId: eventId(), decisionId: 'no-such-decision', offerId, customerId: 'cust-1', type: 'click' },
    ];
    const first = await postFeedback(events);
    expect(first.statusCode).toBe(202);
    expect(first.json()).toEqual({
      accepted: 2,
      queued: 0,
      duplicates: 0,
      rejected: 1,
      results: [
        { eventId: events[0]!.eventId, status: 'accepted' },
        { eventId: events[1]!.eventId, status: 'accepted' },
        {
          eventId: events[2]!.eventId,
          status: 'unknown_decision',
          reason: 'no such decision, or it is older than the attribution window',
        },
      ],
    });
    const log = services.feedbackLog as MemoryFeedbackLog;
    const clicks = counterField(offerId, 'web', null, 'clicks');
    const before = log.stats.value(dayOf(NOW), clicks);
    const again = await postFeedback(events);
    expect(again.json()).toMatchObject({ accepted: 0, duplicates: 2, rejected: 1 });
    expect(log.stats.value(dayOf(NOW), clicks)).toBe(before);
  });

  it('feeds contact policy: an accepted offer is not offered again', async () => {
    const d = await decision('cust-1', 'call_center');
    const offer = d.offers[0]!;
    const res = await postFeedback([
      {
        eventId: eventId(),
        decisionId: d.decisionId,
        offerId: offer.offerId,
        customerId: 'cust-1',
        type: 'accept',
      },
    ]);
    expect(res.json().accepted).toBe(1);
    const next = await postDecision(app, 'agent-key', {
      customerId: 'cust-1',
      channel: 'call_center',
      explain: true,
    });
    const why = next.json().suppressed.find((s: { offerId: string }) => s.offerId === offer.offerId);
    expect(why).toMatchObject({ reason: 'suppressed_after_accept' });
  });

  it('counts revenue of a conversion and rejects a contradiction', async () => {
    const d = await decision('cust-2');
    const offer = d.offers[0]!;
    const base = { decisionId: d.decisionId, offerId: offer.offerId, customerId: 'cust-2' };
    const res = await postFeedback([
      { ...base, eventId: eventId(), type: 'reject', timestamp: '2026-11-22T12:00:03Z' },
      { ...base, eventId: eventId(), type: 'accept', timestamp: '2026-11-22T12:00:04Z' },
      { ...base, eventId: eventId(), type: 'convert', value: 99.5 },
    ]);
    expect(res.json().results.map((r: { status: string }) => r.status)).toEqual([
      'accepted',
      'conflict',
      'accepted',
    ]);
    expect(res.json().results[1].reason).toBe('the offer was already rejected');
    const log = services.feedbackLog as MemoryFeedbackLog;
    const revenue = [...log.stats.snapshot()].filter(
      ([k]) => k.includes(`|${offer.offerId}|web|`) && k.endsWith('|revenue'),
    );
    expect(revenue.map(([, v]) => v)).toEqual([99.5]);
  });

  it('refuses without the feedback scope, and bad input with a 400 that changes nothing', async () => {
    // A visitor of their own: the fixture customers have used up their contact limits by now.
    const d = await decision('visitor-400');
    const good = {
      eventId: eventId(),
      decisionId: d.decisionId,
      offerId: d.offers[0]!.offerId,
      customerId: 'visitor-400',
      type: 'click',
    };
    expect((await postFeedback([good], 'decide-key')).statusCode).toBe(403);
    expect(
      (await app.inject({ method: 'POST', url: '/v1/feedback', payload: { events: [good] } })).statusCode,
    ).toBe(401);
    for (const [bad, message] of [
      [{ ...good, type: 'like' }, /type/],
      [{ ...good, eventId: '' }, /eventId/],
      [{ ...good, timestamp: 'yesterday' }, /timestamp/],
      [{ ...good, timestamp: '2026-02-30T10:00:00Z' }, /not a valid date/],
      [{ ...good, colour: 'red' }, /unknown field 'colour'/],
    ] as const) {
      const res = await postFeedback([good, bad]);
      expect(res.statusCode, JSON.stringify(bad)).toBe(400);
      expect(res.json().error.message).toMatch(message);
    }
    const empty = await app.inject({
      method: 'POST',
      url: '/v1/feedback',
      headers: auth('agent-key'),
      payload: { events: [] },
    });
    expect(empty.statusCode).toBe(400);
    const tooMany = await postFeedback(Array.from({ length: 1001 }, () => good));
    expect(tooMany.statusCode).toBe(400);
    // None of the refused batches recorded the good event.
    expect((await postFeedback([good])).json().accepted).toBe(1);
  });

  it('logs every decision, with what was shown and held out', async () => {
    const d = await decision('cust-2', 'call_center');
    const log = services.feedbackLog as MemoryFeedbackLog;
    const entry = log.entries().find((e) => e.kind === 'decision' && e.decision.decisionId === d.decisionId);
    expect(entry).toMatchObject({
      kind: 'decision',
      decision: { customerId: 'cust-2', channel: 'call_center', at: NOW, rulesetVersion: expect.any(String) },
    });
    if (entry?.kind !== 'decision') throw new Error('no decision entry');
    expect(entry.decision.offers.map((o) => o.offerId)).toEqual(d.offers.map((o) => o.offerId));
    expect(entry.decision.offers.every((o) => o.probability === 1)).toBe(true);
  });
});
