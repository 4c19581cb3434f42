import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProfileRecord } from '../src/domain/profile.js';
import { profileFromRecord } from '../src/domain/profile.js';
import { RedisCapCounters } from '../src/store/redis/redis-cap-counters.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { RedisProfileStore } from '../src/store/redis/redis-profile-store.js';
import { TieredProfileStore } from '../src/store/tiered-profile-store.js';
import { postDecision, testLog } from './helpers.js';
import {
  auth,
  eventually,
  FIXTURE_RECORDS,
  loadRecords,
  type OfferloopNode,
  type RedisTarget,
  redisDeployments,
  startNode,
} from './support/offerloop-node.js';

/** The fixture customers, tagged with the generation of the load they came from. */
const generation = (gen: number): ProfileRecord[] =>
  FIXTURE_RECORDS.map((r) => ({ ...r, attributes: { ...r.attributes, generation: gen } }));

describe.each(redisDeployments())('the Redis tier on %s', (_name, makeTarget) => {
  let target: RedisTarget;
  let a: OfferloopNode;
  let b: OfferloopNode;

  beforeAll(async () => {
    target = makeTarget();
    await loadRecords(target, generation(1));
    [a, b] = await Promise.all([startNode(target), startNode(target)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  const dossier = (node: OfferloopNode, id: string) =>
    node.app.inject({ url: `/v1/customers/${id}`, headers: auth('agent-key') });

  it('serves loaded profiles, decoded exactly as they were written', async () => {
    const res = await dossier(a, 'cust-2');
    expect(res.statusCode).toBe(200);
    const source = FIXTURE_RECORDS.find((r) => r.id === 'cust-2')!;
    expect(res.json()).toMatchObject({
      customerId: 'cust-2',
      attributes: { ...source.attributes, generation: 1 },
      consent: source.consent,
      holdings: source.holdings,
      affinities: source.affinities,
      degraded: false,
    });
    const decision = (
      await postDecision(a.app, 'agent-key', { customerId: 'cust-1', channel: 'web' })
    ).json();
    expect(decision).toMatchObject({ customerKnown: true, degraded: false });
    expect(decision.offers[0].offerId).toBe('gold-card');
  });

  it('answers concurrent misses of one customer with a single Redis read', async () => {
    const redis = await RedisConnection.open(target.config, testLog);
    try {
      const tier = new TieredProfileStore(
        await RedisProfileStore.open(redis, new RedisKeys(target.config.prefix)),
        {
          maxBytes: 1 << 20,
        },
      );
      const reads = await countCommands(target, 'hget', () =>
        Promise.all(Array.from({ length: 50 }, () => tier.get('cust-3'))),
      );
      expect(reads).toBe(1);
      const again = await countCommands(target, 'hget', () => tier.get('cust-3'));
      expect(again).toBe(0);
      expect(tier.stats()).toMatchObject({ misses: 1, hits: 1 });
    } finally {
      redis.close();
    }
  });

  it('a change on one server reaches the other server at once (PATCH writes through and invalidates)', async () => {
    expect((await dossier(b, 'cust-1')).json().holdings).toEqual(['current-account']); // now cached on b
    const patched = await a.app.inject({
      method: 'PATCH',
      url: '/v1/customers/cust-1',
      headers: auth('admin-key'),
      payload: { holdings: { add: ['mortgage'] }, attributes: { clv: 900 } },
    });
    expect(patched.statusCode).toBe(200);
    await eventually(async () => {
      const seen = (await dossier(b, 'cust-1')).json();
      expect(seen.holdings).toEqual(['current-account', 'mortgage']);
      expect(seen.attributes.clv).toBe(900);
    });
  });

  it('refuses changes without the admin scope, and a PATCH of nobody is 404', async () => {
    const forbidden = await a.app.inject({
      method: 'PATCH',
      url: '/v1/customers/cust-1',
      headers: auth('agent-key'),
      payload: { attributes: { clv: 1 } },
    });
    expect(forbidden.statusCode).toBe(403);
    const unknown = await a.app.inject({
      method: 'PATCH',
      url: '/v1/customers/nobody',
      headers: auth('admin-key'),
      payload: { attributes: { clv: 1 } },
    });
    expect(unknown.statusCode).toBe(404);
    const bad = await a.app.inject({
      method: 'PATCH',
      url: '/v1/customers/cust-1',
      headers: auth('admin-key'),
      payload: { holdings: ['not-an-object'] },
    });
    expect(bad.statusCode).toBe(400);
  });

  it('keeps contact caps exact across two servers deciding for one customer at once', async () => {
    // The fixture allows 4 call-center impressions per customer per 7 days.
    const decideOnce = (node: OfferloopNode) =>
      postDecision(node.app, 'agent-key', { customerId: 'cust-2', channel: 'call_center', limit: 1 });
    const burst = await Promise.all(Array.from({ length: 12 }, (_, i) => decideOnce(i % 2 === 0 ? a : b)));
    const shownInBurst = burst.reduce((n, r) => n + r.json().offers.length, 0);
    expect(shownInBurst).toBeGreaterThan(0);
    expect(shownInBurst).toBeLessThanOrEqual(4);
    // Whatever the burst left of the cap, sequential decisions take, and not one more.
    let shown = shownInBurst;
    for (let i = 0; i < 6; i++) shown += (await decideOnce(i % 2 === 0 ? b : a)).json().offers.length;
    expect(shown).toBe(4);
    const contacts = (await dossier(a, 'cust-2')).json().recentContacts;
    expect(contacts.filter((c: { channel: string }) => c.channel === 'call_center')).toHaveLength(4);
  });

  it('flips to a new population version while requests run, never serving a half-loaded one', async () => {
    const seen = new Set<string>();
    let running = true;
    const traffic = (node: OfferloopNode) =>
      (async () => {
        while (running) {
          for (const id of ['cust-1', 'cust-2', 'cust-3']) {
            const res = await dossier(node, id);
            expect(res.statusCode).toBe(200);
            seen.add(String(res.json().attributes.generation));
          }
        }
      })();
    const loops = [traffic(a), traffic(b)];
    const result = await loadRecords(target, generation(2));
    await eventually(async () => {
      for (const node of [a, b]) {
        expect((await dossier(node, 'cust-3')).json().attributes.generation).toBe(2);
      }
    });
    running = false;
    await Promise.all(loops);
    expect([...seen].sort()).toEqual(['1', '2']);
    expect(result.previousVersion).not.toBeNull();
    expect(result.deletedKeys).toBeGreaterThan(0);
    expect(await keysOfVersion(target, result.previousVersion!)).toEqual([]);
  });

  it('erases a customer everywhere: profile, affinities and contact history, on every server', async () => {
    const before = await postDecision(a.app, 'agent-key', { customerId: 'cust-3', channel: 'call_center' });
    expect(before.json().offers.length).toBeGreaterThan(0);
    expect((await dossier(b, 'cust-3')).statusCode).toBe(200); // cached on b
    const erased = await a.app.inject({
      method: 'DELETE',
      url: '/v1/customers/cust-3',
      headers: auth('admin-key'),
    });
    expect(erased.json()).toEqual({ erased: true });
    await eventually(async () => {
      for (const node of [a, b]) expect((await dossier(node, 'cust-3')).statusCode).toBe(404);
    });
    const decision = (
      await postDecision(b.app, 'agent-key', { customerId: 'cust-3', channel: 'web' })
    ).json();
    expect(decision.customerKnown).toBe(false);
    // Nothing from before the erasure, and nothing recorded under the erased id since (ADR 0009).
    expect(decision.offers.length).toBeGreaterThan(0);
    const history = await a.services.history.read('cust-3');
    expect(history.events).toEqual([]);
  });

  it('keeps a history only as long as the policies look back at it', async () => {
    // Fixture policies: impressions count for up to 7 days, a reject suppresses for 30, an accept for 180.
    await postDecision(a.app, 'agent-key', { customerId: 'visitor-1', channel: 'call_center' });
    const keys = new RedisKeys(target.config.prefix);
    const ttlDays = async () => {
      const redis = await RedisConnection.open(target.config, testLog);
      try {
        const key = keys.contacts('visitor-1');
        return (await redis.send<number>(key, ['PTTL', key])) / 86_400_000;
      } finally {
        redis.close();
      }
    };
    expect(await ttlDays()).toBeCloseTo(7, 1);
    await a.services.history.append('visitor-1', [
      { offerId: 'gold-card', campaignId: 'cards', channel: 'web', outcome: 'accept', at: Date.now() },
    ]);
    expect(await ttlDays()).toBeCloseTo(180, 1);
    await postDecision(a.app, 'agent-key', { customerId: 'visitor-1', channel: 'web' });
    expect(await ttlDays()).toBeCloseTo(180, 1); // an impression does not shorten it
  });

  it('counts offer and campaign caps and budgets over every server', async () => {
    const redis = await RedisConnection.open(target.config, testLog);
    const keys = new RedisKeys(target.config.prefix);
    const now = () => Date.parse('2026-11-22T12:00:00Z');
    const [one, two] = [
      new RedisCapCounters(redis, keys, testLog, now),
      new RedisCapCounters(redis, keys, testLog, now),
    ];
    try {
      for (let i = 0; i < 3; i++) one.record('cap-offer', 'cap-campaign', now(), 0.5);
      for (let i = 0; i < 2; i++) two.record('cap-offer', 'cap-campaign', now(), 0.25);
      expect(two.offerTotal('cap-offer')).toBe(2); // before a sync, only what this server showed
      await one.sync();
      await two.sync();
      await one.sync();
      for (const counters of [one, two]) {
        expect(counters.offerTotal('cap-offer')).toBe(5);
        expect(counters.offerToday('cap-offer', now())).toBe(5);
        expect(counters.offerToday('cap-offer', now() + 86_400_000)).toBe(0);
        expect(counters.campaignTotal('cap-campaign')).toBe(5);
        expect(counters.campaignSpend('cap-campaign')).toBeCloseTo(2, 9);
      }
    } finally {
      await Promise.all([one.close(), two.close()]);
      redis.close();
    }
  });

  it('counts of a day that ended before the sync go to that day, and the new day starts from zero', async () => {
    const redis = await RedisConnection.open(target.config, testLog);
    const keys = new RedisKeys(target.config.prefix);
    let at = Date.parse('2026-11-23T23:59:59Z');
    const counters = new RedisCapCounters(redis, keys, testLog, () => at);
    try {
      for (let i = 0; i < 4; i++) counters.record('midnight-offer', 'midnight-campaign', at, 0);
      at += 2000; // the sync runs after midnight
      await counters.sync();
      expect(counters.offerTotal('midnight-offer')).toBe(4);
      expect(counters.offerToday('midnight-offer', at)).toBe(0);
      const day = Math.floor(Date.parse('2026-11-23T12:00:00Z') / 86_400_000);
      expect(await redis.send(keys.capsDay(day), ['HGET', keys.capsDay(day), 'o:midnight-offer'])).toBe('4');
      expect(await redis.send(keys.capsDay(day), ['TTL', keys.capsDay(day)])).toBeGreaterThan(86_400);
    } finally {
      await counters.close();
      redis.close();
    }
  });

  it('creates a customer with PUT, visible to every server, also one that remembered them as unknown', async () => {
    expect((await dossier(b, 'cust-new')).statusCode).toBe(404); // b now caches "unknown"
    const put = await a.app.inject({
      method: 'PUT',
      url: '/v1/customers/cust-new',
      headers: auth('admin-key'),
      payload: profileRecord('cust-new'),
    });
    expect(put.statusCode).toBe(200);
    await eventually(async () => {
      expect((await dossier(b, 'cust-new')).json().holdings).toEqual(['savings']);
    });
  });
});

function profileRecord(id: string): Omit<ProfileRecord, 'id'> {
  const p = profileFromRecord({ id, holdings: ['savings'], attributes: { age: 30 } });
  return { holdings: [...p.holdings], attributes: { ...p.attributes } };
}

/** How many times `command` ran on every master of the target while `fn` ran. */
async function countCommands(
  target: RedisTarget,
  command: string,
  fn: () => Promise<unknown>,
): Promise<number> {
  const redis = await RedisConnection.open(target.config, testLog);
  try {
    const calls = async () => {
      const infos = await redis.eachMaster((send) => send(['INFO', 'commandstats']));
      let total = 0;
      for (const info of infos) {
        const m = new RegExp(`cmdstat_${command}:calls=(\\d+)`).exec(String(info));
        total += m ? Number(m[1]) : 0;
      }
      return total;
    };
    const before = await calls();
    await fn();
    return (await calls()) - before;
  } finally {
    redis.close();
  }
}

async function keysOfVersion(target: RedisTarget, version: number): Promise<string[]> {
  const redis = await RedisConnection.open(target.config, testLog);
  try {
    const pattern = `${target.config.prefix}:pop:*${version}*`;
    const found = await redis.eachMaster((send) => send(['KEYS', pattern]));
    return found
      .flat()
      .map(String)
      .filter((k) => new RegExp(`:pop:\\{?${version}\\}?:`).test(k));
  } finally {
    redis.close();
  }
}
