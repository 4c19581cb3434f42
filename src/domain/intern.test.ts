import { describe, expect, it } from 'vitest';
import { idIndex, internedIds, internId, knownId, knownIndex } from './intern.js';
import { profileFromRecord } from './profile.js';
import { applyPatch } from './profile-patch.js';

describe('the id pool', () => {
  it('shares catalog ids and gives each a stable index', () => {
    const a = internId('intern-test-card');
    expect(internId('intern-test-card')).toBe(a);
    expect(idIndex('intern-test-card')).toBe(idIndex(a));
    expect(knownIndex('intern-test-card')).toBe(idIndex(a));
    expect(knownId(`intern-test-${'card'}`)).toBe(a);
  });

  it('does not grow with ids clients make up in PATCHes and PUTs', () => {
    internId('intern-test-loan');
    const base = profileFromRecord({ id: 'c1', holdings: ['intern-test-loan'] });
    const before = internedIds();
    let profile = base;
    for (let i = 0; i < 1000; i++) {
      profile = applyPatch(profile, {
        holdings: { add: [`made-up-${i}`] },
        affinities: [{ product: `made-up-affinity-${i}`, score: 0.5 }],
      });
      profileFromRecord(
        { id: `c${i}`, holdings: [`put-${i}`], affinities: [{ product: `put-${i}`, score: 1 }] },
        knownId,
      );
    }
    expect(internedIds()).toBe(before);
    // Held by value all the same, and an unknown affinity has no offers (index -1).
    expect(profile.holdings.has('made-up-999')).toBe(true);
    expect(profile.holdings.has('intern-test-loan')).toBe(true);
    expect([...profile.affinities.indexes]).toEqual([-1]);
  });
});
