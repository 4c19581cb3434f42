import { describe, expect, it } from 'vitest';
import type { ContactEvent } from '../domain/contact.js';
import { DAY_MS } from '../ruleset/time.js';
import { type CounterIncrement, dayOf, parseCounterField } from './feedback-effects.js';
import { type FunnelTransition, transitionCounters } from './funnel-attribution.js';

const AT = Date.parse('2026-03-20T12:00:00Z');
const DAY = dayOf(AT);
const HOUR = 3_600_000;
const LOOKBACK = 30 * DAY_MS;

/** A history event `daysBefore` the transition (fractions allowed). */
const ev = (
  outcome: string,
  offerId: string,
  daysBefore: number,
  channel: ContactEvent['channel'] = 'web',
): ContactEvent => ({
  offerId,
  campaignId: 'cards',
  channel,
  outcome: outcome as ContactEvent['outcome'],
  at: AT - daysBefore * DAY_MS,
});

const lead: FunnelTransition = { to: 'lead', at: AT, leadAt: null };
const customer = (leadAt: number | null): FunnelTransition => ({ to: 'customer', at: AT, leadAt });

/** field → amount, for comparing without caring about the order. */
function byField(counters: readonly CounterIncrement[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const c of counters) {
    expect(c.day).toBe(DAY);
    out[c.field] = (out[c.field] ?? 0) + c.amount;
  }
  return out;
}

const positionBased = (counters: readonly CounterIncrement[], metric = 'leadsPositionBased') =>
  Object.fromEntries(
    Object.entries(byField(counters))
      .filter(([f]) => f.endsWith(`|${metric}`))
      .map(([f, amount]) => [f.split('|')[0], amount]),
  );

describe('transitionCounters', () => {
  it('one touch takes every credit, and the days from it go into its bucket', () => {
    const counters = transitionCounters([ev('impression', 'gold', 9)], lead, LOOKBACK);
    expect(byField(counters)).toEqual({
      'gold|web|-|leadsFirstTouch': 1,
      'gold|web|-|leadsLastTouch': 1,
      'gold|web|-|leadsPositionBased': 1,
      'gold|web|-|leadDays:7': 1,
    });
    expect(counters.find((c) => c.field.endsWith('PositionBased'))?.float).toBe(true);
    expect(counters.filter((c) => !c.field.endsWith('PositionBased')).every((c) => !c.float)).toBe(true);
  });

  it('two touches share the position-based credit half and half; first and last touch go to each end', () => {
    const history = [ev('impression', 'gold', 5), ev('impression', 'loan', 1, 'call_center')];
    expect(byField(transitionCounters(history, lead, LOOKBACK))).toEqual({
      'gold|web|-|leadsFirstTouch': 1,
      'loan|call_center|-|leadsLastTouch': 1,
      'gold|web|-|leadsPositionBased': 0.5,
      'loan|call_center|-|leadsPositionBased': 0.5,
      'gold|web|-|leadDays:5': 1,
    });
  });

  it('position-based: 40 % to the first, 40 % to the last, 20 % spread over the middle', () => {
    // Out of order in the history: the model goes by time.
    const history = [
      ev('impression', 'd', 1),
      ev('impression', 'a', 20),
      ev('impression', 'c', 5),
      ev('impression', 'b', 10),
    ];
    const shares = positionBased(transitionCounters(history, lead, LOOKBACK));
    expect(shares.a).toBeCloseTo(0.4, 12);
    expect(shares.b).toBeCloseTo(0.1, 12);
    expect(shares.c).toBeCloseTo(0.1, 12);
    expect(shares.d).toBeCloseTo(0.4, 12);
    const total = Object.values(shares).reduce((sum, x) => sum + x, 0);
    expect(total).toBeCloseTo(1, 12);
  });

  it('adds up the shares of an offer touched several times into one counter', () => {
    const history = [ev('impression', 'gold', 6), ev('impression', 'loan', 4), ev('impression', 'gold', 2)];
    const counters = transitionCounters(history, lead, LOOKBACK);
    expect(counters.filter((c) => c.field === 'gold|web|-|leadsPositionBased')).toHaveLength(1);
    const shares = positionBased(counters);
    expect(shares.gold).toBeCloseTo(0.8, 12);
    expect(shares.loan).toBeCloseTo(0.2, 12);
    expect(byField(counters)['gold|web|-|leadsFirstTouch']).toBe(1);
    expect(byField(counters)['gold|web|-|leadsLastTouch']).toBe(1);
  });

  it('a click or accept of an offer just shown is the same touch; one with no touch in the 24 hours before is its own', () => {
    const history = [
      ev('impression', 'gold', 10),
      ev('click', 'gold', 10 - 1 / 24),
      ev('accept', 'gold', 10 - 2 / 24),
      // Two days later, no impression in the history: a touch of its own.
      ev('click', 'gold', 8),
      // An impression and its reaction at the same millisecond: one touch.
      ev('accept', 'loan', 3),
      ev('impression', 'loan', 3),
    ];
    const shares = positionBased(transitionCounters(history, lead, LOOKBACK));
    // Three touches: gold (10 days), gold (8 days), loan (3 days).
    expect(shares.gold).toBeCloseTo(0.4 + 0.2, 12);
    expect(shares.loan).toBeCloseTo(0.4, 12);
  });

  it('every impression is a touch, even of the same offer within a day', () => {
    const history = [
      ev('impression', 'gold', 2),
      ev('impression', 'gold', 2 - 1 / 24),
      ev('impression', 'loan', 1),
    ];
    const shares = positionBased(transitionCounters(history, lead, LOOKBACK));
    expect(shares.gold).toBeCloseTo(0.4 + 0.2, 12);
    expect(shares.loan).toBeCloseTo(0.4, 12);
  });

  it('a reaction whose impression is before the look-back counts as a touch in it', () => {
    const history = [ev('impression', 'gold', 30 + 2 / 24), ev('click', 'gold', 30 - 2 / 24)];
    expect(byField(transitionCounters(history, lead, LOOKBACK))).toMatchObject({
      'gold|web|-|leadsFirstTouch': 1,
      'gold|web|-|leadDays:21': 1,
    });
  });

  it('leaves out what is not a touch, what is before the look-back and what is after the transition', () => {
    const history = [
      ev('impression', 'old', 31),
      ev('held_out', 'held', 5),
      ev('reject', 'rejected', 4),
      ev('dismiss', 'dismissed', 4),
      ev('convert', 'converted', 3),
      ev('purchase', 'bought', 3),
      ev('cancel', 'cancelled', 3),
      ev('lead', 'led', 2),
      ev('impression', 'gold', 2),
      ev('impression', 'later', -1 / 24),
    ];
    expect(byField(transitionCounters(history, lead, LOOKBACK))).toEqual({
      'gold|web|-|leadsFirstTouch': 1,
      'gold|web|-|leadsLastTouch': 1,
      'gold|web|-|leadsPositionBased': 1,
      'gold|web|-|leadDays:2': 1,
    });
    // The edges are in: a touch exactly a look-back before, and one at the transition's millisecond.
    const edges = [ev('impression', 'first', 30), ev('impression', 'last', 0)];
    expect(byField(transitionCounters(edges, lead, LOOKBACK))).toMatchObject({
      'first|web|-|leadsFirstTouch': 1,
      'last|web|-|leadsLastTouch': 1,
      'first|web|-|leadDays:30': 1,
    });
  });

  it('a customer transition counts customers, the days from the first touch, and from the lead when known', () => {
    const history = [ev('impression', 'gold', 12), ev('accept', 'loan', 4, 'call_center')];
    const leadAt = AT - 4 * DAY_MS;
    expect(byField(transitionCounters(history, customer(leadAt), LOOKBACK))).toEqual({
      'gold|web|-|customersFirstTouch': 1,
      'loan|call_center|-|customersLastTouch': 1,
      'gold|web|-|customersPositionBased': 0.5,
      'loan|call_center|-|customersPositionBased': 0.5,
      'gold|web|-|customerDays:10': 1,
      'gold|web|-|leadToCustomerDays:3': 1,
    });
    // Never a lead (or not known when): no lead-to-customer time; a lead time after the transition neither.
    for (const unknown of [null, AT + HOUR]) {
      const fields = Object.keys(byField(transitionCounters(history, customer(unknown), LOOKBACK)));
      expect(fields.some((f) => f.includes('leadToCustomerDays'))).toBe(false);
      expect(fields).toContain('gold|web|-|customerDays:10');
    }
    // A lead transition has no lead-to-customer time, whatever leadAt says.
    const asLead = transitionCounters(history, { to: 'lead', at: AT, leadAt }, LOOKBACK);
    expect(asLead.some((c) => c.field.includes('leadToCustomerDays'))).toBe(false);
  });

  it('the longest times fall in the last, open bucket; the same day in the first', () => {
    const long = transitionCounters([ev('impression', 'gold', 400)], lead, 500 * DAY_MS);
    expect(byField(long)['gold|web|-|leadDays:180']).toBe(1);
    const sameDay = transitionCounters([ev('impression', 'gold', 1 / 24)], customer(AT - HOUR), LOOKBACK);
    expect(byField(sameDay)).toMatchObject({
      'gold|web|-|customerDays:0': 1,
      'gold|web|-|leadToCustomerDays:0': 1,
    });
  });

  it('counts on the UTC day of the transition, whatever the days of the touches', () => {
    const late = Date.parse('2026-03-20T23:59:59Z');
    const counters = transitionCounters(
      [{ ...ev('impression', 'gold', 0), at: late - 3 * DAY_MS }],
      { to: 'lead', at: late, leadAt: null },
      LOOKBACK,
    );
    expect(new Set(counters.map((c) => c.day))).toEqual(new Set([DAY]));
  });

  it('an organic transition (no touch in the look-back) adds no counter', () => {
    expect(transitionCounters([], lead, LOOKBACK)).toEqual([]);
    expect(
      transitionCounters([ev('impression', 'gold', 40), ev('purchase', 'x', 1)], customer(null), LOOKBACK),
    ).toEqual([]);
  });

  it('writes fields the reports read back', () => {
    const history = [
      ev('impression', 'gold', 12),
      ev('click', 'loan', 6),
      ev('impression', 'travel', 1, 'email'),
    ];
    for (const transition of [lead, customer(AT - 5 * DAY_MS)]) {
      for (const c of transitionCounters(history, transition, LOOKBACK)) {
        const parsed = parseCounterField(c.field);
        expect(parsed, c.field).not.toBeNull();
        expect(parsed!.segmentId).toBeNull();
      }
    }
  });
});

describe('the worked example of docs/reports.md', () => {
  const at = (iso: string) => Date.parse(iso);
  const touch = (outcome: string, offerId: string, channel: ContactEvent['channel'], iso: string) => ({
    offerId,
    campaignId: offerId.startsWith('card') ? 'cards-upgrade' : 'lending-2026',
    channel,
    outcome: outcome as ContactEvent['outcome'],
    at: at(iso),
  });
  const history: ContactEvent[] = [
    touch('impression', 'card-gold-upgrade-digital', 'web', '2026-03-01T09:00:00Z'),
    touch('click', 'card-gold-upgrade-digital', 'web', '2026-03-01T09:10:00Z'),
    touch('impression', 'car-loan-next-car', 'web', '2026-03-04T18:00:00Z'),
    touch('impression', 'card-gold-upgrade-cc', 'call_center', '2026-03-06T11:00:00Z'),
    touch('accept', 'card-gold-upgrade-cc', 'call_center', '2026-03-06T11:05:00Z'),
    touch('impression', 'card-gold-upgrade-digital', 'web', '2026-03-15T08:00:00Z'),
  ];
  const leadAt = at('2026-03-10T12:00:00Z');

  it('Anna becomes a lead on 10 March: three touchpoints, 9 days', () => {
    const counters = transitionCounters(history, { to: 'lead', at: leadAt, leadAt: null }, LOOKBACK);
    expect(new Set(counters.map((c) => c.day))).toEqual(new Set([dayOf(leadAt)]));
    const fields = Object.fromEntries(counters.map((c) => [c.field, c.amount]));
    expect(fields).toEqual({
      'card-gold-upgrade-digital|web|-|leadsFirstTouch': 1,
      'card-gold-upgrade-cc|call_center|-|leadsLastTouch': 1,
      'card-gold-upgrade-digital|web|-|leadsPositionBased': 0.4,
      'car-loan-next-car|web|-|leadsPositionBased': expect.closeTo(0.2, 12),
      'card-gold-upgrade-cc|call_center|-|leadsPositionBased': 0.4,
      'card-gold-upgrade-digital|web|-|leadDays:7': 1,
    });
  });

  it('and a customer on 20 March: four touchpoints, 19 days from the first, 10 from the lead', () => {
    const when = at('2026-03-20T12:00:00Z');
    const counters = transitionCounters(history, { to: 'customer', at: when, leadAt }, LOOKBACK);
    const fields = Object.fromEntries(counters.map((c) => [c.field, c.amount]));
    expect(fields).toEqual({
      'card-gold-upgrade-digital|web|-|customersFirstTouch': 1,
      'card-gold-upgrade-digital|web|-|customersLastTouch': 1,
      'card-gold-upgrade-digital|web|-|customersPositionBased': expect.closeTo(0.8, 12),
      'car-loan-next-car|web|-|customersPositionBased': expect.closeTo(0.1, 12),
      'card-gold-upgrade-cc|call_center|-|customersPositionBased': expect.closeTo(0.1, 12),
      'card-gold-upgrade-digital|web|-|customerDays:14': 1,
      'card-gold-upgrade-digital|web|-|leadToCustomerDays:10': 1,
    });
  });
});
