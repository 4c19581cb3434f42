import { describe, expect, it } from 'vitest';
import { profileFromRecord } from '../domain/profile.js';
import { buildRuleset } from '../ruleset/load.js';
import {
  applyFacts,
  causeOf,
  type Fact,
  judgeStage,
  learn,
  MAX_EVENTS,
  NO_FACTS,
  stageOf,
} from './profile-learning.js';

const DAY = 86_400_000;
const T0 = Date.UTC(2026, 0, 5);

const LIFECYCLE = `
lifecycle:
  - { id: lapsed, funnel: customer, when: "customer.purchases > 0 and daysSince(customer.lastPurchaseAt) > 365" }
  - { id: loyal, funnel: customer, when: "customer.productsHeld >= 3 and customer.lifetimeRevenue >= 1000" }
  - { id: active, funnel: customer, when: "customer.purchases > 0" }
  - { id: lead, funnel: lead, when: "customer.leadAt != null" }
  - { id: prospect, funnel: prospect, when: "true" }
`;
const snapshot = buildRuleset([{ name: 'lifecycle.yaml', text: LIFECYCLE }], T0);

const customer = profileFromRecord({
  id: 'c1',
  attributes: { region: 'north' },
  holdings: ['current-account'],
});
const purchase = (eventId: string, productId: string, value: number | null, at = T0): Fact => ({
  eventId,
  kind: 'purchase',
  productId,
  value,
  at,
});

describe('learn and applyFacts', () => {
  it('a purchase adds the product and the revenue; the profile shows the relationship value', () => {
    const facts = learn(
      learn(NO_FACTS, purchase('o1', 'gold-card', 250)),
      purchase('o2', 'savings', 50.5, T0 + DAY),
    );
    const profile = applyFacts(customer, facts);
    expect([...profile.holdings].sort()).toEqual(['current-account', 'gold-card', 'savings']);
    expect(profile.attributes).toMatchObject({
      region: 'north',
      lifetimeRevenue: 300.5,
      purchases: 2,
      productsHeld: 3,
      firstPurchaseAt: new Date(T0).toISOString(),
      lastPurchaseAt: new Date(T0 + DAY).toISOString(),
    });
  });

  it('a cancel removes the product, loaded or learned; a conversion adds it without revenue', () => {
    let facts = learn(NO_FACTS, {
      eventId: 'c',
      kind: 'cancel',
      productId: 'current-account',
      value: null,
      at: T0,
    });
    facts = learn(facts, { eventId: 'v', kind: 'convert', productId: 'gold-card', value: 99, at: T0 });
    const profile = applyFacts(customer, facts);
    expect([...profile.holdings]).toEqual(['gold-card']);
    expect(profile.attributes.lifetimeRevenue).toBe(0);
  });

  it('a fact seen before changes nothing (consumers deliver at least once)', () => {
    const once = learn(NO_FACTS, purchase('o1', 'gold-card', 250));
    expect(learn(once, purchase('o1', 'gold-card', 250))).toBe(once);
  });

  it('remembers the last MAX_EVENTS event ids only', () => {
    let facts = NO_FACTS;
    for (let i = 0; i < MAX_EVENTS + 5; i++) facts = learn(facts, purchase(`o${i}`, 'p', 1));
    expect(facts.events).toHaveLength(MAX_EVENTS);
    expect(facts.purchases).toBe(MAX_EVENTS + 5);
  });

  it('applying the facts twice gives the same profile (a bulk load applies them again)', () => {
    const facts = learn(NO_FACTS, purchase('o1', 'gold-card', 250));
    const once = applyFacts(customer, facts);
    const twice = applyFacts(once, facts);
    expect(twice.attributes).toEqual(once.attributes);
    expect([...twice.holdings]).toEqual([...once.holdings]);
  });
});

describe('lifecycle stages', () => {
  it('the first stage whose condition holds', () => {
    expect(stageOf(snapshot.lifecycle, customer, T0)).toBe('prospect');
    expect(stageOf([], customer, T0)).toBeNull();
  });

  it('each change of stage is a transition: when, from, to and what caused it', () => {
    const first = purchase('o1', 'gold-card', 250);
    let facts = judgeStage(learn(NO_FACTS, first), customer, snapshot.lifecycle, T0, causeOf(first));
    expect(facts.stage).toBe('active');
    expect(facts.transitions).toEqual([
      { at: T0, from: null, to: 'active', cause: 'purchase of gold-card (event o1)' },
    ]);
    const second = purchase('o2', 'savings', 900, T0 + DAY);
    facts = judgeStage(learn(facts, second), customer, snapshot.lifecycle, T0 + DAY, causeOf(second));
    expect(facts.stage).toBe('loyal');
    expect(facts.transitions.at(-1)).toEqual({
      at: T0 + DAY,
      from: 'active',
      to: 'loyal',
      cause: 'purchase of savings (event o2)',
    });
    expect(applyFacts(customer, facts).attributes).toMatchObject({
      lifecycleStage: 'loyal',
      lifecycleSince: new Date(T0 + DAY).toISOString(),
    });
    // Judged again with nothing new: no transition.
    expect(judgeStage(facts, customer, snapshot.lifecycle, T0 + 2 * DAY, 'again')).toBe(facts);
  });

  it('time moves a stage too, when the profile is judged next (a year without a purchase lapses)', () => {
    const facts = learn(NO_FACTS, purchase('o1', 'gold-card', 10));
    const later = T0 + 400 * DAY;
    expect(stageOf(snapshot.lifecycle, applyFacts(customer, facts), later)).toBe('lapsed');
  });
});

describe('a customer nothing was learned of', () => {
  it('is judged on the holdings loaded: a loaded customer is no prospect', () => {
    const rules = buildRuleset(
      [
        {
          name: 'lifecycle.yaml',
          text: `
lifecycle:
  - { id: customer, funnel: customer, when: "customer.productsHeld > 0" }
  - { id: prospect, funnel: prospect, when: "true" }
`,
        },
      ],
      T0,
    );
    expect(stageOf(rules.lifecycle, customer, T0)).toBe('customer');
    expect(stageOf(rules.lifecycle, profileFromRecord({ id: 'nobody' }), T0)).toBe('prospect');
  });
});
