import { describe, expect, it } from 'vitest';
import { RateLimiter, SharedTakes } from './rate-limiter.js';

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

describe('RateLimiter across servers (drainTaken, charge)', () => {
  it('counts what each key let through until drained, every key seen included', () => {
    const limiter = new RateLimiter();
    for (let i = 0; i < 3; i++) limiter.takeForKey('a', 2, 0);
    limiter.takeForKey('b', 5, 0);
    limiter.takeForClient('pk|10.0.0.1', 5, 0);
    // Refused requests are not counted; client buckets are not shared.
    expect(limiter.drainTaken()).toEqual([
      ['a', 2],
      ['b', 1],
    ]);
    expect(limiter.drainTaken()).toEqual([
      ['a', 0],
      ['b', 0],
    ]);
  });

  it('a charge empties the bucket, below zero, and the debt is refilled at the rate', () => {
    const limiter = new RateLimiter();
    expect(limiter.takeForKey('k', 10, 0)).toBe(0);
    // Others took 14 while this server had 9 left: 5 owed, so the next token is 600 ms away.
    limiter.charge('k', 14);
    expect(limiter.takeForKey('k', 10, 0)).toBe(600);
    expect(limiter.takeForKey('k', 10, 599)).toBe(1);
    expect(limiter.takeForKey('k', 10, 600)).toBe(0);
    // Keys this server never saw are not charged (they start with a full bucket).
    limiter.charge('new', 100);
    expect(limiter.takeForKey('new', 10, 600)).toBe(0);
  });
});

describe('SharedTakes', () => {
  it("answers the growth of the total less this server's own adds", () => {
    const shared = new SharedTakes();
    expect(shared.othersTook('k', 3, 10)).toBe(0); // a baseline
    expect(shared.othersTook('k', 2, 19)).toBe(7);
    expect(shared.othersTook('k', 0, 19)).toBe(0);
    expect(shared.othersTook('other', 1, 1)).toBe(0);
  });

  it('starts over when the total went down (Redis lost it) or after forget()', () => {
    const shared = new SharedTakes();
    shared.othersTook('k', 0, 100);
    expect(shared.othersTook('k', 4, 4)).toBe(0);
    expect(shared.othersTook('k', 1, 8)).toBe(3);
    shared.forget();
    expect(shared.othersTook('k', 1, 500)).toBe(0);
    expect(shared.othersTook('k', 1, 502)).toBe(1);
  });
});

/**
 * Servers with a limiter each, a shared total per key as Redis keeps it, syncs every `syncMs` with a
 * round trip of `rttMs`, requests every `everyMs` on every server, on a clock of their own. Answers
 * what all the servers let through in `seconds`.
 */
function simulate(o: {
  servers: number;
  rate: number;
  seconds: number;
  syncMs: number;
  rttMs: number;
  everyMs: number;
  shared: boolean;
  /** Request start times are staggered per server by this many ms. */
  offsetMs?: number;
}): number[] {
  const servers = Array.from({ length: o.servers }, () => ({
    limiter: new RateLimiter(),
    takes: new SharedTakes(),
    inFlight: null as null | { answerAt: number; added: number; total: number },
    nextSync: 0,
    admitted: 0,
  }));
  let total = 0;
  for (let now = 0; now <= o.seconds * 1000; now++) {
    servers.forEach((s, i) => {
      if (o.shared && s.inFlight !== null && s.inFlight.answerAt <= now) {
        s.limiter.charge('k', s.takes.othersTook('k', s.inFlight.added, s.inFlight.total));
        s.inFlight = null;
      }
      if ((now + i * (o.offsetMs ?? 0)) % o.everyMs === 0 && s.limiter.takeForKey('k', o.rate, now) === 0) {
        s.admitted++;
      }
      if (o.shared && s.inFlight === null && now >= s.nextSync) {
        // Redis adds and reads in one step, half a round trip after the sync starts: modelled at its start.
        const added = s.limiter.drainTaken().find(([name]) => name === 'k')?.[1] ?? 0;
        total += added;
        s.inFlight = { answerAt: now + o.rttMs, added, total };
        s.nextSync = now + o.syncMs;
      }
    });
  }
  return servers.map((s) => s.admitted);
}

describe('a key shared by servers (simulated, injected clock)', () => {
  const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
  for (const servers of [2, 3, 5]) {
    it(`${servers} servers under sustained load stay within R × (T + 1) + (N − 1) × (R × L + 1)`, () => {
      const rate = 50;
      const seconds = 10;
      const syncMs = 100;
      const rttMs = 5;
      const admitted = simulate({
        servers,
        rate,
        seconds,
        syncMs,
        rttMs,
        everyMs: 2,
        shared: true,
        offsetMs: 1,
      });
      const l = (2 * syncMs + rttMs) / 1000;
      const bound = rate * (seconds + 1) + (servers - 1) * rate * (1 + l);
      expect(sum(admitted)).toBeLessThanOrEqual(bound);
      // Under sustained load (every bucket drained) the extra is (N − 1) × (R × L + 1): 553 for 2
      // servers, 557 for 3, 568 for 5, where one bucket alone would let 550 through.
      expect(sum(admitted)).toBeLessThanOrEqual(rate * (seconds + 1) + (servers - 1) * (rate * l + 1));
      // Nobody is starved for good: the cluster gets about its rate, and every server a share.
      expect(sum(admitted)).toBeGreaterThanOrEqual(rate * seconds);
      for (const a of admitted) expect(a).toBeGreaterThan(0);
      // Per process, as before: N × R × (T + 1).
      const local = simulate({ servers, rate, seconds, syncMs, rttMs, everyMs: 2, shared: false });
      expect(sum(local)).toBe(servers * rate * (seconds + 1));
    });
  }

  it('a server that takes nothing leaves the whole rate to the others', () => {
    const rate = 20;
    // One request a second at most on server 1 (everyMs 1000, offset 500), a flood on server 0.
    const servers = Array.from({ length: 2 }, () => ({
      limiter: new RateLimiter(),
      takes: new SharedTakes(),
    }));
    let total = 0;
    let admitted0 = 0;
    for (let now = 0; now <= 10_000; now++) {
      if (servers[0]!.limiter.takeForKey('k', rate, now) === 0) admitted0++;
      if (now % 1000 === 500) servers[1]!.limiter.takeForKey('k', rate, now);
      if (now % 100 === 0) {
        for (const s of servers) {
          const added = s.limiter.drainTaken().find(([name]) => name === 'k')?.[1] ?? 0;
          total += added;
          s.limiter.charge('k', s.takes.othersTook('k', added, total));
        }
      }
    }
    // 20 × 11 in all, less server 1's ten.
    expect(admitted0).toBeGreaterThanOrEqual(rate * 10 - 10);
    expect(admitted0).toBeLessThanOrEqual(rate * 11);
  });
});
