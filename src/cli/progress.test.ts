import { describe, expect, it } from 'vitest';
import { Progress, type ProgressOptions } from './progress.js';

function setup(isTTY: boolean, options: Omit<ProgressOptions, 'now'> = {}) {
  const writes: string[] = [];
  const clock = { ms: 1_000_000 };
  const stream = { isTTY, write: (s: string) => writes.push(s) };
  const progress = new Progress(stream, 'load', { ...options, now: () => clock.ms });
  return { writes, clock, progress };
}

describe('Progress on a terminal', () => {
  it('redraws one line with bar, percent, rate, ETA and extra text', () => {
    const { writes, clock, progress } = setup(true, { total: 1000 });
    clock.ms += 2_000;
    progress.update(250, '3 bad');
    expect(writes).toEqual([`\rload: [######..................] 25% 250/1,000 125/s ETA 6s 3 bad\x1b[K`]);
  });

  it('redraws at most every 100 ms', () => {
    const { writes, clock, progress } = setup(true, { total: 1000 });
    progress.update(1);
    clock.ms += 50;
    progress.update(2);
    progress.update(3);
    expect(writes).toHaveLength(1);
    clock.ms += 50;
    progress.update(4);
    expect(writes).toHaveLength(2);
  });

  it('shows amount and rate without bar or ETA when the total is unknown', () => {
    const { writes, clock, progress } = setup(true, { unit: 'bytes' });
    clock.ms += 4_000;
    progress.update(8 * 1024 * 1024);
    expect(writes).toEqual(['\rload: 8.0 MiB 2.0 MiB/s\x1b[K']);
  });

  it('ends with the summary on its own line and ignores later updates', () => {
    const { writes, clock, progress } = setup(true, { total: 10 });
    progress.finish('10 profiles, 0 bad');
    clock.ms += 1_000;
    progress.update(10);
    progress.finish('again');
    expect(writes).toEqual(['\rload: 10 profiles, 0 bad\x1b[K\n']);
  });
});

describe('Progress in a log', () => {
  it('writes a plain line at each 10 % step only', () => {
    const { writes, clock, progress } = setup(false, { total: 100 });
    for (let done = 1; done <= 100; done++) {
      clock.ms += 1_000;
      progress.update(done);
    }
    expect(writes).toHaveLength(10);
    expect(writes[0]).toBe('load: 10% 10/100 1/s ETA 1m30s\n');
    expect(writes[9]).toBe('load: 100% 100/100 1/s ETA 0s\n');
    expect(writes.join('')).not.toContain('\r');
  });

  it('writes one line for a jump over several steps, even if the jump came during a pause', () => {
    const { writes, clock, progress } = setup(false, { total: 100 });
    clock.ms += 1_000;
    progress.update(5);
    progress.update(35); // within 100 ms of the last update: not even looked at
    expect(writes).toEqual([]);
    clock.ms += 1_000;
    progress.update(35);
    clock.ms += 1_000;
    progress.update(37);
    expect(writes).toEqual(['load: 35% 35/100 18/s ETA 4s\n']);
  });

  it('writes every 5 s when the total is unknown', () => {
    const { writes, clock, progress } = setup(false);
    for (let s = 1; s <= 12; s++) {
      clock.ms += 1_000;
      progress.update(s * 1_500, 'reading');
    }
    expect(writes).toEqual(['load: 7,500 1,500/s reading\n', 'load: 15,000 1,500/s reading\n']);
  });

  it('ends with the summary without a carriage return', () => {
    const { writes, progress } = setup(false, { total: 10 });
    progress.finish('done');
    expect(writes).toEqual(['load: done\n']);
  });
});
