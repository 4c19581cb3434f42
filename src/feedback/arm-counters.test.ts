import { describe, expect, it } from 'vitest';
import { DAY_MS } from '../ruleset/time.js';
import type { Touch } from './customer-attribution.js';
import {
  armCounterField,
  countersOf,
  customerCounters,
  parseArmCounterField,
  parseCounterField,
} from './feedback-effects.js';
import type { Attribution, DecisionLogEntry, FeedbackEvent, LoggedOffer } from './feedback-event.js';
import { decodeAttribution, encodeAttribution, LogEntryError, offerTag } from './log-entry.js';

const DAY = 20_000;
const AT = DAY * DAY_MS + 3_600_000;

const offer = (offerId: string, opens?: true): LoggedOffer => ({
  offerId,
  campaignId: 'cards',
  segmentId: 'vip',
  score: 1,
  propensity: 0.2,
  probability: 1,
  ...(opens ? { opens } : {}),
});

const decision = (arm?: DecisionLogEntry['arm']): DecisionLogEntry => ({
  decisionId: 'd-1',
  customerId: 'c-1',
  channel: 'web',
  placement: null,
  rulesetVersion: 'abc123',
  at: AT,
  offers: [offer('gold-card', true), offer('silver-card')],
  heldOut: [offer('platinum-card')],
  ...(arm === undefined ? {} : { arm }),
});

const event = (type: FeedbackEvent['type'], value: number | null = null): FeedbackEvent => ({
  eventId: `e-${type}`,
  decisionId: 'd-1',
  offerId: 'gold-card',
  customerId: 'c-1',
  type,
  value,
  at: AT + 1000,
});

/** Each field's amount, summed as the consumers add them up. */
function fields(increments: readonly { field: string; amount: number }[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const i of increments) out[i.field] = (out[i.field] ?? 0) + i.amount;
  return out;
}

describe('counters by champion/challenger arm', () => {
  it('a decision without an arm counts exactly what it always did', () => {
    const counters = countersOf({ kind: 'decision', decision: decision() });
    expect(counters.every((c) => parseCounterField(c.field) !== null)).toBe(true);
  });

  it("a decision of a test adds its arm's impressions and customers, beside the usual counters", () => {
    const plain = countersOf({ kind: 'decision', decision: decision() });
    const armed = countersOf({ kind: 'decision', decision: decision('challenger') });
    expect(armed.slice(0, plain.length)).toEqual(plain);
    expect(fields(armed.slice(plain.length))).toEqual({
      [armCounterField('challenger', 'cards', 'web', 'impressions')]: 2,
      [armCounterField('challenger', 'cards', 'web', 'customers')]: 1,
    });
  });

  it('accepts of an arm count for it; other reactions, conversions among them, do not (they count per customer)', () => {
    const a: Attribution = {
      channel: 'web',
      campaignId: 'cards',
      segmentId: 'vip',
      heldOut: false,
      arm: 'champion',
    };
    const of = (e: FeedbackEvent, attribution = a) =>
      countersOf({ kind: 'feedback', event: e, attribution }).filter((c) => c.field.startsWith('arm|'));
    expect(fields(of(event('accept')))).toEqual({
      [armCounterField('champion', 'cards', 'web', 'accepts')]: 1,
    });
    expect(of(event('convert', 40))).toEqual([]);
    expect(of(event('click'))).toEqual([]);
    expect(
      of(event('accept'), { channel: 'web', campaignId: 'cards', segmentId: 'vip', heldOut: false }),
    ).toEqual([]);
  });

  it("an episode opened by an arm's decision converts for that arm, with its revenue, on the day it opened", () => {
    const opener: Touch = {
      offerId: 'gold-card',
      campaignId: 'cards',
      channel: 'web',
      heldOut: false,
      at: AT,
      arm: 'challenger',
    };
    const later = { ...opener, at: AT + 3 * DAY_MS };
    const armed = customerCounters({ touch: later, opener, converts: true }, 90).filter((c) =>
      c.field.startsWith('arm|'),
    );
    expect(armed).toEqual([
      {
        day: DAY,
        field: armCounterField('challenger', 'cards', 'web', 'customerConversions'),
        amount: 1,
        float: false,
      },
      {
        day: DAY,
        field: armCounterField('challenger', 'cards', 'web', 'customerRevenue'),
        amount: 90,
        float: true,
      },
    ]);
    // Once per episode; a held-out touch (control group) and a touch outside a test count for no arm.
    expect(customerCounters({ touch: later, opener, converts: false }, 90)).toEqual([]);
    const held = customerCounters({ touch: { ...later, heldOut: true }, opener, converts: true }, 90);
    expect(held.some((c) => c.field.startsWith('arm|'))).toBe(false);
    const { arm: _none, ...plain } = opener;
    const outside = customerCounters({ touch: later, opener: plain, converts: true }, 90);
    expect(outside.some((c) => c.field.startsWith('arm|'))).toBe(false);
  });

  it('arm fields are invisible to parseCounterField (every other report) and read back by parseArmCounterField', () => {
    const field = armCounterField('challenger', 'cards', 'call_center', 'customers');
    expect(parseCounterField(field)).toBeNull();
    expect(parseArmCounterField(field)).toEqual({
      arm: 'challenger',
      campaignId: 'cards',
      channel: 'call_center',
      metric: 'customers',
    });
    expect(parseArmCounterField('gold-card|web|-|accepts')).toBeNull();
    expect(parseArmCounterField('arm|other|cards|web|accepts')).toBeNull();
    expect(parseArmCounterField('arm|champion|cards|web|views')).toBeNull();
  });
});

describe('the arm in a decision record and an attribution', () => {
  it('an offer tag carries the arm after the segment; none without a test', () => {
    expect(offerTag('cards', 'vip', false)).toBe('s|cards|vip');
    expect(offerTag('cards', null, true, 'challenger')).toBe('h|cards||challenger');
  });

  it('round-trips with and without an arm, and refuses an unknown one', () => {
    const a: Attribution = { channel: 'web', campaignId: 'cards', segmentId: null, heldOut: false };
    expect(decodeAttribution(encodeAttribution(a))).toEqual(a);
    expect(decodeAttribution(encodeAttribution({ ...a, arm: 'challenger' }))).toEqual({
      ...a,
      arm: 'challenger',
    });
    expect(() => decodeAttribution('web|s|cards||other')).toThrow(LogEntryError);
  });
});
