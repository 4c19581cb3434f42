import { describe, expect, it } from 'vitest';
import type { ContactEvent } from '../domain/contact.js';
import { profileFromRecord } from '../domain/profile.js';
import { MemoryCapCounters } from './cap-counters.js';
import { MemoryContactHistoryStore } from './contact-history-store.js';
import { MemoryProfileStore } from './memory-profile-store.js';

const DAY = 86_400_000;
const event = (at: number, offerId = 'o1'): ContactEvent => ({
  offerId,
  campaignId: 'c1',
  channel: 'web',
  outcome: 'impression',
  at,
});

describe('MemoryProfileStore', () => {
  it('gets, puts and erases profiles', async () => {
    const store = new MemoryProfileStore([profileFromRecord({ id: 'a' })]);
    expect((await store.get('a')).profile?.id).toBe('a');
    expect(await store.get('b')).toEqual({ profile: null, degraded: false });
    await store.update('b', () => profileFromRecord({ id: 'b', holdings: ['x'] }));
    expect((await store.get('b')).profile?.holdings.has('x')).toBe(true);
    expect(await store.delete('a')).toBe(true);
    expect(await store.delete('a')).toBe(false);
    expect(await store.count()).toBe(1);
  });
});

describe('MemoryContactHistoryStore', () => {
  it('keeps events in time order, bounded per customer', async () => {
    const store = new MemoryContactHistoryStore({ maxCustomers: 10, maxEventsPerCustomer: 3 });
    await store.append('a', [event(5), event(1)]);
    await store.append('a', [event(3), event(4)]);
    expect((await store.read('a')).events.map((e) => e.at)).toEqual([3, 4, 5]);
    await store.erase('a');
    expect((await store.read('a')).events).toEqual([]);
  });

  it('appends only to the revision that was read', async () => {
    const store = new MemoryContactHistoryStore();
    const seen = await store.read('a');
    expect(await store.appendIfUnchanged('a', seen, [event(1)])).toEqual({ appended: true, degraded: false });
    const refused = await store.appendIfUnchanged('a', seen, [event(2)]);
    if (refused.appended) expect.unreachable('the revision changed');
    expect(refused.newer.events.map((e) => e.at)).toEqual([1]);
    expect((await store.appendIfUnchanged('a', refused.newer, [event(2)])).appended).toBe(true);
    expect((await store.read('a')).revision).toBe('2');
  });

  it('blind append skips events it already holds (a redelivered reaction)', async () => {
    const store = new MemoryContactHistoryStore();
    const accept: ContactEvent = { ...event(7), outcome: 'accept' };
    await store.append('a', [event(1), accept]);
    const before = await store.read('a');
    await store.append('a', [accept]);
    expect(await store.read('a')).toBe(before); // nothing written, not even a new revision
    await store.append('a', [
      accept,
      { ...accept, at: 8 },
      { ...accept, at: 8 },
      { ...accept, outcome: 'reject' },
    ]);
    expect((await store.read('a')).events.map((e) => `${e.at}${e.outcome}`)).toEqual([
      '1impression',
      '7accept',
      '7reject',
      '8accept',
    ]);
  });

  it('forgets the least recently contacted customers first when full', async () => {
    const store = new MemoryContactHistoryStore({ maxCustomers: 2, maxEventsPerCustomer: 10 });
    await store.append('a', [event(1)]);
    await store.append('b', [event(1)]);
    await store.read('a'); // reading does not make a customer recent
    await store.append('c', [event(1)]);
    expect((await store.read('a')).events).toEqual([]);
    expect((await store.read('b')).events).toHaveLength(1);
  });
});

describe('MemoryCapCounters', () => {
  it('counts per offer and campaign, and starts a new day at UTC midnight', () => {
    const counters = new MemoryCapCounters();
    const day1 = 20_000 * DAY + 1000;
    counters.record('o1', 'c1', day1, 0.5);
    counters.record('o2', 'c1', day1 + 1, 0.5);
    expect([
      counters.offerToday('o1', day1),
      counters.campaignToday('c1', day1),
      counters.campaignSpend('c1'),
    ]).toEqual([1, 2, 1]);
    const day2 = day1 + DAY;
    expect([
      counters.offerToday('o1', day2),
      counters.offerTotal('o1'),
      counters.campaignTotal('c1'),
    ]).toEqual([0, 1, 2]);
  });
});
