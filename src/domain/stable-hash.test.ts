import { describe, expect, it } from 'vitest';
import { stableHash32 } from './stable-hash.js';

describe('stableHash32', () => {
  it('is stable: a fixed hash for a fixed id, on every platform', () => {
    expect(stableHash32('')).toBe(0x811c9dc5);
    expect(stableHash32('cust-1')).toBe(stableHash32('cust-1'));
    expect(stableHash32('a')).toBe(0xe40c292c);
  });
});
