import { describe, expect, it } from 'vitest';
import { compareStreamIds, trimPoint } from './stream-id.js';

describe('compareStreamIds', () => {
  it('orders by time, then sequence, numerically and not as text', () => {
    expect(compareStreamIds('9-0', '10-0')).toBeLessThan(0);
    expect(compareStreamIds('10-2', '10-10')).toBeLessThan(0);
    expect(compareStreamIds('10-10', '10-2')).toBeGreaterThan(0);
    expect(compareStreamIds('10-0', '10')).toBe(0);
    expect(compareStreamIds('0-0', '0-1')).toBeLessThan(0);
  });

  it('keeps 64-bit ids exact', () => {
    expect(compareStreamIds('18446744073709551615-1', '18446744073709551615-0')).toBeGreaterThan(0);
    expect(compareStreamIds('9007199254740993-0', '9007199254740992-0')).toBeGreaterThan(0);
  });
});

describe('trimPoint', () => {
  const cut = '1000-0';

  it('is the retention cut when every group is past it', () => {
    expect(trimPoint(cut, [{ pending: 0, oldestPending: null, lastDelivered: '2000-5' }])).toBe(cut);
    expect(trimPoint(cut, [])).toBe(cut);
  });

  it('stops at the oldest entry a group still has pending', () => {
    const groups = [
      { pending: 0, oldestPending: null, lastDelivered: '3000-0' },
      { pending: 2, oldestPending: '500-1', lastDelivered: '3000-0' },
    ];
    expect(trimPoint(cut, groups)).toBe('500-1');
  });

  it('stops at the last entry delivered to a group that has nothing pending', () => {
    expect(trimPoint(cut, [{ pending: 0, oldestPending: null, lastDelivered: '700-3' }])).toBe('700-3');
    // A group that has read nothing holds everything.
    expect(trimPoint(cut, [{ pending: 0, oldestPending: null, lastDelivered: '0-0' }])).toBe('0-0');
  });

  it('takes the earliest over several groups, comparing numerically', () => {
    const groups = [
      { pending: 1, oldestPending: '900-10', lastDelivered: '950-0' },
      { pending: 1, oldestPending: '900-9', lastDelivered: '990-0' },
    ];
    expect(trimPoint(cut, groups)).toBe('900-9');
  });
});
