import { describe, expect, it } from 'vitest';
import { loadRuleset } from '../src/ruleset/load.js';
import { DecisionService } from '../src/service/decision-service.js';
import { MemoryCapCounters } from '../src/store/cap-counters.js';
import { MemoryContactHistoryStore } from '../src/store/contact-history-store.js';
import { MemoryProfileStore } from '../src/store/memory-profile-store.js';
import { readProfilesFile } from '../src/store/profile-file.js';
import { FIXTURE_PROFILES, FIXTURE_RULES } from './helpers.js';

// A contact decided again (a call, when the agent learns why the customer called) is one contact:
// what it showed already counts once against limits, caps and budgets, and is recorded once.

const T0 = Date.parse('2026-11-22T12:00:00Z');

async function world() {
  let now = T0;
  const history = new MemoryContactHistoryStore();
  const counters = new MemoryCapCounters();
  const service = new DecisionService({
    rules: { current: await loadRuleset(FIXTURE_RULES, T0) },
    profiles: new MemoryProfileStore((await readProfilesFile(FIXTURE_PROFILES)).profiles),
    history,
    counters,
    feedbackLog: { recordDecision: () => {} },
    clock: () => now,
    defaultLimit: 3,
  });
  return { service, history, counters, later: (ms: number) => (now += ms) };
}

describe('decisions within one contact', () => {
  it('records and counts an offer the contact showed already once, however often it is decided again', async () => {
    const { service, history, counters, later } = await world();
    const first = await service.decide({ customerId: 'cust-2', channel: 'call_center', contactSince: T0 });
    const offers = first.engine.offers.map((o) => o.offer.id);
    expect(offers.length).toBeGreaterThan(0);
    later(60_000);
    const again = await service.decide({ customerId: 'cust-2', channel: 'call_center', contactSince: T0 });
    expect(again.engine.offers.map((o) => o.offer.id)).toEqual(offers);

    const impressions = (await history.read('cust-2')).events.filter((e) => e.outcome === 'impression');
    expect(impressions.map((e) => e.offerId).sort()).toEqual([...offers].sort());
    for (const offerId of offers) expect(counters.offerTotal(offerId)).toBe(1);
  });

  it('counts a decision outside the contact as a contact of its own', async () => {
    const { service, counters, later } = await world();
    const first = await service.decide({ customerId: 'cust-2', channel: 'call_center', contactSince: T0 });
    later(60_000);
    const second = await service.decide({ customerId: 'cust-2', channel: 'call_center' });
    const before = new Set(first.engine.offers.map((o) => o.offer.id));
    expect(second.engine.offers.length).toBeGreaterThan(0);
    for (const { offer } of second.engine.offers) {
      expect(counters.offerTotal(offer.id)).toBe(before.has(offer.id) ? 2 : 1);
    }
  });
});
