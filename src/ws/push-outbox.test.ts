import { describe, expect, it } from 'vitest';
import type { PushEnvelope } from './push-envelope.js';
import { PushOutbox } from './push-outbox.js';

const push = (seq: number, createdAt: number): PushEnvelope => ({
  serverId: 's',
  seq,
  createdAt,
  topics: ['agent:a'],
  push: `{"n":${seq}}`,
});

describe('PushOutbox', () => {
  it('keeps what Redis did not take, in order, and lets go of what it took', () => {
    const outbox = new PushOutbox(10, 30_000);
    for (let i = 1; i <= 4; i++) outbox.add(push(i, 0));
    const tried = outbox.due(0, 3);
    expect(tried.map((p) => p.seq)).toEqual([1, 2, 3]);
    outbox.settled(tried, [true, false, true]);
    expect(outbox.due(0, 10).map((p) => p.seq)).toEqual([2, 4]);
    expect(outbox.size).toBe(2);
  });

  it('gives up pushes older than the bound, and counts them', () => {
    const outbox = new PushOutbox(10, 30_000);
    outbox.add(push(1, 0));
    outbox.add(push(2, 10_000));
    expect(outbox.due(30_000, 10).map((p) => p.seq)).toEqual([1, 2]);
    expect(outbox.due(30_001, 10).map((p) => p.seq)).toEqual([2]);
    expect(outbox.droppedExpired).toBe(1);
    expect(outbox.due(40_001, 10)).toEqual([]);
    expect(outbox.droppedExpired).toBe(2);
  });

  it('gives up the oldest when full', () => {
    const outbox = new PushOutbox(2, 30_000);
    for (let i = 1; i <= 3; i++) outbox.add(push(i, 0));
    expect(outbox.due(0, 10).map((p) => p.seq)).toEqual([2, 3]);
    expect(outbox.droppedOverflow).toBe(1);
    expect(outbox.clear()).toBe(2);
    expect(outbox.size).toBe(0);
  });
});

describe('PushOutbox.forget', () => {
  it('drops the pushes an erasure picks, without counting them as given up', () => {
    const outbox = new PushOutbox(10, 30_000);
    for (let i = 1; i <= 3; i++) outbox.add(push(i, 0));
    expect(outbox.forget((p) => p.seq === 2)).toBe(1);
    expect(outbox.due(0, 10).map((p) => p.seq)).toEqual([1, 3]);
    expect([outbox.droppedExpired, outbox.droppedOverflow]).toEqual([0, 0]);
  });
});
