import { describe, expect, it } from 'vitest';
import { DemoClock } from './demo-clock.js';

describe('DemoClock', () => {
  const DAY = 86_400_000;

  it('starts the span before the real clock, moves forward only, then is the real clock', () => {
    let real = Date.parse('2026-11-22T12:00:00Z');
    const clock = new DemoClock(() => real, 28 * DAY);
    expect(clock.start).toBe(real - 28 * DAY);
    expect(clock.end).toBe(real);
    expect(clock.now()).toBe(clock.start);
    real += 5000; // the real time goes on while the history plays; the demo's does not
    expect(clock.now()).toBe(clock.start);
    clock.advance(clock.start + DAY);
    expect(clock.now()).toBe(clock.start + DAY);
    expect(() => clock.advance(clock.start)).toThrow(RangeError);
    clock.advance(clock.end + DAY); // never past the end: the history is in the past
    expect(clock.now()).toBe(clock.end);
    expect(clock.playing).toBe(true);
    clock.finish();
    expect(clock.playing).toBe(false);
    expect(clock.now()).toBe(real);
    expect(() => clock.advance(real + 1)).toThrow();
  });
});
