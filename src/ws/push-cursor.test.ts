import { describe, expect, it } from 'vitest';
import { PushCursor } from './push-cursor.js';
import {
  aboutAnyOf,
  compareStreamIds,
  decodeEnvelope,
  decodeLive,
  encodeEnvelope,
  type LivePush,
  type PushEnvelope,
} from './push-envelope.js';

const envelope = (serverId: string, seq: number, createdAt = 0): PushEnvelope => ({
  serverId,
  seq,
  createdAt,
  topics: ['agent:a', 'customer:c'],
  push: '{"type":"call","note":"two\\nlines"}\n',
});
const live = (id: string, prevId: string, e: PushEnvelope): LivePush => ({ id, prevId, envelope: e });

describe('push envelopes', () => {
  it('travel as text and come back the same, the push verbatim', () => {
    const e = envelope('srv-1', 7, 1_764_000_000_000);
    expect(decodeEnvelope(encodeEnvelope(e))).toEqual(e);
    expect(decodeLive(`5-1\n4-0\n${encodeEnvelope(e)}`)).toEqual(live('5-1', '4-0', e));
    expect(decodeLive('5-1\nno envelope')).toBeNull();
    expect(decodeEnvelope('srv\nx\n0\nt\n{}')).toBeNull();
  });

  it('are about a person when sent to their topic or naming their id as a JSON string', () => {
    const about = aboutAnyOf(['cust-1', 'anon-7']);
    const e = (topics: string[], push: string): PushEnvelope => ({ ...envelope('a', 1), topics, push });
    expect(about(e(['customer:cust-1'], '{}'))).toBe(true);
    expect(about(e(['agent:a'], '{"customerId":"cust-1"}'))).toBe(true);
    expect(about(e(['adviser:b'], '{"links":["anon-7"]}'))).toBe(true);
    expect(about(e(['customer:cust-10', 'agent:a'], '{"customerId":"cust-10"}'))).toBe(false);
  });

  it('orders stream ids by time, then sequence, as numbers', () => {
    expect(compareStreamIds('10-0', '9-5')).toBeGreaterThan(0);
    expect(compareStreamIds('10-2', '10-10')).toBeLessThan(0);
    expect(compareStreamIds('0-0', '0-0')).toBe(0);
  });
});

describe('PushCursor', () => {
  it('delivers a push that follows the last one seen, and tells of a gap before one that does not', () => {
    const cursor = new PushCursor('me', 30_000, 100);
    cursor.startAfter('10-0');
    expect(cursor.live(live('11-0', '10-0', envelope('a', 1)))).toBe('deliver');
    expect(cursor.live(live('13-0', '12-0', envelope('a', 3)))).toBe('gap');
    expect(cursor.lastId).toBe('11-0');
    // What the stream read brings, in order, moves the cursor: the held push is then seen.
    cursor.read('12-0');
    cursor.read('13-0');
    expect(cursor.live(live('13-0', '12-0', envelope('a', 3)))).toBe('seen');
    expect(cursor.live(live('14-0', '13-0', envelope('a', 4)))).toBe('deliver');
  });

  it('admits a push once, not its own, not one older than the bound', () => {
    const cursor = new PushCursor('me', 30_000, 100);
    expect(cursor.admit(envelope('a', 1, 0), 30_000)).toBe(true);
    // The same push stored twice (a relay retried after a timeout Redis had taken).
    expect(cursor.admit(envelope('a', 1, 0), 30_000)).toBe(false);
    expect(cursor.admit(envelope('me', 1, 0), 0)).toBe(false);
    expect(cursor.admit(envelope('a', 2, 0), 30_001)).toBe(false);
    expect(cursor.skips).toEqual({ own: 1, duplicate: 1, expired: 1 });
  });

  it('reads a stream that began again from its start', () => {
    const cursor = new PushCursor('me', 30_000, 100);
    cursor.startAfter('50-0');
    cursor.restart();
    expect(cursor.lastId).toBe('0-0');
    expect(cursor.live(live('5-0', '0-0', envelope('a', 9)))).toBe('deliver');
  });
});
