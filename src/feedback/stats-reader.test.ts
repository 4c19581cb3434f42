import { describe, expect, it } from 'vitest';
import { FeedbackStats } from './feedback-effects.js';
import { MemoryStatsReader } from './stats-reader.js';

describe('MemoryStatsReader', () => {
  it('answers every day asked for, an empty map for a day without counters, and copies', async () => {
    const stats = new FeedbackStats();
    stats.add([
      { day: 10, field: 'gold|web|-|impressions', amount: 1, float: false },
      { day: 10, field: 'gold|web|-|impressions', amount: 1, float: false },
      { day: 10, field: 'gold|web|-|revenue', amount: 2.5, float: true },
      { day: 12, field: 'gold|web|-|clicks', amount: 1, float: false },
    ]);
    const reader = new MemoryStatsReader(stats);
    const days = await reader.read([10, 11, 12]);
    expect([...days.keys()]).toEqual([10, 11, 12]);
    expect(days.get(10)).toEqual(
      new Map([
        ['gold|web|-|impressions', 2],
        ['gold|web|-|revenue', 2.5],
      ]),
    );
    expect(days.get(11)).toEqual(new Map());
    expect(days.get(12)).toEqual(new Map([['gold|web|-|clicks', 1]]));
    // A report's copy does not move when counting goes on.
    stats.add([{ day: 12, field: 'gold|web|-|clicks', amount: 1, float: false }]);
    expect(days.get(12)!.get('gold|web|-|clicks')).toBe(1);
    expect(stats.snapshot().get('12|gold|web|-|clicks')).toBe(2);
  });
});
