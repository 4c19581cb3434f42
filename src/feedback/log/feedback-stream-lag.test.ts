import { describe, expect, it } from 'vitest';
import { groupLagOf, sumLags } from './feedback-stream-lag.js';

// XINFO GROUPS replies (RESP2) as Redis 7 and Redis 6 send them.
const redis7 = (name: string, pending: number, lag: number | null) => [
  'name',
  name,
  'consumers',
  1,
  'pending',
  pending,
  'last-delivered-id',
  '1700000000000-0',
  'entries-read',
  10,
  'lag',
  lag,
];
const redis6 = (name: string, pending: number) => [
  'name',
  name,
  'consumers',
  1,
  'pending',
  pending,
  'last-delivered-id',
  '1700000000000-0',
];

describe('groupLagOf', () => {
  it("reads the group's lag and pending count (Redis 7)", () => {
    expect(groupLagOf([redis7('other', 9, 9), redis7('offerloop', 3, 12)], 'offerloop', 100)).toEqual({
      lag: 12,
      pending: 3,
    });
  });

  it('has no lag where Redis does not know it: Redis 6, or entries deleted mid-stream (nil)', () => {
    expect(groupLagOf([redis6('offerloop', 2)], 'offerloop', 100)).toEqual({ lag: null, pending: 2 });
    expect(groupLagOf([redis7('offerloop', 0, null)], 'offerloop', 100)).toEqual({ lag: null, pending: 0 });
  });

  it('a stream without the group (no consumer started yet) is behind by all its entries', () => {
    expect(groupLagOf([], 'offerloop', 42)).toEqual({ lag: 42, pending: 0 });
    expect(groupLagOf([redis7('laggard', 1, 1)], 'offerloop', 5)).toEqual({ lag: 5, pending: 0 });
  });

  it('refuses a reply that is not XINFO GROUPS', () => {
    expect(() => groupLagOf('OK', 'offerloop', 0)).toThrow('XINFO GROUPS');
    expect(() => groupLagOf([1], 'offerloop', 0)).toThrow('XINFO GROUPS');
  });
});

describe('sumLags', () => {
  it("adds the shards' lags; one unknown makes the sum unknown, pending still adds up", () => {
    expect(sumLags([])).toEqual({ lag: 0, pending: 0 });
    expect(
      sumLags([
        { lag: 2, pending: 1 },
        { lag: 3, pending: 4 },
      ]),
    ).toEqual({ lag: 5, pending: 5 });
    expect(
      sumLags([
        { lag: 2, pending: 1 },
        { lag: null, pending: 4 },
      ]),
    ).toEqual({ lag: null, pending: 5 });
  });
});
