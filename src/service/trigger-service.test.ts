import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { profileFromRecord } from '../domain/profile.js';
import type { EngineDecision } from '../engine/decide.js';
import { buildRuleset } from '../ruleset/load.js';
import { MemoryAdviserBooks } from '../store/adviser-books.js';
import { ErasedIds, ErasureHasher } from '../store/erased-ids.js';
import { MemoryEventDedupe } from '../store/event-dedupe.js';
import { MemoryProfileStore } from '../store/memory-profile-store.js';
import { MemoryWebhookOutbox } from '../store/webhook-outbox.js';
import type { DecideCommand, DecisionResult } from './decision-service.js';
import { TriggerService } from './trigger-service.js';

const NOW = Date.UTC(2026, 10, 22);
const snapshot = buildRuleset(
  [
    {
      name: 'rules.yaml',
      text: readFileSync(new URL('../../test/fixtures/trigger-rules/rules.yaml', import.meta.url), 'utf8'),
    },
  ],
  NOW,
);

/** A decision service that answers what the test says, and remembers what it was asked. */
function decisions(answer: (command: DecideCommand) => Partial<EngineDecision> | Error) {
  const asked: DecideCommand[] = [];
  return {
    asked,
    decide: (command: DecideCommand): Promise<DecisionResult> => {
      asked.push(command);
      const engine = answer(command);
      if (engine instanceof Error) return Promise.reject(engine);
      return Promise.resolve({
        decisionId: `d-${asked.length}`,
        customerId: command.customerId,
        customerKnown: true,
        channel: command.channel,
        placement: null,
        rulesetVersion: snapshot.version,
        decidedAt: NOW,
        degraded: false,
        preview: false,
        engine: { offers: [], heldOut: [], suppressed: null, limit: 1, explored: false, cost: 0, ...engine },
      });
    },
  };
}

function service(decide: ReturnType<typeof decisions>, erased = new ErasedIds(ErasureHasher.random())) {
  const published: { customerId: string | null; adviserId: string | null }[] = [];
  const outbox = new MemoryWebhookOutbox();
  const triggers = new TriggerService({
    rules: { current: snapshot },
    profiles: new MemoryProfileStore([
      profileFromRecord({ id: 'c-1', attributes: { adviserId: 'adv-1' } }),
      profileFromRecord({ id: 'c-2' }),
    ]),
    decisions: decide,
    dedupe: new MemoryEventDedupe(() => NOW),
    books: new MemoryAdviserBooks(),
    publisher: {
      encode: (push) => JSON.stringify(push),
      publish: (_json, customerId, adviserId) => {
        published.push({ customerId, adviserId });
        return 1;
      },
    },
    outbox,
    erased,
    queued: () => {},
    clock: () => NOW,
    eventIdTtlMs: 60_000,
  });
  return { triggers, published, outbox };
}

const cart = (eventId: string, customerId = 'c-1') => ({
  eventId,
  type: 'cart.abandoned',
  customerId,
  attributes: { cartValue: 80 },
});

describe('TriggerService', () => {
  it("decides on the trigger's channel with its limit and why, and pushes to the customer and the adviser", async () => {
    const offer = snapshot.offerById.get('cart-loan')!;
    const decide = decisions(() => ({ offers: [{ offer } as EngineDecision['offers'][number]] }));
    const { triggers, published, outbox } = service(decide);
    const [receipt] = await triggers.record([cart('e-1')]);
    expect(receipt).toMatchObject({
      status: 'triggered',
      triggerId: 'big-cart',
      offers: ['cart-loan'],
      webhooks: 1,
    });
    expect(decide.asked[0]).toMatchObject({
      customerId: 'c-1',
      channel: 'sales_force',
      limit: 1,
      context: { trigger: 'big-cart', eventType: 'cart.abandoned' },
    });
    expect(published).toEqual([{ customerId: 'c-1', adviserId: 'adv-1' }]);
    expect(await outbox.pending()).toBe(1);
    expect((await outbox.jobsOf(['c-1'])).pending).toMatchObject([{ customerId: 'c-1', webhook: 'crm' }]);
  });

  it("an erased customer's event is refused (erased): nothing decided, pushed, queued or remembered", async () => {
    const offer = snapshot.offerById.get('cart-loan')!;
    const decide = decisions(() => ({ offers: [{ offer } as EngineDecision['offers'][number]] }));
    const erased = new ErasedIds(ErasureHasher.random());
    erased.addTombstones([erased.tombstoneOf('c-1')]);
    const { triggers, published, outbox } = service(decide, erased);
    const receipts = await triggers.record([cart('e-1'), cart('e-2', erased.hasher.pseudonym('c-2'))]);
    expect(receipts).toEqual([
      { eventId: 'e-1', status: 'erased' },
      { eventId: 'e-2', status: 'erased' },
    ]);
    expect([decide.asked, published, await outbox.pending()]).toEqual([[], [], 0]);
    // The id was not claimed: were the tombstone lifted (a new relationship), the event could trigger.
    erased.removeTombstone(erased.tombstoneOf('c-1'));
    expect((await triggers.record([cart('e-1')]))[0]!.status).toBe('triggered');
  });

  it('no room on the channel is suppressed, nothing eligible no_offer: neither pushes', async () => {
    const { triggers, published } = service(decisions((c) => (c.customerId === 'c-1' ? { limit: 0 } : {})));
    const receipts = await triggers.record([cart('e-1'), cart('e-2', 'c-2')]);
    expect(receipts.map((r) => r.status)).toEqual(['suppressed', 'no_offer']);
    expect(published).toEqual([]);
  });

  it('an event that failed part-way gives its id back: the retry is processed, not a duplicate', async () => {
    let fail = true;
    const decide = decisions(() => {
      if (!fail) return {};
      fail = false;
      return new Error('Redis is unavailable');
    });
    const { triggers } = service(decide);
    await expect(triggers.record([cart('e-1')])).rejects.toThrow('Redis is unavailable');
    expect((await triggers.record([cart('e-1')]))[0]!.status).toBe('no_offer');
    expect((await triggers.record([cart('e-1')]))[0]!.status).toBe('duplicate');
  });
});
