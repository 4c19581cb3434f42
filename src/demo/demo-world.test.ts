import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../domain/channel.js';
import { Rng } from '../domain/random.js';
import {
  controlConversion,
  DEMO_TRUTH,
  demoDecisions,
  demoTraffic,
  REGULAR_CUSTOMERS,
  respond,
  UNTOUCHED_CUSTOMERS,
} from './demo-world.js';

const DAY = 86_400_000;
const END = Date.parse('2026-11-22T12:00:00Z');
const START = END - 28 * DAY;
const PLACEMENTS = { web: ['account-sidebar', 'home-hero', 'logout'], mobile: ['home-card'] };

describe('demoTraffic', () => {
  const options = { start: START, end: END, decisions: 5000, customers: 100_000, placements: PLACEMENTS };
  const traffic = demoTraffic(42, options);

  it('is the interactions asked for, in time order, within the span, never from cust-1 … cust-100', () => {
    expect(traffic).toHaveLength(5000);
    for (let i = 0; i < traffic.length; i++) {
      const t = traffic[i]!;
      expect(t.at).toBeGreaterThanOrEqual(START);
      expect(t.at).toBeLessThan(END);
      if (i > 0) expect(t.at).toBeGreaterThanOrEqual(traffic[i - 1]!.at);
      expect(Number(t.customerId.slice(5))).toBeGreaterThan(UNTOUCHED_CUSTOMERS);
      expect(CHANNELS).toContain(t.channel);
      if (t.placement !== null) expect(PLACEMENTS[t.channel as 'web' | 'mobile']).toContain(t.placement);
    }
  });

  it('is the same for the same seed and span', () => {
    expect(demoTraffic(42, options)).toEqual(traffic);
  });

  it('brings the same customers on the same channels, whatever the span (the day the demo starts)', () => {
    const later = demoTraffic(42, {
      start: START + 40 * DAY,
      end: END + 40 * DAY,
      decisions: 5000,
      customers: 100_000,
      placements: PLACEMENTS,
    });
    const who = (ts: typeof traffic) => ts.map((t) => `${t.customerId} ${t.channel} ${t.placement}`);
    expect(who(later)).toEqual(who(traffic));
    expect(later.map((t) => t.at)).not.toEqual(traffic.map((t) => t.at));
  });

  it('has regulars who come back, and busier weekdays than weekends', () => {
    const regulars = traffic.filter(
      (t) => Number(t.customerId.slice(5)) <= UNTOUCHED_CUSTOMERS + REGULAR_CUSTOMERS,
    );
    expect(regulars.length).toBeGreaterThan(traffic.length * 0.08);
    const weekday = (at: number) => (Math.floor(at / DAY) + 4) % 7;
    const sundays = traffic.filter((t) => weekday(t.at) === 0).length;
    const wednesdays = traffic.filter((t) => weekday(t.at) === 3).length;
    expect(sundays).toBeLessThan(wednesdays * 0.7);
  });

  it('asks a small population for a few decisions per customer, none without customers to use', () => {
    expect(demoDecisions(15_000, 100_000)).toBe(15_000);
    expect(demoDecisions(15_000, 1000)).toBe(2700);
    expect(demoDecisions(15_000, 100)).toBe(0);
    expect(demoTraffic(1, { start: START, end: END, decisions: 10, customers: 100, placements: {} })).toEqual(
      [],
    );
  });
});

describe('respond', () => {
  /** Mean conversions of many showings minus mean control conversions, next to the mean true uplift. */
  function measure(campaignId: string, prior: number, n: number) {
    const rng = new Rng(7, campaignId);
    let converted = 0;
    let control = 0;
    let truth = 0;
    for (let i = 0; i < n; i++) {
      const r = respond(rng, campaignId, prior, 'call_center');
      if (r.reactions.some((x) => x.type === 'purchase')) converted++;
      if (controlConversion(rng, campaignId, prior) !== null) control++;
      truth += r.trueUplift;
    }
    return { measured: (converted - control) / n, truth: truth / n };
  }

  it('lifts conversions by its true uplift, and go-digital by nothing', () => {
    const cards = measure('cards-upgrade', 0.4, 40_000);
    expect(cards.truth).toBeGreaterThan(0.05);
    expect(cards.measured).toBeCloseTo(cards.truth, 2);
    const digital = measure('go-digital', 0.4, 40_000);
    expect(DEMO_TRUTH['go-digital']!.convertAfterAccept).toBe(0);
    expect(digital.truth).toBe(0);
    expect(Math.abs(digital.measured)).toBeLessThan(0.006);
  });

  it('answers agents yes or no, and websites with views and clicks before an accept', () => {
    const rng = new Rng(3);
    for (let i = 0; i < 2000; i++) {
      const call = respond(rng, 'cards-upgrade', 0.5, 'call_center').reactions.map((r) => r.type);
      expect(call.filter((t) => t === 'impression' || t === 'click')).toEqual([]);
      const web = respond(rng, 'cards-upgrade', 0.5, 'web').reactions;
      const accept = web.find((r) => r.type === 'accept');
      if (accept !== undefined) {
        const click = web.find((r) => r.type === 'click');
        expect(click!.afterMs).toBeLessThan(accept.afterMs);
        expect(web[0]!.type).toBe('impression');
      }
      for (const r of web) {
        expect(r.afterMs).toBeGreaterThanOrEqual(0);
        // Reactions within the attribution window of a day, purchases within three days.
        expect(r.afterMs).toBeLessThan(r.type === 'purchase' ? 4 * DAY : DAY);
      }
    }
  });
});
