import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stableHash32 } from '../domain/stable-hash.js';
import { controlDraw, inControlGroup } from './control-group.js';

describe('control-group assignment', () => {
  it('draws uniformly: the held-out share matches the configured share', () => {
    const salt = stableHash32('campaign-x');
    let held = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) if (inControlGroup(stableHash32(`cust-${i}`), salt, 0.1)) held++;
    expect(held / n).toBeGreaterThan(0.095);
    expect(held / n).toBeLessThan(0.105);
  });

  it('assigns independently per campaign', () => {
    const a = stableHash32('campaign-a');
    const b = stableHash32('campaign-b');
    let both = 0;
    const n = 100_000;
    for (let i = 0; i < n; i++) {
      const h = stableHash32(`cust-${i}`);
      if (inControlGroup(h, a, 0.2) && inControlGroup(h, b, 0.2)) both++;
    }
    expect(both / n).toBeGreaterThan(0.035);
    expect(both / n).toBeLessThan(0.045);
  });

  it('draws in [0, 1) for any input, and a share of 0 holds out nobody', () => {
    fc.assert(
      fc.property(fc.string(), fc.integer({ min: 0, max: 2 ** 32 - 1 }), (id, salt) => {
        const d = controlDraw(stableHash32(id), salt);
        expect(d).toBeGreaterThanOrEqual(0);
        expect(d).toBeLessThan(1);
        expect(inControlGroup(stableHash32(id), salt, 0)).toBe(false);
      }),
    );
  });
});
