import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../ruleset/time.js';
import {
  AFFINITY_BIN_MAX,
  AFFINITY_BIN_MIN,
  affinityBinOf,
  affinityOfBin,
  contactEventOf,
  counterField,
  countersOf,
  DAY_BUCKETS,
  DAY_METRICS,
  dayBucketOf,
  FeedbackStats,
  METRICS,
  parseCounterField,
} from './feedback-effects.js';
import type {
  Attribution,
  DecisionLogEntry,
  FeedbackEvent,
  FeedbackType,
  LogEntry,
  LoggedOffer,
} from './feedback-event.js';

const DAY = 20_000;
const AT = DAY * DAY_MS + 3_600_000;

const offer = (offerId: string, segmentId: string | null): LoggedOffer => ({
  offerId,
  campaignId: 'cards',
  segmentId,
  score: 1,
  propensity: 0.1,
  probability: 1,
});

const logged: DecisionLogEntry = {
  decisionId: 'd1',
  customerId: 'cust-1',
  channel: 'web',
  placement: 'home',
  rulesetVersion: 'v1',
  at: AT,
  offers: [{ ...offer('gold-card', 'vip'), prior: 0.25 }, offer('loan', null)],
  heldOut: [offer('travel', 'vip')],
};
const decision: LogEntry = { kind: 'decision', decision: logged };

const shown: Attribution = { channel: 'call_center', campaignId: 'cards', segmentId: 'vip', heldOut: false };
const held: Attribution = { ...shown, heldOut: true };

function feedback(
  type: FeedbackType,
  attribution: Attribution,
  value: number | null = null,
  at = AT,
): LogEntry {
  const event: FeedbackEvent = {
    eventId: `e-${type}`,
    decisionId: 'd1',
    offerId: 'gold-card',
    customerId: 'cust-1',
    type,
    value,
    at,
  };
  return { kind: 'feedback', event, attribution };
}

describe('countersOf', () => {
  it('counts an impression per shown offer and a control per held-out one, on the decision day and channel', () => {
    expect(countersOf(decision)).toEqual([
      { day: DAY, field: 'gold-card|web|vip|impressions', amount: 1, float: false },
      // What the affinities predicted: the prior, or for entries logged before learning the propensity.
      { day: DAY, field: 'gold-card|web|vip|expected', amount: 0.25, float: true },
      // ...and its affinity bin: logit(0.25) = −1.10, bin −2; logit(0.1) = −2.20, bin −3.
      { day: DAY, field: 'gold-card|web|vip|affinityImpressions:-2', amount: 1, float: false },
      { day: DAY, field: 'loan|web|-|impressions', amount: 1, float: false },
      { day: DAY, field: 'loan|web|-|expected', amount: 0.1, float: true },
      { day: DAY, field: 'loan|web|-|affinityImpressions:-3', amount: 1, float: false },
      { day: DAY, field: 'travel|web|vip|controls', amount: 1, float: false },
    ]);
  });

  it('maps each reaction to a shown offer onto its metric, under the attributed channel and segment', () => {
    const metrics = (['impression', 'click', 'accept', 'reject', 'dismiss', 'convert'] as const).map((t) =>
      countersOf(feedback(t, shown)).map((c) => c.field),
    );
    expect(metrics).toEqual([
      ['gold-card|call_center|vip|views'],
      ['gold-card|call_center|vip|clicks'],
      ['gold-card|call_center|vip|accepts'],
      ['gold-card|call_center|vip|rejects'],
      ['gold-card|call_center|vip|dismissals'],
      ['gold-card|call_center|vip|conversions'],
    ]);
  });

  it('adds revenue of a conversion as a float, only for a non-zero value', () => {
    expect(countersOf(feedback('convert', shown, 12.5))).toEqual([
      { day: DAY, field: 'gold-card|call_center|vip|conversions', amount: 1, float: false },
      { day: DAY, field: 'gold-card|call_center|vip|revenue', amount: 12.5, float: true },
    ]);
    expect(countersOf(feedback('convert', shown, 0))).toHaveLength(1);
    expect(countersOf(feedback('click', shown, 5))).toHaveLength(1); // a value on a click is no revenue
  });

  it('counts only conversions of held-out offers, as control conversions and revenue', () => {
    expect(countersOf(feedback('convert', held, 7))).toEqual([
      { day: DAY, field: 'gold-card|call_center|vip|controlConversions', amount: 1, float: false },
      { day: DAY, field: 'gold-card|call_center|vip|controlRevenue', amount: 7, float: true },
    ]);
    for (const t of ['impression', 'click', 'accept', 'reject', 'dismiss'] as const) {
      expect(countersOf(feedback(t, held))).toEqual([]);
    }
  });

  it('dates feedback by the event, not by the decision', () => {
    expect(countersOf(feedback('click', shown, null, AT + DAY_MS))[0]?.day).toBe(DAY + 1);
  });
});

describe('countersOf: customer episodes', () => {
  it('a decision that opens episodes counts their customers once, treated by stage, control apart', () => {
    const opening: LogEntry = {
      kind: 'decision',
      decision: {
        ...logged,
        stage: 'loyal',
        offers: [{ ...offer('gold-card', 'vip'), opens: true }, offer('loan', null)],
        heldOut: [{ ...offer('travel', 'vip'), opens: true }],
      },
    };
    const episodes = countersOf(opening).filter((c) => /customers/i.test(c.field));
    expect(episodes).toEqual([
      { day: DAY, field: 'gold-card|web|-|customers', amount: 1, float: false },
      { day: DAY, field: 'gold-card|web|-|customersAt:loyal', amount: 1, float: false },
      { day: DAY, field: 'travel|web|-|controlCustomers', amount: 1, float: false },
    ]);
    expect(countersOf(decision).filter((c) => /customers/i.test(c.field))).toEqual([]);
  });
});

describe('contactEventOf', () => {
  it('turns accepts and rejects of shown offers into contact events', () => {
    expect(contactEventOf(feedback('accept', shown))).toEqual({
      customerId: 'cust-1',
      event: { offerId: 'gold-card', campaignId: 'cards', channel: 'call_center', outcome: 'accept', at: AT },
    });
    expect(contactEventOf(feedback('reject', shown))?.event.outcome).toBe('reject');
  });

  it('records clicks and dismissals for the journey', () => {
    for (const t of ['click', 'dismiss'] as const) {
      expect(contactEventOf(feedback(t, shown))?.event.outcome).toBe(t);
    }
  });

  it('ignores decisions, impressions (the decision recorded them), conversions (the customer loop does) and held-out offers', () => {
    expect(contactEventOf(decision)).toBeNull();
    for (const t of ['impression', 'convert'] as const) {
      expect(contactEventOf(feedback(t, shown))).toBeNull();
    }
    expect(contactEventOf(feedback('accept', held))).toBeNull();
  });
});

describe('parseCounterField', () => {
  it('reads back every field countersOf writes', () => {
    expect(parseCounterField('loan|web|-|impressions')).toEqual({
      offerId: 'loan',
      channel: 'web',
      segmentId: null,
      metric: 'impressions',
      stage: null,
      bucket: null,
      bin: null,
    });
    const suffixed: readonly string[] = ['customersAt', 'affinityImpressions', ...DAY_METRICS];
    for (const metric of METRICS.filter((m) => !suffixed.includes(m))) {
      expect(parseCounterField(`o|email|seg|${metric}`)?.metric).toBe(metric);
    }
    expect(parseCounterField('o|web|-|customersAt:loyal')).toMatchObject({
      metric: 'customersAt',
      stage: 'loyal',
      bucket: null,
    });
  });

  it('reads the days histograms, `<metric>:<bucket>`, for every metric and bucket', () => {
    for (const metric of DAY_METRICS) {
      for (const bucket of DAY_BUCKETS) {
        const field = counterField('o', 'web', null, `${metric}:${bucket}`);
        expect(parseCounterField(field)).toEqual({
          offerId: 'o',
          channel: 'web',
          segmentId: null,
          metric,
          stage: null,
          bucket,
          bin: null,
        });
      }
    }
    // A bucket of another list still reads: the report places it by its lower bound.
    expect(parseCounterField('o|web|-|leadDays:4')?.bucket).toBe(4);
  });

  it('returns null for anything else', () => {
    expect(parseCounterField('o|web|-|nope')).toBeNull();
    expect(parseCounterField('o|web|-|customersAt')).toBeNull();
    expect(parseCounterField('o|web|-|customers:loyal')).toBeNull();
    expect(parseCounterField('o|web|impressions')).toBeNull();
    for (const bad of ['leadDays', 'leadDays:', 'leadDays:-1', 'leadDays:1.5', 'leadDays:07', 'leadDays:x'])
      expect(parseCounterField(`o|web|-|${bad}`), bad).toBeNull();
    expect(parseCounterField('o|web|-|leadsPositionBased:7')).toBeNull();
    for (const bad of [
      'affinityImpressions',
      'affinityImpressions:',
      'affinityImpressions:-0',
      'affinityImpressions:1.5',
    ])
      expect(parseCounterField(`o|web|-|${bad}`), bad).toBeNull();
  });

  it('reads the affinity bins, `affinityImpressions:<bin>`', () => {
    for (let bin = AFFINITY_BIN_MIN; bin <= AFFINITY_BIN_MAX; bin++) {
      const field = counterField('o', 'web', 'vip', `affinityImpressions:${bin}`);
      expect(parseCounterField(field)).toMatchObject({ metric: 'affinityImpressions', bin, bucket: null });
    }
  });
});

describe('affinityBinOf', () => {
  it('bins a propensity by the whole part of its logit, the end bins taking what lies beyond', () => {
    expect(affinityBinOf(0.5)).toBe(0);
    expect(affinityBinOf(0.25)).toBe(-2);
    expect(affinityBinOf(0.75)).toBe(1);
    expect(affinityBinOf(1e-9)).toBe(AFFINITY_BIN_MIN);
    expect(affinityBinOf(0.9999)).toBe(AFFINITY_BIN_MAX);
    expect(affinityBinOf(1)).toBe(AFFINITY_BIN_MAX);
    // The middle of a bin lies in it.
    for (let bin = AFFINITY_BIN_MIN; bin <= AFFINITY_BIN_MAX; bin++)
      expect(affinityBinOf(affinityOfBin(bin))).toBe(bin);
  });
});

describe('dayBucketOf', () => {
  it('puts a time in the bucket of the largest lower bound it reaches', () => {
    expect(dayBucketOf(0)).toBe(0);
    expect(dayBucketOf(0.99)).toBe(0);
    expect(dayBucketOf(1)).toBe(1);
    expect(dayBucketOf(4.5)).toBe(3);
    expect(dayBucketOf(9)).toBe(7);
    expect(dayBucketOf(179.9)).toBe(90);
    expect(dayBucketOf(1000)).toBe(180);
    expect(dayBucketOf(-1)).toBe(0);
  });
});

describe('FeedbackStats', () => {
  it('sums increments per day and field', () => {
    const stats = new FeedbackStats();
    stats.add(countersOf(decision));
    stats.add(countersOf(decision));
    stats.add(countersOf(feedback('convert', shown, 2.25)));
    stats.add(countersOf(feedback('convert', shown, 0.5)));
    expect(stats.value(DAY, 'gold-card|web|vip|impressions')).toBe(2);
    expect(stats.value(DAY, 'gold-card|call_center|vip|revenue')).toBe(2.75);
    expect(stats.value(DAY + 1, 'gold-card|web|vip|impressions')).toBe(0);
    expect(stats.snapshot().get(`${DAY}|travel|web|vip|controls`)).toBe(2);
  });
});
