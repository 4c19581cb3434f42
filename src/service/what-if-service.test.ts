import { describe, expect, it } from 'vitest';
import { profileFromRecord } from '../domain/profile.js';
import { loadRuleset } from '../ruleset/load.js';
import { MemoryCapCounters } from '../store/cap-counters.js';
import { MemoryProfileStore } from '../store/memory-profile-store.js';
import { MemoryPopulation } from '../store/population-source.js';
import type { WhatIfRunStore } from '../store/what-if-run-store.js';
import { WhatIfService } from './what-if-service.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const RULES = new URL('../../test/fixtures/rules', import.meta.url).pathname;
const live = await loadRuleset(RULES, NOW);

function service(customers: number, shared?: WhatIfRunStore) {
  const profiles = Array.from({ length: customers }, (_, i) =>
    profileFromRecord({
      id: `c${i}`,
      consent: { web: true },
      affinities: [{ product: 'card-gold', score: 0.5 }],
    }),
  );
  return new WhatIfService({
    rules: { current: live },
    candidates: { snapshot: async () => live },
    learning: { model: () => undefined },
    population: new MemoryPopulation(new MemoryProfileStore(profiles)),
    usage: new MemoryCapCounters(),
    clock: () => NOW,
    defaultLimit: 1,
    // Yield at every look at the time: the run is still going when the test acts.
    sliceMs: 0,
    shared,
  });
}

/** A shared store in memory, as Redis keeps it: the last JSON per id. */
function sharedStore(): WhatIfRunStore & { readonly saved: Map<string, string> } {
  const saved = new Map<string, string>();
  return {
    saved,
    put: async (id, json) => {
      saved.set(id, json);
    },
    get: async (id) => saved.get(id) ?? null,
  };
}

describe('WhatIfService', () => {
  it('runs in the background and answers the report when done', async () => {
    const s = service(500);
    const started = await s.start({ candidate: 'same', channel: 'web', volume: 500 });
    expect(started).toMatchObject({ state: 'running', done: 0, total: 500, population: 500, sampleShare: 1 });
    await s.idle();
    const done = s.get(started.id);
    expect(done).toMatchObject({ state: 'done', done: 500, total: 500, error: null });
    // The same ruleset twice: no difference at all.
    expect(done.result!.difference!.totals.expectedAccepts).toBe(0);
    expect(done.result!.live.totals.decisions).toBe(500);
  });

  it('refuses a second run while one is starting or running', async () => {
    const s = service(2000);
    const first = s.start({ channel: 'web', volume: 2000 });
    await expect(s.start({ channel: 'web', volume: 10 })).rejects.toMatchObject({ statusCode: 409 });
    const { id } = await first;
    await expect(s.start({ channel: 'web', volume: 10 })).rejects.toMatchObject({
      statusCode: 409,
      code: 'what_if_running',
    });
    await s.idle();
    expect(s.get(id).state).toBe('done');
    // Once done, the next one may start.
    const next = await s.start({ channel: 'web', volume: 10 });
    await s.idle();
    expect(s.get(next.id).state).toBe('done');
  });

  it('stops a run at close(), as failed, and refuses new ones', async () => {
    const s = service(5000);
    const { id } = await s.start({ channel: 'web', volume: 5000 });
    await s.close();
    const stopped = s.get(id);
    expect(stopped.state).toBe('failed');
    expect(stopped.error).toMatch(/shutting down/);
    expect(stopped.done).toBeLessThan(5000);
    await expect(s.start({ channel: 'web', volume: 10 })).rejects.toThrow(/closed/);
  });

  it('shares a run: another server finds its progress and its report; an unknown id is 404', async () => {
    const store = sharedStore();
    const runner = service(300, store);
    const other = service(1, store);
    const { id } = await runner.start({ channel: 'web', volume: 300 });
    expect((await other.find(id)).state).toBe('running');
    await runner.idle();
    expect(await other.find(id)).toEqual(runner.get(id));
    await expect(other.find('wi-none')).rejects.toMatchObject({ statusCode: 404 });
    expect(() => other.get(id)).toThrow(/no what-if/);
  });
});
