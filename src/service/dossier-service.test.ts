import { describe, expect, it } from 'vitest';
import { EXAMPLE_RULES } from '../../test/helpers.js';
import type { ContactEvent } from '../domain/contact.js';
import { profileFromRecord } from '../domain/profile.js';
import { applyFacts, type Fact, judgeStage, learn } from '../learning/profile-learning.js';
import { loadRuleset } from '../ruleset/load.js';
import { MemoryContactHistoryStore } from '../store/contact-history-store.js';
import { MemoryIdentityStore } from '../store/identity-store.js';
import { MemoryLearnedFactsStore } from '../store/learned-facts-store.js';
import { MemoryProfileStore } from '../store/memory-profile-store.js';
import { DossierService } from './dossier-service.js';

// The dossier's relationship, recent contacts and journey, on the memory stores and the example rules (whose
// lifecycle has stages), with a clock of its own.

const T0 = Date.parse('2026-11-22T12:00:00Z');
const DAY = 86_400_000;
const snapshot = await loadRuleset(EXAMPLE_RULES, T0);
const product = snapshot.offers[0]!.productId;

const loaded = profileFromRecord({ id: 'c-1', attributes: { age: 40 }, holdings: [] });

async function world(facts: Fact[] = []) {
  const profiles = new MemoryProfileStore([loaded]);
  const history = new MemoryContactHistoryStore();
  const learned = new MemoryLearnedFactsStore();
  for (const fact of facts) {
    const next = await learned.update('c-1', (f) =>
      judgeStage(learn(f, fact), loaded, snapshot.lifecycle, fact.at, `purchase (event ${fact.eventId})`),
    );
    await profiles.update('c-1', () => applyFacts(loaded, next));
  }
  const identities = new MemoryIdentityStore();
  const rules = { current: snapshot };
  const deps = { rules, profiles, history, learned, identities, clock: () => T0 };
  return { history, identities, deps, dossiers: new DossierService(deps) };
}

const purchase = (eventId: string, at: number, value: number): Fact => ({
  eventId,
  kind: 'purchase',
  productId: product,
  value,
  at,
});

describe('the dossier relationship', () => {
  it('shows the stage recorded by learning, its last transitions newest first, and the value', async () => {
    const { dossiers } = await world([purchase('o-1', T0 - 400 * DAY, 100), purchase('o-2', T0 - DAY, 50.5)]);
    const { relationship } = await dossiers.dossier('c-1');
    const nameOf = (id: string) => snapshot.lifecycle.find((s) => s.id === id)?.name;
    expect(relationship.lifetimeRevenue).toBe(150.5);
    expect(relationship.purchases).toBe(2);
    expect(relationship.productsHeld).toBe(1);
    expect(relationship.firstPurchaseAt).toBe(new Date(T0 - 400 * DAY).toISOString());
    expect(relationship.lastPurchaseAt).toBe(new Date(T0 - DAY).toISOString());
    expect(relationship.stage).toMatchObject({ source: 'recorded', since: new Date(T0 - DAY).toISOString() });
    expect(relationship.stage?.name).toBe(nameOf(relationship.stage!.id));
    expect(relationship.transitions.length).toBeGreaterThan(0);
    expect(relationship.transitions[0]?.to?.id).toBe(relationship.stage?.id);
    expect(relationship.transitions[0]?.cause).toContain('o-2');
  });

  it('judges the stage now when the profile records none (no since), from the ruleset', async () => {
    const { dossiers } = await world();
    const { relationship } = await dossiers.dossier('c-1');
    expect(relationship).toMatchObject({
      stage: { id: 'prospect', name: 'Prospect', since: null, source: 'judged' },
      transitions: [],
      lifetimeRevenue: 0,
      purchases: 0,
      productsHeld: 0,
      lastPurchaseAt: null,
    });
  });

  it('is still shown, marked degraded, when the learned facts cannot be read', async () => {
    const { deps } = await world();
    const failing = new DossierService({
      ...deps,
      learned: { get: () => Promise.reject(new Error('Redis is unavailable')) },
    });
    const dossier = await failing.dossier('c-1');
    expect(dossier).toMatchObject({ customerId: 'c-1', degraded: true, relationship: { transitions: [] } });
  });
});

describe('the dossier recent contacts', () => {
  it('leaves out offers withheld by a control group, and names the product of every line', async () => {
    const { history, dossiers } = await world();
    const offer = snapshot.offers[0]!;
    const events: ContactEvent[] = [
      {
        offerId: offer.id,
        campaignId: offer.campaign.id,
        channel: 'web',
        outcome: 'impression',
        at: T0 - 3000,
      },
      {
        offerId: offer.id,
        campaignId: offer.campaign.id,
        channel: 'web',
        outcome: 'held_out',
        at: T0 - 2000,
      },
      {
        offerId: '',
        campaignId: '',
        channel: 'call_center',
        outcome: 'purchase',
        at: T0 - 1000,
        productId: 'p-9',
      },
    ];
    await history.append('c-1', events);
    const { recentContacts } = await dossiers.dossier('c-1');
    expect(recentContacts.map((c) => [c.outcome, c.productId])).toEqual([
      ['purchase', 'p-9'],
      ['impression', offer.productId],
    ]);
  });
});

describe('the dossier journey', () => {
  it('holds the newest steps across ids, newest first: offers, a lead, the link, stage changes by name', async () => {
    const { history, identities, dossiers } = await world([purchase('o-1', T0 - 1000, 20)]);
    const offer = snapshot.offers[0]!;
    const shown = (at: number): ContactEvent => ({
      offerId: offer.id,
      campaignId: offer.campaign.id,
      channel: 'web',
      outcome: 'impression',
      placement: 'hero',
      at,
    });
    // Older impressions than the call screen has room for: only the newest steps come.
    await history.append('c-1', [
      ...Array.from({ length: 12 }, (_, i) => shown(T0 - 60_000 - i * 1000)),
      { offerId: '', campaignId: '', channel: 'web', outcome: 'lead', at: T0 - 5000 },
    ]);
    await identities.link('visitor-1', 'c-1', T0 - 3000);

    const { journey, degraded } = await dossiers.dossier('c-1');
    expect(degraded).toBe(false);
    expect(journey).toHaveLength(10);
    expect(journey.map((s) => s.at)).toEqual([...journey.map((s) => s.at)].sort().reverse());
    const [stage, identified, lead, first] = journey;
    // The first stage the facts record comes from none: a name only for the stage there is.
    expect(stage).toMatchObject({ kind: 'stage', at: new Date(T0 - 1000).toISOString(), from: null });
    expect(stage).not.toHaveProperty('fromName');
    expect(stage?.toName).toBeDefined();
    expect(stage?.toName).toBe(snapshot.lifecycle.find((l) => l.id === stage?.to)?.name);
    expect(identified).toMatchObject({ kind: 'identified', anonymousId: 'visitor-1' });
    expect(lead).toMatchObject({ kind: 'outcome', type: 'lead', channel: 'web' });
    expect(first).toMatchObject({
      kind: 'offer',
      channel: 'web',
      placement: 'hero',
      campaignId: offer.campaign.id,
      campaignName: offer.campaign.name,
      at: new Date(T0 - 60_000).toISOString(),
    });
  });

  it('is left empty, the dossier marked degraded, when the journey cannot be read (its links)', async () => {
    const { deps } = await world();
    const failing = new DossierService({
      ...deps,
      identities: { linksOf: () => Promise.reject(new Error('Redis is unavailable')) },
    });
    expect(await failing.dossier('c-1')).toMatchObject({ customerId: 'c-1', journey: [], degraded: true });
  });
});
