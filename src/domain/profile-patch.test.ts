import { describe, expect, it } from 'vitest';
import { profileFromRecord } from './profile.js';
import { applyPatch } from './profile-patch.js';

const base = profileFromRecord({
  id: 'c1',
  attributes: { age: 40, region: 'north' },
  consent: { web: true, email: true },
  holdings: ['current-account', 'card-gold'],
  affinities: [{ product: 'mortgage', score: 0.4 }],
});

describe('applyPatch', () => {
  it('merges attributes and consent key by key, null removing a key', () => {
    const next = applyPatch(base, {
      attributes: { age: 41, region: null },
      consent: { email: null, mobile: true },
    });
    expect(next.attributes).toEqual({ age: 41 });
    expect(next.consent).toEqual({ web: true, mobile: true });
    expect(base.attributes).toEqual({ age: 40, region: 'north' });
  });

  it('adds and removes holdings, and replaces affinities only when given', () => {
    const next = applyPatch(base, { holdings: { add: ['mortgage'], remove: ['card-gold'] } });
    expect([...next.holdings]).toEqual(['current-account', 'mortgage']);
    expect(next.affinities).toBe(base.affinities);
    const rescored = applyPatch(base, { affinities: [{ product: 'savings', score: 0.7 }] });
    expect([...rescored.affinities]).toEqual([['savings', 0.7]]);
  });
});
