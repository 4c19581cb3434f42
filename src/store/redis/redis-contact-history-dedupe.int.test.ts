import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { testLog } from '../../../test/helpers.js';
import { type RedisProcess, startRedis } from '../../../test/support/redis.js';
import type { ContactEvent } from '../../domain/contact.js';
import { RedisConnection } from './redis-connection.js';
import { RedisContactHistoryStore } from './redis-contact-history-store.js';
import { RedisKeys } from './redis-keys.js';

const DAY = 86_400_000;
const accept: ContactEvent = {
  offerId: 'gold-card',
  campaignId: 'cards',
  channel: 'call_center',
  outcome: 'accept',
  at: 1_767_225_600_000,
};

let server: RedisProcess;
let redis: RedisConnection;
let store: RedisContactHistoryStore;

beforeAll(async () => {
  server = await startRedis();
  const prefix = `t-${randomUUID().slice(0, 8)}`;
  redis = await RedisConnection.open({ url: server.url, clusterNodes: [], prefix, timeoutMs: 1000 }, testLog);
  store = new RedisContactHistoryStore(redis, new RedisKeys(prefix), {
    maxEvents: 100,
    maxCacheBytes: 16 * 1024 * 1024,
    retention: () => ({ impressionsMs: 7 * DAY, reactionsMs: 30 * DAY }),
  });
});
afterAll(async () => {
  redis?.close();
  await server?.stop();
});

describe('RedisContactHistoryStore blind append', () => {
  it('skips a reaction it already holds, without a new revision', async () => {
    await store.append('c1', [accept]);
    const before = await store.read('c1');
    await store.append('c1', [accept]);
    const after = await store.read('c1');
    expect(after.events).toEqual([accept]);
    expect(after.revision).toBe(before.revision);
  });

  it('appends only the new events of a batch, and each once', async () => {
    const reject: ContactEvent = { ...accept, outcome: 'reject', at: accept.at + 1 };
    await store.append('c2', [accept]);
    await store.append('c2', [accept, reject, reject, { ...accept, at: accept.at + 2 }]);
    expect((await store.read('c2')).events).toEqual([accept, reject, { ...accept, at: accept.at + 2 }]);
  });

  it('leaves compare-and-append as it was: it appends what it is given', async () => {
    const impression: ContactEvent = { ...accept, outcome: 'impression' };
    const seen = await store.read('c3');
    expect((await store.appendIfUnchanged('c3', seen, [impression])).appended).toBe(true);
    const again = await store.read('c3');
    expect((await store.appendIfUnchanged('c3', again, [impression])).appended).toBe(true);
    expect((await store.read('c3')).events).toEqual([impression, impression]);
  });
});

describe('RedisContactHistoryStore memory of what it saw', () => {
  it('is bounded by bytes: long histories take the room of many short ones', async () => {
    // Room for about 10 histories of 10 events (1,100 + 10 × 140 bytes each, estimated).
    const small = new RedisContactHistoryStore(redis, new RedisKeys(`t-${randomUUID().slice(0, 8)}`), {
      maxEvents: 100,
      maxCacheBytes: 10 * (1100 + 10 * 140),
      retention: () => ({ impressionsMs: 7 * DAY, reactionsMs: 30 * DAY }),
    });
    const events = (n: number): ContactEvent[] =>
      Array.from({ length: n }, (_, i) => ({ ...accept, outcome: 'impression', at: accept.at + i }));
    for (let i = 0; i < 8; i++) {
      const seen = await small.read(`short-${i}`);
      expect((await small.appendIfUnchanged(`short-${i}`, seen, events(10))).appended).toBe(true);
    }
    for (let i = 0; i < 8; i++) expect((await small.lastSeen(`short-${i}`)).events).toHaveLength(10);
    // One history of 60 events: the oldest short ones make room for it.
    const seen = await small.read('long');
    expect((await small.appendIfUnchanged('long', seen, events(60))).appended).toBe(true);
    expect((await small.lastSeen('long')).events).toHaveLength(60);
    expect((await small.lastSeen('short-0')).revision).toBe('0');
    expect((await small.lastSeen('short-7')).events).toHaveLength(10);
  });
});
