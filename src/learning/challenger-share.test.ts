import { describe, expect, it } from 'vitest';
import { stableHash32 } from '../domain/stable-hash.js';
import { CHALLENGER_SALT, inChallengerShare } from './challenger-share.js';
import { GLOBAL_HOLDOUT_SALT, inControlGroup } from './control-group.js';

const ids = Array.from({ length: 20_000 }, (_, i) => `cust-${i}`);

describe('challenger share', () => {
  it('takes about the share asked for, within a binomial bound', () => {
    for (const share of [0.05, 0.3, 0.5]) {
      const n = ids.filter((id) => inChallengerShare(id, share)).length;
      const sd = Math.sqrt(ids.length * share * (1 - share));
      expect(Math.abs(n - ids.length * share)).toBeLessThan(4 * sd);
    }
  });

  it('is none at 0 and all at 1, and the same customer every time', () => {
    expect(ids.some((id) => inChallengerShare(id, 0))).toBe(false);
    expect(ids.every((id) => inChallengerShare(id, 1))).toBe(true);
    const first = ids.map((id) => inChallengerShare(id, 0.3));
    expect(ids.map((id) => inChallengerShare(id, 0.3))).toEqual(first);
  });

  it('a larger share keeps every customer of a smaller one', () => {
    for (const id of ids) if (inChallengerShare(id, 0.2)) expect(inChallengerShare(id, 0.4)).toBe(true);
  });

  it('is independent of control groups: their share is the same inside and outside the challenger', () => {
    expect(CHALLENGER_SALT).not.toBe(GLOBAL_HOLDOUT_SALT);
    const campaignSalt = stableHash32('cards-q1');
    const inside = ids.filter((id) => inChallengerShare(id, 0.5));
    const outside = ids.filter((id) => !inChallengerShare(id, 0.5));
    const controlShare = (group: string[]) =>
      group.filter((id) => inControlGroup(stableHash32(id), campaignSalt, 0.2)).length / group.length;
    // Two independent samples of ~10,000 at p = 0.2: a standard error of ~0.0057 on the difference.
    expect(Math.abs(controlShare(inside) - controlShare(outside))).toBeLessThan(0.025);
  });
});
