import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { AffinityTable } from './affinity-table.js';

describe('AffinityTable', () => {
  it('behaves like a Map built from the same entries', () => {
    const entry = fc.record({
      product: fc.constantFrom('a', 'b', 'c', 'd', 'e', 'f'),
      score: fc.double({ min: 0, max: 1 }),
    });
    fc.assert(
      fc.property(fc.array(entry, { maxLength: 12 }), fc.constantFrom('a', 'b', 'z'), (entries, probe) => {
        const table = AffinityTable.from(entries);
        const map = new Map<string, number>(entries.map((e) => [e.product, e.score]));
        expect(table.size).toBe(map.size);
        expect(table.get(probe)).toBe(map.get(probe));
        expect(table.has(probe)).toBe(map.has(probe));
        expect([...table]).toEqual([...map]);
        expect([...table.keys()]).toEqual([...map.keys()]);
        expect([...table.values()]).toEqual([...map.values()]);
      }),
    );
  });

  it('shares one empty table', () => {
    expect(AffinityTable.from([])).toBe(AffinityTable.EMPTY);
  });
});
