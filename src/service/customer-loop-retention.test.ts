import { describe, expect, it } from 'vitest';
import { EXAMPLE_RULES } from '../../test/helpers.js';
import { profileFromRecord } from '../domain/profile.js';
import type { LogEntry } from '../feedback/feedback-event.js';
import { loadRuleset } from '../ruleset/load.js';
import { MemoryContactHistoryStore } from '../store/contact-history-store.js';
import { MemoryLearnedFactsStore } from '../store/learned-facts-store.js';
import { MemoryProfileStore } from '../store/memory-profile-store.js';
import { CustomerLoopService } from './customer-loop-service.js';

// Retention through the customer loop: a cancel outcome counts once per open campaign episode
// (feedback/cancel-attribution.ts), is recorded in the history, and a redelivery counts the same.

const T0 = Date.parse('2026-11-20T12:00:00Z');
const HOUR = 3_600_000;
const snapshot = await loadRuleset(EXAMPLE_RULES, T0);
const offer = snapshot.offerById.get('retention-fee-waiver')!;

async function loop() {
  const history = new MemoryContactHistoryStore();
  const person = profileFromRecord({ id: 'c1', holdings: ['credit-card-classic', 'current-account'] });
  const service = new CustomerLoopService({
    rules: { current: snapshot },
    history,
    profiles: new MemoryProfileStore([person]),
    learned: new MemoryLearnedFactsStore(),
    windows: { reactionMs: 24 * HOUR, conversionMs: 7 * 24 * HOUR },
    clock: () => T0 + 48 * HOUR,
    announceProfileChange: () => Promise.resolve(),
  });
  await history.append('c1', [
    {
      offerId: offer.id,
      campaignId: offer.campaign.id,
      channel: 'call_center',
      outcome: 'impression',
      at: T0,
    },
  ]);
  return { service, history };
}

const cancel = (eventId: string, productId: string, at: number): LogEntry => ({
  kind: 'outcome',
  event: {
    eventId,
    customerId: 'c1',
    type: 'cancel',
    productId,
    value: null,
    at,
    channel: null,
    source: 'core',
  },
});
const cancels = (counters: readonly { field: string }[]) =>
  counters.filter((c) => c.field.endsWith('|customerCancels')).map((c) => c.field);

describe('CustomerLoopService: retention', () => {
  it('a cancel during an episode counts once for it, whatever the product, and a second one not', async () => {
    const { service, history } = await loop();
    const first = await service.apply(cancel('x1', 'credit-card-classic', T0 + HOUR));
    expect(cancels(first)).toEqual([`${offer.id}|call_center|-|customerCancels`]);
    // Delivered again before it was acknowledged: the same counters, one record in the history.
    expect(cancels(await service.apply(cancel('x1', 'credit-card-classic', T0 + HOUR)))).toEqual(
      cancels(first),
    );
    const recorded = (await history.read('c1')).events.filter((e) => e.outcome === 'cancel');
    expect(recorded).toEqual([
      {
        offerId: offer.id,
        campaignId: offer.campaign.id,
        channel: 'call_center',
        outcome: 'cancel',
        at: T0 + HOUR,
        productId: 'credit-card-classic',
      },
    ]);
    // Another cancel in the same episode: the episode is already counted.
    expect(cancels(await service.apply(cancel('x2', 'current-account', T0 + 2 * HOUR)))).toEqual([]);
  });
});
