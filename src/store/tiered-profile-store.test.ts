import { describe, expect, it } from 'vitest';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { MemoryProfileStore } from './memory-profile-store.js';
import type { ProfileLookup } from './profile-store.js';
import { TieredProfileStore } from './tiered-profile-store.js';

/** The embedded store with reads held until released, so a test controls what is in flight. */
class HeldStore extends MemoryProfileStore {
  reads = 0;
  failNext = false;
  private held: (() => void)[] = [];

  override async get(customerId: string): Promise<ProfileLookup> {
    this.reads++;
    const fail = this.failNext;
    this.failNext = false;
    await new Promise<void>((resolve) => this.held.push(resolve));
    if (fail) throw new Error('Redis is unavailable');
    return super.get(customerId);
  }

  release(): void {
    for (const resolve of this.held.splice(0)) resolve();
  }
}

const profile = (id: string, holdings: string[] = []): CustomerProfile => profileFromRecord({ id, holdings });

describe('TieredProfileStore', () => {
  it('shares one backing read among concurrent misses, then answers from memory', async () => {
    const backing = new HeldStore([profile('a')]);
    const tier = new TieredProfileStore(backing, { maxBytes: 1 << 20 });
    const lookups = [tier.get('a'), tier.get('a'), tier.get('a')];
    backing.release();
    for (const l of await Promise.all(lookups)) expect(l.profile?.id).toBe('a');
    expect((await tier.get('a')).profile?.id).toBe('a');
    expect(backing.reads).toBe(1);
    expect(tier.stats()).toMatchObject({ hits: 1, misses: 1, entries: 1 });
  });

  it('remembers unknown customers too, until invalidated', async () => {
    const backing = new HeldStore();
    const tier = new TieredProfileStore(backing, { maxBytes: 1 << 20 });
    const first = tier.get('x');
    backing.release();
    expect((await first).profile).toBeNull();
    expect((await tier.get('x')).profile).toBeNull();
    expect(backing.reads).toBe(1);
    await backing.update('x', () => profile('x'));
    tier.invalidate('x');
    const after = tier.get('x');
    backing.release();
    expect((await after).profile?.id).toBe('x');
  });

  it('does not cache what a read in flight during an invalidation returns', async () => {
    const backing = new HeldStore([profile('a', ['old'])]);
    const tier = new TieredProfileStore(backing, { maxBytes: 1 << 20 });
    const stale = tier.get('a');
    await backing.update('a', () => profile('a', ['new']));
    tier.invalidate('a');
    backing.release();
    await stale;
    const fresh = tier.get('a');
    backing.release();
    expect([...((await fresh).profile?.holdings ?? [])]).toEqual(['new']);
    expect(backing.reads).toBe(2);
  });

  it('answers a failed read as degraded and unknown, without caching it', async () => {
    const backing = new HeldStore([profile('a')]);
    const tier = new TieredProfileStore(backing, { maxBytes: 1 << 20 });
    backing.failNext = true;
    const failed = tier.get('a');
    backing.release();
    expect(await failed).toEqual({ profile: null, degraded: true });
    const retried = tier.get('a');
    backing.release();
    expect(await retried).toMatchObject({ profile: { id: 'a' }, degraded: false });
  });

  it('reads a miss with the read it is given, once for concurrent misses, then answers from memory', async () => {
    const backing = new HeldStore([profile('a')]);
    const tier = new TieredProfileStore(backing, { maxBytes: 1 << 20 });
    let given = 0;
    const read = () => {
      given++;
      return backing.get('a');
    };
    const lookups = [tier.get('a', read), tier.get('a', read), tier.get('a')];
    backing.release();
    for (const l of await Promise.all(lookups)) expect(l.profile?.id).toBe('a');
    expect(await tier.get('a', read)).toMatchObject({ profile: { id: 'a' } });
    expect([given, backing.reads]).toEqual([1, 1]);
  });

  it('stays within its memory budget', async () => {
    const backing = new MemoryProfileStore(
      Array.from({ length: 1000 }, (_, i) => profile(`c${i}`, ['x', 'y'])),
    );
    const tier = new TieredProfileStore(backing, { maxBytes: 50_000 });
    for (let i = 0; i < 1000; i++) await tier.get(`c${i}`);
    const { bytes, entries } = tier.stats();
    expect(bytes).toBeLessThanOrEqual(50_000);
    expect(entries).toBeGreaterThan(10);
    expect(entries).toBeLessThan(1000);
  });
});
