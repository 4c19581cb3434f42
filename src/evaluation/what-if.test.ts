import { describe, expect, it } from 'vitest';
import { NO_USAGE } from '../domain/contact.js';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { decide } from '../engine/decide.js';
import { buildRuleset } from '../ruleset/load.js';
import { MemoryCapCounters } from '../store/cap-counters.js';
import { inSample, sampleShare, whatIf } from './what-if.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');

const SEGMENTS = `segments:
  - id: rich
    when: customer.clv > 1000
`;
const POLICIES = `contactPolicies:
  - channel: web
    cost: 1
`;
const campaigns = (budget: number) => `campaigns:
  - id: cards
    name: Cards
    objective: cross_sell
    budget: ${budget}
  - id: loans
    name: Loans
    objective: cross_sell
    segments: [rich]
    caps: { perDay: 3 }
`;
const offer = (id: string, campaign: string, product: string, value: number, p: number) => `  - id: ${id}
    name: ${id}
    campaign: ${campaign}
    product: ${product}
    channels: [web]
    value: ${value}
    basePropensity: ${p}
    creatives:
      web: { headline: ${id}, image: /x.png, link: /x }
`;

function ruleset(budget: number, offers: string) {
  return buildRuleset(
    [
      { name: 'segments.yaml', text: SEGMENTS },
      { name: 'policies.yaml', text: POLICIES },
      { name: 'campaigns.yaml', text: campaigns(budget) },
      { name: 'offers.yaml', text: `offers:\n${offers}` },
    ],
    NOW,
  );
}

const live = ruleset(
  5,
  offer('gold', 'cards', 'card-gold', 100, 0.1) + offer('loan', 'loans', 'loan', 500, 0.05),
);
const candidate = ruleset(100, offer('gold', 'cards', 'card-gold', 100, 0.1));

const customers: CustomerProfile[] = Array.from({ length: 20 }, (_, i) =>
  profileFromRecord({
    id: `c${i}`,
    attributes: { clv: i % 2 === 0 ? 5000 : 10 },
    consent: { web: true },
    affinities: i === 0 ? [{ product: 'card-gold', score: 0.5 }] : [],
  }),
);

const options = (usage = NO_USAGE) =>
  ({
    live: { name: 'live', snapshot: live },
    candidate: { name: 'bigger-budget', snapshot: candidate },
    channel: 'web',
    limit: 1,
    now: NOW,
    usage,
  }) as const;

describe('whatIf()', () => {
  it('expects the sum of the propensities of the offers shown, and their value', () => {
    const report = whatIf(customers, options());
    const side = report.live;
    expect(side.totals.decisions).toBe(20);
    // Recomputed decision by decision with the engine itself, counting as the run goes.
    let accepts = 0;
    for (const o of side.offers) accepts += o.expectedAccepts;
    expect(side.totals.expectedAccepts).toBeCloseTo(accepts, 10);
    const value = side.offers.reduce((s, o) => s + o.expectedValue, 0);
    expect(side.totals.expectedValue).toBeCloseTo(value, 10);
    expect(side.totals.customersWithOffer).toBe(side.totals.offersShown);
  });

  it('counts caps and budgets as the run goes, and says where they bind', () => {
    const { live: l, candidate: c } = whatIf(customers, options());
    const loans = l.campaigns.find((x) => x.id === 'loans')!;
    // Three a day, at `now`: the daily cap binds after the third loan.
    expect(loans.shown).toBe(3);
    expect(loans.boundBy).toBe('cap_per_day');
    const cards = l.campaigns.find((x) => x.id === 'cards')!;
    // A budget of 5 at a cost of 1 a contact: five cards, then nothing.
    expect(cards.shown).toBe(5);
    expect(cards.spend).toBe(5);
    expect(cards.budgetUse).toBe(1);
    expect(cards.boundBy).toBe('budget');
    expect(cards.boundAtDecision).not.toBeNull();
    expect(l.totals.customersWithOffer).toBe(8);
    // The candidate's budget of 100 never binds: everybody gets the card.
    expect(c!.totals.customersWithOffer).toBe(20);
    expect(c!.campaigns[0]!.boundBy).toBeNull();
  });

  it('starts from the given counters', () => {
    const counters = new MemoryCapCounters();
    counters.record('gold', 'cards', NOW, 3);
    const report = whatIf(customers, options(counters));
    expect(report.live.campaigns.find((x) => x.id === 'cards')!.shown).toBe(2);
    expect(report.live.campaigns.find((x) => x.id === 'cards')!.capUsed).toBe(3);
  });

  it('reports candidate − live per total, offer, campaign and segment', () => {
    const { live: l, candidate: c, difference } = whatIf(customers, options());
    expect(difference!.totals.customersWithOffer).toBe(
      c!.totals.customersWithOffer - l.totals.customersWithOffer,
    );
    expect(difference!.totals.expectedAccepts).toBeCloseTo(
      c!.totals.expectedAccepts - l.totals.expectedAccepts,
      10,
    );
    const loan = difference!.offers.find((d) => d.id === 'loan')!;
    expect(loan.shown).toBe(-3);
    const rich = difference!.segments.find((d) => d.id === 'rich')!;
    expect(rich.shown).toBe(-3);
    expect(l.totals.segmentsReached).toBe(1);
    expect(c!.totals.segmentsReached).toBe(0);
  });

  it('agrees with decide() for a single customer', () => {
    const report = whatIf([customers[0]!], { ...options(), candidate: null });
    const d = decide({
      snapshot: live,
      profile: customers[0]!,
      history: [],
      usage: NO_USAGE,
      request: { channel: 'web', placement: null, limit: 1, context: {}, explain: false },
      now: NOW,
    });
    expect(report.live.offers.map((o) => o.id)).toEqual(d.offers.map((o) => o.offer.id));
    expect(report.live.totals.expectedAccepts).toBeCloseTo(d.offers[0]!.propensity, 12);
    expect(report.difference).toBeNull();
  });

  it('refuses a learned model of another snapshot', () => {
    const learnedFor = { snapshot: candidate } as never;
    expect(() =>
      whatIf([], { ...options(), live: { name: 'live', snapshot: live, learned: learnedFor } }),
    ).toThrow(/another snapshot/);
  });
});

describe('the sample of a volume', () => {
  const ids = Array.from({ length: 20_000 }, (_, i) => `cust-${i}`);

  it('is stable, about the volume, and nested', () => {
    const share = sampleShare(5_000, ids.length);
    const a = ids.filter((id) => inSample(id, share));
    expect(ids.filter((id) => inSample(id, share))).toEqual(a);
    // Binomial: 5,000 ± 4σ (σ ≈ 61).
    expect(Math.abs(a.length - 5_000)).toBeLessThan(250);
    const smaller = new Set(ids.filter((id) => inSample(id, sampleShare(1_000, ids.length))));
    for (const id of smaller) expect(a).toContain(id);
  });

  it('takes everybody for a volume at or above the population', () => {
    expect(sampleShare(30_000, ids.length)).toBe(1);
    expect(ids.every((id) => inSample(id, 1))).toBe(true);
    expect(sampleShare(10, 0)).toBe(1);
  });
});
