import { describe, expect, it } from 'vitest';
import { RateLimiter } from './rate-limiter.js';

describe('RateLimiter', () => {
  it('lets a burst of one second through, then refills at the rate', () => {
    const limiter = new RateLimiter();
    const t = 1_000_000;
    for (let i = 0; i < 10; i++) expect(limiter.takeForKey('k', 10, t)).toBe(0);
    // Empty: the next token is back in 1000 / 10 ms.
    expect(limiter.takeForKey('k', 10, t)).toBe(100);
    expect(limiter.takeForKey('k', 10, t + 50)).toBe(50);
    expect(limiter.takeForKey('k', 10, t + 100)).toBe(0);
    expect(limiter.takeForKey('k', 10, t + 100)).toBe(100);
    // A long pause refills the bucket, never beyond one second's worth.
    const later = t + 60_000;
    for (let i = 0; i < 10; i++) expect(limiter.takeForKey('k', 10, later)).toBe(0);
    expect(limiter.takeForKey('k', 10, later)).toBeGreaterThan(0);
  });

  it('keeps keys and clients apart', () => {
    const limiter = new RateLimiter();
    expect(limiter.takeForKey('a', 1, 0)).toBe(0);
    expect(limiter.takeForKey('a', 1, 0)).toBe(1000);
    expect(limiter.takeForKey('b', 1, 0)).toBe(0);
    expect(limiter.takeForClient('pk|10.0.0.1', 2, 0)).toBe(0);
    expect(limiter.takeForClient('pk|10.0.0.1', 2, 0)).toBe(0);
    expect(limiter.takeForClient('pk|10.0.0.1', 2, 0)).toBe(500);
    expect(limiter.takeForClient('pk|10.0.0.2', 2, 0)).toBe(0);
  });

  it('does not go back in time when clocks disagree', () => {
    const limiter = new RateLimiter();
    expect(limiter.takeForKey('k', 1, 5000)).toBe(0);
    expect(limiter.takeForKey('k', 1, 4000)).toBe(1000);
  });
});
