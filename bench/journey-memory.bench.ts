// Journey memory: what a person's journey keeps, per person and at 1,000,000 customers. A journey
// (GET /v1/customers/:id/journey) is assembled from what is kept anyway: the contact history, the
// identity links and the learned facts' stage transitions; this bench writes those through the real
// stores into a local redis-server and reads INFO memory (used_memory after − before) and MEMORY
// USAGE, then measures the embedded stores' heap per person (after GC; needs --expose-gc).
// Run: npm run bench:journey-memory. Knob: BENCH_CUSTOMERS (typical people, 1,000,000); heavy people
// are one in a hundred of that, at every cap: 100 contact events, 20 transitions, 50 fact ids, 50 links.

import { setTimeout as sleep } from 'node:timers/promises';
import pino from 'pino';
import { CHANNELS, type Channel } from '../src/domain/channel.js';
import type { ContactEvent, ContactOutcome } from '../src/domain/contact.js';
import { RedisUnavailableError } from '../src/errors.js';
import {
  causeOf,
  type Fact,
  type LearnedFacts,
  learn,
  MAX_EVENTS,
  MAX_TRANSITIONS,
  NO_FACTS,
} from '../src/learning/profile-learning.js';
import {
  CONTACT_EVENTS_KEPT,
  type ContactHistory,
  MemoryContactHistoryStore,
} from '../src/store/contact-history-store.js';
import { MAX_LINKS_PER_CUSTOMER } from '../src/store/identity-store.js';
import { MemoryLearnedFactsStore } from '../src/store/learned-facts-store.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisContactHistoryStore } from '../src/store/redis/redis-contact-history-store.js';
import { RedisIdentityStore } from '../src/store/redis/redis-identity-store.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { RedisLearnedFactsStore } from '../src/store/redis/redis-learned-facts-store.js';
import { startRedis } from '../test/support/redis.js';
import { infoFields, knob, publishResult, REDIS_CONF_ARGS, round, runBench, say } from './support.js';

const LABEL = 'journey-memory';
const CUSTOMERS = Math.floor(knob('CUSTOMERS', 1_000_000));
const HEAVY = Math.max(100, Math.floor(CUSTOMERS / 100));
/** Share of typical people with one anonymous id linked (a visitor who later logged in). */
const LINKED_SHARE = 0.3;
/** The key prefix servers use by default: its length is part of every key. */
const PREFIX = 'offerloop';
/** People written at once: node-redis pipelines the calls of one tick. */
const BATCH = 1_000;
/** People of each kind whose keys get a MEMORY USAGE. */
const SAMPLED = 200;
/** People held by the embedded stores while their heap is measured. */
const EMBEDDED = 20_000;
const DAY_MS = 86_400_000;
/** 2027-01-01: 13-digit times, as every real event has. */
const T0 = 1_798_761_600_000;
/** As long as a typical contact policy looks back and the conversion window: 90 days. */
const RETENTION = { impressionsMs: 90 * DAY_MS, reactionsMs: 90 * DAY_MS };

// ---------------------------------------------------------------------------------------------
// Realistic journeys: ids as the generator and banner.js make them, shared strings as the ruleset's.

const pad = (n: number) => String(n).padStart(4, '0');
const OFFERS = Array.from({ length: 500 }, (_, i) => `off-${pad(i + 1)}`);
const CAMPAIGNS = Array.from({ length: 50 }, (_, i) => `camp-${pad(i + 1)}`);
const PRODUCTS = ['savings-plus', 'gold-card', 'mortgage-fixed-10', 'travel-insurance', 'home-contents'];
const PLACEMENTS = ['home-hero', 'account-sidebar', 'checkout-upsell'];
const WEB: Channel = 'web';

/** A deterministic hash of `i` and `k`, so that every person's journey differs. */
function mix(i: number, k: number): number {
  let h = Math.imul(i, 0x9e3779b1) ^ Math.imul(k + 0x632be5ab, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  h ^= h >>> 12;
  return h >>> 0;
}
const pick = <T>(xs: readonly T[], i: number, k: number): T => xs[mix(i, k) % xs.length]!;

/** An idempotency key as clients send them (a UUID: 36 characters, the long end). */
const eventId = (i: number, k: number) => {
  const h = (n: number) => (mix(i, n) >>> 0).toString(16).padStart(8, '0');
  return `${h(k)}-${h(k + 1).slice(0, 4)}-4${h(k + 2).slice(0, 3)}-a${h(k + 3).slice(0, 3)}-${h(k + 4)}${h(k + 5).slice(0, 4)}`;
};
/** A first-party visitor id as banner.js makes it: `v-` and 32 hex digits (unique: `i` and `k` in them). */
const hex8 = (n: number) => (n >>> 0).toString(16).padStart(8, '0');
const visitorId = (i: number, k: number) => `v-${hex8(i)}${hex8(k)}${hex8(mix(i, k))}${hex8(mix(k, i))}`;

function event(i: number, k: number, outcome: ContactOutcome, at: number, web: boolean): ContactEvent {
  const channel = web ? WEB : pick(CHANNELS, i, k);
  const base = { offerId: pick(OFFERS, i, k), campaignId: pick(CAMPAIGNS, i, k), channel, outcome, at };
  if (outcome === 'purchase' || outcome === 'cancel' || outcome === 'convert')
    return { ...base, productId: pick(PRODUCTS, i, k) };
  return web && outcome === 'impression' ? { ...base, placement: pick(PLACEMENTS, i, k) } : base;
}

/**
 * A typical person's ten events over a few weeks: five offers shown (three in web placements), two
 * clicks, a dismissal, an accept and a purchase of the product offered.
 */
function typicalEvents(i: number): ContactEvent[] {
  const outcomes: [ContactOutcome, boolean][] = [
    ['impression', true],
    ['impression', false],
    ['click', true],
    ['impression', true],
    ['dismiss', true],
    ['impression', false],
    ['impression', true],
    ['click', true],
    ['accept', true],
    ['purchase', false],
  ];
  const start = T0 + (mix(i, 0) % (30 * DAY_MS));
  return outcomes.map(([o, web], k) => event(i, k, o, start + k * 2 * DAY_MS + (mix(i, k) % 3_600_000), web));
}

/** A heavy person at the cap: 100 events, every kind, half in web placements, outcomes with products. */
const HEAVY_OUTCOMES: readonly ContactOutcome[] = [
  'impression',
  'impression',
  'click',
  'impression',
  'dismiss',
  'held_out',
  'impression',
  'accept',
  'purchase',
  'reject',
  'convert',
  'cancel',
  'lead',
];
function heavyEvents(i: number): ContactEvent[] {
  return Array.from({ length: CONTACT_EVENTS_KEPT }, (_, k) =>
    event(
      i,
      k,
      HEAVY_OUTCOMES[k % HEAVY_OUTCOMES.length]!,
      T0 + k * 3_600_000 + (mix(i, k) % 60_000),
      k % 2 === 0,
    ),
  );
}

/** `count` transitions of a funnel (prospect → lead → customer → loyal …), each with the cause of a fact. */
function withTransitions(facts: LearnedFacts, i: number, count: number): LearnedFacts {
  const stages = ['prospect', 'lead', 'customer', 'loyal', 'at-risk'];
  const transitions = Array.from({ length: count }, (_, k) => {
    const fact: Fact = {
      eventId: eventId(i, 100 + k),
      kind: k % 2 === 0 ? 'purchase' : 'lead',
      productId: pick(PRODUCTS, i, k),
      value: null,
      at: T0 + k * DAY_MS,
    };
    return {
      at: fact.at,
      from: k === 0 ? null : stages[(k - 1) % stages.length]!,
      to: stages[k % stages.length]!,
      cause: causeOf(fact),
    };
  });
  const last = transitions.at(-1);
  return { ...facts, transitions, stage: last?.to ?? null, stageSince: last?.at ?? null };
}

/** A typical person's facts: a lead, then a purchase; three transitions (none → prospect → lead → customer). */
function typicalFacts(i: number): LearnedFacts {
  let facts = learn(NO_FACTS, {
    eventId: eventId(i, 1),
    kind: 'lead',
    productId: pick(PRODUCTS, i, 1),
    value: null,
    at: T0,
  });
  facts = learn(facts, {
    eventId: eventId(i, 2),
    kind: 'purchase',
    productId: pick(PRODUCTS, i, 1),
    value: 129.9,
    at: T0 + 9 * DAY_MS,
  });
  return withTransitions(facts, i, 3);
}

/** A heavy person's facts at the caps: 50 fact ids, five products, 20 transitions. */
function heavyFacts(i: number): LearnedFacts {
  let facts = NO_FACTS;
  for (let k = 0; k < MAX_EVENTS + 10; k++) {
    facts = learn(facts, {
      eventId: eventId(i, k * 7),
      kind: k % 10 === 9 ? 'cancel' : k === 0 ? 'lead' : 'purchase',
      productId: pick(PRODUCTS, i, k),
      value: 49.5 + k,
      at: T0 + k * DAY_MS,
    });
  }
  return withTransitions(facts, i, MAX_TRANSITIONS);
}

// ---------------------------------------------------------------------------------------------
// Redis.

const typicalId = (i: number) => `cust-${i}`;
const heavyId = (i: number) => `heavy-${i}`;
/** A person's history before their first contact, as a decision sees it. */
const NEVER_SEEN: ContactHistory = { revision: '0', events: [], degraded: false };
const isLinked = (i: number) => mix(i, 999) % 1000 < LINKED_SHARE * 1000;

interface RedisFigures {
  /** used_memory after − before, per person of the kind (per linked person for links). */
  readonly bytesPerPerson: Record<string, number>;
  /** Mean MEMORY USAGE (SAMPLES 0) of the sampled people's keys. */
  readonly memoryUsage: Record<string, number>;
  readonly encodings: Record<string, string>;
  readonly usedMemoryMB: number;
  readonly keys: number;
  readonly writeSeconds: Record<string, number>;
}

/**
 * Writes people 1…count, BATCH at a time. A write past its deadline (the stores' background calls
 * allow 2 s, which a busy machine can exceed) is tried again: every write here is idempotent.
 */
async function inBatches(count: number, write: (i: number) => Promise<unknown>): Promise<number> {
  const started = performance.now();
  const patiently = async (i: number) => {
    for (let attempt = 1; ; attempt++) {
      try {
        return await write(i);
      } catch (err) {
        if (!(err instanceof RedisUnavailableError) || attempt === 5) throw err;
        await sleep(500);
      }
    }
  };
  for (let from = 1; from <= count; from += BATCH) {
    const batch: Promise<unknown>[] = [];
    for (let i = from; i < from + BATCH && i <= count; i++) batch.push(patiently(i));
    await Promise.all(batch);
    if ((from - 1) % (BATCH * 100) === 0 && from > 1) say(LABEL, `  … ${from - 1} of ${count}`);
  }
  return round((performance.now() - started) / 1000, 1);
}

async function redisFigures(): Promise<RedisFigures> {
  // As docker/redis.conf, but no AOF: its buffers would count in used_memory.
  const server = await startRedis({ args: [...REDIS_CONF_ARGS, '--appendonly', 'no'] });
  const redis = await RedisConnection.open(
    { url: server.url, clusterNodes: [], prefix: PREFIX, timeoutMs: 60_000 },
    pino({ level: 'silent' }),
    // Redis is busy for seconds at a time here: no health check may call it down meanwhile.
    { pingEveryMs: 10_000, hungAfterMs: 120_000 },
  );
  const keys = new RedisKeys(PREFIX);
  // Written as decisions append (compare-and-append on an empty history); its cache stays small.
  const contacts = new RedisContactHistoryStore(redis, keys, {
    maxEvents: CONTACT_EVENTS_KEPT,
    maxCacheBytes: 1_000_000,
    retention: () => RETENTION,
  });
  const learned = new RedisLearnedFactsStore(redis, keys);
  const identities = new RedisIdentityStore(redis, keys);
  const send = <T>(args: string[]) => redis.send(args[1], args) as Promise<T>;
  const used = async () => {
    await send(['MEMORY', 'PURGE']).catch(() => undefined);
    return infoFields(await send<string>(['INFO', 'memory'])).used_memory!;
  };
  const none = { facts: NO_FACTS, version: '' };
  const bytesPerPerson: Record<string, number> = {};
  const writeSeconds: Record<string, number> = {};
  const phase = async (
    name: string,
    people: number,
    count: number,
    write: (i: number) => Promise<unknown>,
  ) => {
    say(LABEL, `${name}: ${count} people`);
    const before = await used();
    writeSeconds[name] = await inBatches(count, write);
    bytesPerPerson[name] = round(((await used()) - before) / people, 1);
  };
  try {
    const linked = Array.from({ length: CUSTOMERS }, (_, k) => k + 1).filter(isLinked);
    await phase('typical contacts', CUSTOMERS, CUSTOMERS, (i) =>
      contacts.appendIfUnchanged(typicalId(i), NEVER_SEEN, typicalEvents(i)),
    );
    await phase('typical learned facts', CUSTOMERS, CUSTOMERS, (i) =>
      learned.replace(typicalId(i), none, typicalFacts(i)),
    );
    await phase('typical identity link (per linked person)', linked.length, linked.length, (k) => {
      const i = linked[k - 1]!;
      return identities.link(visitorId(i, 0), typicalId(i), T0 + (mix(i, 5) % DAY_MS));
    });
    await phase('heavy contacts (100 events)', HEAVY, HEAVY, (i) =>
      contacts.appendIfUnchanged(heavyId(i), NEVER_SEEN, heavyEvents(i)),
    );
    await phase('heavy learned facts', HEAVY, HEAVY, (i) => learned.replace(heavyId(i), none, heavyFacts(i)));
    await phase(`heavy identity links (${MAX_LINKS_PER_CUSTOMER})`, HEAVY, HEAVY, async (i) => {
      for (let k = 0; k < MAX_LINKS_PER_CUSTOMER; k++)
        await identities.link(visitorId(CUSTOMERS + i, k), heavyId(i), T0 + k * DAY_MS);
    });

    const memoryUsage: Record<string, number> = {};
    const encodings: Record<string, string> = {};
    const sample = async (name: string, keyOf: (i: number) => string, ids: readonly number[]) => {
      let total = 0;
      for (const i of ids) total += (await send<number>(['MEMORY', 'USAGE', keyOf(i), 'SAMPLES', '0'])) ?? 0;
      memoryUsage[name] = round(total / ids.length, 1);
      encodings[name] = await send<string>(['OBJECT', 'ENCODING', keyOf(ids[0]!)]);
    };
    const typical = Array.from({ length: SAMPLED }, (_, k) => 1 + Math.floor((k * CUSTOMERS) / SAMPLED));
    const heavy = Array.from({ length: Math.min(SAMPLED, HEAVY) }, (_, k) => 1 + k);
    const typicalLinked = linked.slice(0, SAMPLED);
    await sample('typical p:contacts', (i) => keys.contacts(typicalId(i)), typical);
    await sample('typical p:contacts-rev', (i) => keys.contactsRevision(typicalId(i)), typical);
    await sample('typical p:learned', (i) => keys.learned(typicalId(i)), typical);
    await sample('typical p:identities (1 link)', (i) => keys.identities(typicalId(i)), typicalLinked);
    await sample('typical p:identity', (i) => keys.identity(visitorId(i, 0)), typicalLinked);
    await sample('heavy p:contacts', (i) => keys.contacts(heavyId(i)), heavy);
    await sample('heavy p:contacts-rev', (i) => keys.contactsRevision(heavyId(i)), heavy);
    await sample('heavy p:learned', (i) => keys.learned(heavyId(i)), heavy);
    await sample(
      `heavy p:identities (${MAX_LINKS_PER_CUSTOMER} links)`,
      (i) => keys.identities(heavyId(i)),
      heavy,
    );

    // The history reads back as written: the bench measured what the server keeps.
    const back = await contacts.read(heavyId(1));
    const canonical = (es: readonly ContactEvent[]) =>
      JSON.stringify(
        es.map((e) => Object.fromEntries(Object.entries(e).sort(([a], [b]) => a.localeCompare(b)))),
      );
    if (back.events.length !== CONTACT_EVENTS_KEPT || canonical(back.events) !== canonical(heavyEvents(1)))
      throw new Error('the heavy history did not read back as written');
    const links = await identities.linksOf(heavyId(1));
    if (links.length !== MAX_LINKS_PER_CUSTOMER) throw new Error(`heavy-1 has ${links.length} links`);

    const info = infoFields(await send<string>(['INFO', 'memory']));
    const keyspace = await send<number>(['DBSIZE']);
    return {
      bytesPerPerson,
      memoryUsage,
      encodings,
      usedMemoryMB: round(info.used_memory! / 1e6, 1),
      keys: keyspace,
      writeSeconds,
    };
  } finally {
    redis.close();
    await server.stop();
  }
}

// ---------------------------------------------------------------------------------------------
// The embedded stores: heap per person after GC.

function collect(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('run with node --expose-gc (npm run bench:journey-memory does)');
  gc();
  gc();
  return process.memoryUsage().heapUsed;
}

/**
 * Heap after − before filling a store made by `make` with EMBEDDED people, per person. The store is
 * made and dropped in here, so that the next measurement starts without it.
 */
async function heapPerPerson<S>(
  make: () => S,
  fill: (store: S, i: number) => Promise<unknown>,
): Promise<number> {
  const before = collect();
  const store = make();
  for (let i = 1; i <= EMBEDDED; i++) await fill(store, i);
  const after = collect();
  if (store === null) throw new Error('unreachable: keeps the store alive until measured');
  return round((after - before) / EMBEDDED, 1);
}

async function embeddedFigures(): Promise<Record<string, number>> {
  const EMPTY: ContactHistory = { events: [], revision: '0', degraded: false };
  const histories = () =>
    new MemoryContactHistoryStore({ maxCustomers: EMBEDDED, maxEventsPerCustomer: CONTACT_EVENTS_KEPT });
  // Facts as the server holds them: parsed from the JSON a consumer wrote, sharing no strings.
  const parsed = (facts: LearnedFacts) => () => JSON.parse(JSON.stringify(facts)) as LearnedFacts;
  return {
    'history, 10 events': await heapPerPerson(histories, (store, i) =>
      store.appendIfUnchanged(typicalId(i), EMPTY, typicalEvents(i)),
    ),
    'history at the cap (100 events)': await heapPerPerson(histories, (store, i) =>
      store.appendIfUnchanged(typicalId(i), EMPTY, heavyEvents(i)),
    ),
    'learned facts, typical': await heapPerPerson(
      () => new MemoryLearnedFactsStore(),
      (store, i) => store.update(typicalId(i), parsed(typicalFacts(i))),
    ),
    'learned facts at the caps': await heapPerPerson(
      () => new MemoryLearnedFactsStore(),
      (store, i) => store.update(typicalId(i), parsed(heavyFacts(i))),
    ),
  };
}

// ---------------------------------------------------------------------------------------------

runBench(LABEL, async () => {
  say(LABEL, `${CUSTOMERS} typical people, ${HEAVY} heavy ones, ${LINKED_SHARE * 100} % linked`);
  const started = performance.now();
  const embedded = await embeddedFigures();
  say(LABEL, `embedded stores measured in ${round((performance.now() - started) / 1000, 1)} s`);
  const r = await redisFigures();
  const b = r.bytesPerPerson;
  const linkBytes = b['typical identity link (per linked person)']!;
  const typical = round(b['typical contacts']! + b['typical learned facts']! + LINKED_SHARE * linkBytes, 1);
  const worst = round(
    b['heavy contacts (100 events)']! +
      b['heavy learned facts']! +
      b[`heavy identity links (${MAX_LINKS_PER_CUSTOMER})`]!,
    1,
  );
  const at1M = (bytes: number) => round((bytes * 1_000_000) / 1e9, 2);

  console.log('Redis: used_memory after − before, per person');
  console.table(
    Object.entries(b).map(([part, bytes]) => ({
      part,
      bytesPerPerson: bytes,
      writeSeconds: r.writeSeconds[part],
    })),
  );
  console.log('Redis: MEMORY USAGE … SAMPLES 0, mean of sampled keys');
  console.table(
    Object.entries(r.memoryUsage).map(([key, bytes]) => ({ key, bytes, encoding: r.encodings[key] })),
  );
  console.log('Per person and at 1,000,000 people');
  console.table([
    {
      person: `typical (10 events, facts, ${LINKED_SHARE * 100} % one link)`,
      bytes: typical,
      GBAt1M: at1M(typical),
    },
    { person: `worst case (every cap)`, bytes: worst, GBAt1M: at1M(worst) },
  ]);
  console.log('Embedded stores: heap per person after GC');
  console.table(
    Object.entries(embedded).map(([store, bytes]) => ({
      store,
      heapBytesPerPerson: bytes,
      MBAt1M: round(bytes, 0),
    })),
  );

  await publishResult(LABEL, {
    customers: CUSTOMERS,
    heavy: HEAVY,
    linkedShare: LINKED_SHARE,
    redis: {
      bytesPerPerson: b,
      memoryUsage: r.memoryUsage,
      encodings: r.encodings,
      usedMemoryMB: r.usedMemoryMB,
      keys: r.keys,
      writeSeconds: r.writeSeconds,
      typicalBytesPerPerson: typical,
      worstBytesPerPerson: worst,
      typicalGBAt1M: at1M(typical),
      worstGBAt1M: at1M(worst),
    },
    embeddedHeapBytesPerPerson: embedded,
  });
});
