import { LRUCache } from 'lru-cache';
import {
  type IdentityLink,
  type IdentityStore,
  type LinkOutcome,
  MAX_LINKS_PER_CUSTOMER,
} from '../identity-store.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** Resolutions remembered per server: decisions for unknown visitors ask on every banner. */
const CACHE_ENTRIES = 100_000;
/** A safety net only: a link is announced to every server (forget), which drops the entry at once. */
const CACHE_TTL_MS = 60_000;
const NOT_LINKED = '';

/**
 * Links on Redis: `p:identity:{anonymousId}` holds `customerId|at`, `p:identities:{customerId}` a
 * hash of the customer's anonymous ids → when linked. The two keys of a link live in different
 * slots, so a link is checked and written in steps, the anonymous id's key first with SET NX: two
 * servers linking one anonymous id to two customers cannot both win. What is not atomic across the
 * two keys is a link racing an opposite one (A→B while B→C); both are refused or both made, and
 * the docs say so.
 */
export class RedisIdentityStore implements IdentityStore {
  private readonly cache = new LRUCache<string, string>({ max: CACHE_ENTRIES, ttl: CACHE_TTL_MS });

  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async resolve(id: string): Promise<string | null> {
    const cached = this.cache.get(id);
    if (cached !== undefined) return cached === NOT_LINKED ? null : cached;
    const link = await this.read(id);
    this.cache.set(id, link?.customerId ?? NOT_LINKED);
    return link?.customerId ?? null;
  }

  /** Drops what this server remembers of the id (another server linked it). */
  forget(id: string): void {
    this.cache.delete(id);
  }

  async link(anonymousId: string, customerId: string, at: number): Promise<LinkOutcome> {
    const chained = await this.read(customerId);
    if (chained !== null)
      return { linked: false, reason: 'customer_is_linked', customerId: chained.customerId };
    const ownKey = this.keys.identities(anonymousId);
    if ((await this.redis.send<number>(ownKey, ['HLEN', ownKey])) > 0)
      return { linked: false, reason: 'anonymous_is_customer' };
    const key = this.keys.identity(anonymousId);
    const set = await this.redis.send<string | null>(key, ['SET', key, `${customerId}|${at}`, 'NX']);
    if (set === null) {
      const existing = await this.read(anonymousId);
      if (existing !== null && existing.customerId === customerId)
        return { linked: true, link: existing, existed: true };
      if (existing !== null)
        return { linked: false, reason: 'linked_elsewhere', customerId: existing.customerId };
    }
    const links = this.keys.identities(customerId);
    await this.redis.send(links, ['HSET', links, anonymousId, String(at)]);
    await this.trim(customerId);
    this.cache.delete(anonymousId);
    return { linked: true, link: { anonymousId, customerId, at }, existed: false };
  }

  async linksOf(customerId: string): Promise<readonly IdentityLink[]> {
    const key = this.keys.identities(customerId);
    const flat = await this.redis.send<string[]>(key, ['HGETALL', key]);
    const links: IdentityLink[] = [];
    for (let i = 0; i + 1 < flat.length; i += 2)
      links.push({ anonymousId: flat[i]!, customerId, at: Number(flat[i + 1]) });
    return links.sort((a, b) => a.at - b.at);
  }

  async erase(customerId: string): Promise<readonly string[]> {
    const links = await this.linksOf(customerId);
    for (const l of links) {
      const key = this.keys.identity(l.anonymousId);
      await this.redis.send(key, ['DEL', key]);
      this.cache.delete(l.anonymousId);
    }
    const key = this.keys.identities(customerId);
    await this.redis.send(key, ['DEL', key]);
    return links.map((l) => l.anonymousId);
  }

  /** The oldest links go when a customer has too many. */
  private async trim(customerId: string): Promise<void> {
    const key = this.keys.identities(customerId);
    if ((await this.redis.send<number>(key, ['HLEN', key])) <= MAX_LINKS_PER_CUSTOMER) return;
    const links = await this.linksOf(customerId);
    for (const l of links.slice(0, links.length - MAX_LINKS_PER_CUSTOMER)) {
      const own = this.keys.identity(l.anonymousId);
      await this.redis.send(own, ['DEL', own]);
      await this.redis.send(key, ['HDEL', key, l.anonymousId]);
    }
  }

  private async read(id: string): Promise<IdentityLink | null> {
    const key = this.keys.identity(id);
    const value = await this.redis.send<string | null>(key, ['GET', key]);
    if (value === null) return null;
    const bar = value.lastIndexOf('|');
    return { anonymousId: id, customerId: value.slice(0, bar), at: Number(value.slice(bar + 1)) };
  }
}
