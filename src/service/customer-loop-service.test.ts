import { describe, expect, it } from 'vitest';
import { EXAMPLE_RULES } from '../../test/helpers.js';
import { profileFromRecord } from '../domain/profile.js';
import type { LogEntry } from '../feedback/feedback-event.js';
import { loadRuleset } from '../ruleset/load.js';
import { MemoryContactHistoryStore } from '../store/contact-history-store.js';
import { MemoryLearnedFactsStore } from '../store/learned-facts-store.js';
import { MemoryProfileStore } from '../store/memory-profile-store.js';
import { CustomerLoopService } from './customer-loop-service.js';

const T0 = Date.parse('2026-11-20T12:00:00Z');
const HOUR = 3_600_000;
const snapshot = await loadRuleset(EXAMPLE_RULES, T0);
const offer = snapshot.offerById.get('card-gold-upgrade-digital')!;

/** A customer loop on memory stores, with one person shown the offer at T0 (as the decision service records it). */
async function loop(
  person = profileFromRecord({ id: 'c1', holdings: ['credit-card-classic'] }),
  now = T0 + 2 * HOUR,
) {
  const history = new MemoryContactHistoryStore();
  const profiles = new MemoryProfileStore([person]);
  const service = new CustomerLoopService({
    rules: { current: snapshot },
    history,
    profiles,
    learned: new MemoryLearnedFactsStore(),
    windows: { reactionMs: 24 * HOUR, conversionMs: 7 * 24 * HOUR },
    clock: () => now,
    announceProfileChange: () => Promise.resolve(),
  });
  await history.append(person.id, [
    { offerId: offer.id, campaignId: offer.campaign.id, channel: 'web', outcome: 'impression', at: T0 },
  ]);
  return { service, history, profiles };
}

const convert = (at: number): LogEntry => ({
  kind: 'feedback',
  event: {
    eventId: 'cv1',
    decisionId: 'd1',
    offerId: offer.id,
    customerId: 'c1',
    type: 'convert',
    value: 80,
    at,
  },
  attribution: { channel: 'web', campaignId: offer.campaign.id, segmentId: null, heldOut: false },
});
const purchase = (at: number, productId = offer.productId): LogEntry => ({
  kind: 'outcome',
  event: {
    eventId: `o-${productId}`,
    customerId: 'c1',
    type: 'purchase',
    productId,
    value: 80,
    at,
    channel: null,
    source: 'order-system',
  },
});
const purchaseBy = (customerId: string, at: number): LogEntry => {
  const entry = purchase(at);
  return entry.kind === 'outcome'
    ? { ...entry, event: { ...entry.event, customerId, eventId: `o-${at}` } }
    : entry;
};
const conversions = (counters: readonly { field: string }[]) =>
  counters.filter((c) => c.field.endsWith('|customerConversions')).length;

describe('CustomerLoopService', () => {
  it('a convert and the order system’s purchase of the same product convert the customer once, even at the same millisecond', async () => {
    const { service } = await loop();
    expect(conversions(await service.apply(convert(T0 + HOUR)))).toBe(1);
    expect(conversions(await service.apply(purchase(T0 + HOUR)))).toBe(0);
  });

  it('a redelivered purchase credits as the first delivery did, and teaches the profile once', async () => {
    const { service, history, profiles } = await loop();
    const first = await service.apply(purchase(T0 + HOUR));
    expect(conversions(first)).toBe(1);
    // Not acknowledged (counters not applied): delivered again, the same counters.
    expect(await service.apply(purchase(T0 + HOUR))).toEqual(first);
    const events = (await history.read('c1')).events.filter((e) => e.outcome === 'purchase');
    expect(events).toHaveLength(1);
    const { profile } = await profiles.get('c1');
    expect(profile?.attributes).toMatchObject({ lifetimeRevenue: 80, purchases: 1 });
    expect(profile?.holdings.has(offer.productId)).toBe(true);
  });

  it('a purchase without a touch of its product credits nothing but still teaches', async () => {
    const { service, profiles } = await loop();
    expect(await service.apply(purchase(T0, 'mortgage'))).toEqual([]);
    expect((await profiles.get('c1')).profile?.holdings.has('mortgage')).toBe(true);
  });
});

describe('CustomerLoopService: the funnel', () => {
  it('a prospect who becomes a lead, then a customer, credits the touchpoints before each rise', async () => {
    const { service, profiles } = await loop(profileFromRecord({ id: 'p1' }), T0 + 48 * HOUR);
    const lead: LogEntry = {
      kind: 'outcome',
      event: {
        eventId: 'l1',
        customerId: 'p1',
        type: 'lead',
        productId: offer.productId,
        value: null,
        at: T0 + HOUR,
        channel: 'web',
        source: null,
      },
    };
    const all = await service.apply(lead);
    const leads = all.filter((c) => c.field.includes('|leads'));
    expect(leads.map((c) => c.field)).toEqual(
      expect.arrayContaining([`${offer.id}|web|-|leadsFirstTouch`, `${offer.id}|web|-|leadsLastTouch`]),
    );
    expect((await profiles.get('p1')).profile?.attributes.lifecycleStage).toBe('lead');
    const bought = (await service.apply(purchaseBy('p1', T0 + 2 * HOUR))).map((c) => c.field);
    expect(bought).toEqual(expect.arrayContaining([`${offer.id}|web|-|customersFirstTouch`]));
    // Again (a redelivery, or a second purchase): no new customer.
    expect((await service.apply(purchaseBy('p1', T0 + 3 * HOUR))).map((c) => c.field)).not.toContain(
      `${offer.id}|web|-|customersFirstTouch`,
    );
  });
});
