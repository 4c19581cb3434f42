import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { ContactEvent } from '../domain/contact.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import { NotFoundError } from '../errors.js';
import type { PseudonymOf } from '../feedback/log/log-erasure.js';
import { pseudonymsOf } from '../feedback/log/log-erasure.js';
import type { LearnedFacts } from '../learning/profile-learning.js';
import type { AdviserBooks } from '../store/adviser-books.js';
import type { CallRegistry, CallState } from '../store/call-registry.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { ErasedIds, ErasureMessage, TombstoneStore } from '../store/erased-ids.js';
import type { IdentityLink, IdentityStore } from '../store/identity-store.js';
import type { LearnedFactsStore } from '../store/learned-facts-store.js';
import { type PhoneDirectory, phoneOf } from '../store/phone-directory.js';
import type { ProfileStore } from '../store/profile-store.js';
import type { CustomerJobs, WebhookOutbox } from '../store/webhook-outbox.js';
import type { JourneyService, JourneyStep } from './journey-service.js';
import type { ProfileService } from './profile-service.js';

/**
 * What the feedback log holds about people, wherever it lives (Redis streams and records, or the
 * embedded log's memory): erased with the pseudonym where aggregates still need an entry.
 */
export interface LogTraces {
  erase(ids: readonly string[], pseudonymOf: PseudonymOf): Promise<number>;
  /** The entries of the ids (and, where the log keeps them apart, their decision records). */
  export(ids: readonly string[]): Promise<{ readonly entries: readonly unknown[] }>;
}

/** What one server holds apart from the shared stores: its spool, its memory copies. */
export interface LocalTraces {
  /** Pseudonymises the ids' spool lines and drops memory copies; answers how many lines changed. */
  forget(ids: readonly string[], pseudonymOf: PseudonymOf): Promise<number>;
  /** The spool lines of the ids (an export). */
  spoolLines(ids: readonly string[]): Promise<string[]>;
}

export interface ErasureServiceDeps {
  readonly erased: ErasedIds;
  readonly tombstones: TombstoneStore;
  /** How long a tombstone is kept (OFFERLOOP_TOMBSTONE_RETENTION_DAYS). */
  readonly retentionMs: number;
  /**
   * How long after the first sweep a second one runs: decisions and events in flight when the
   * tombstone was set (on a server that had not heard of it yet) land within it.
   */
  readonly settleMs: number;
  readonly clock: () => number;
  readonly log: Logger;
  /** The stores' part of an erasure (profile, history, learned facts, links, memory tiers). */
  readonly profileUpdates: Pick<ProfileService, 'erase'>;
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  readonly learned: LearnedFactsStore;
  readonly identities: IdentityStore;
  readonly phones: PhoneDirectory;
  readonly calls: CallRegistry;
  readonly journeys: JourneyService;
  /** Advisers' books: the person leaves theirs. */
  readonly books: Pick<AdviserBooks, 'adviserOf' | 'forget'>;
  /** Trigger pushes waiting for a webhook, and dead letters: the person's are dropped, not sent. */
  readonly webhookOutbox: Pick<WebhookOutbox, 'jobsOf' | 'forget'>;
  readonly feedbackLog: LogTraces;
  /** This server's spool and memory. */
  readonly local: LocalTraces;
  /** Outbound lists this server keeps (selections): rewritten without the ids. */
  readonly lists: { forget(ids: readonly string[]): Promise<number> };
  /** Tells every other server (they call heard()); a no-op for the embedded store. */
  readonly announce: (message: ErasureMessage) => Promise<void>;
}

export interface ErasureResult {
  /** A profile existed. */
  readonly erased: boolean;
  /** The ids erased: the customer and the anonymous ids linked to them. */
  readonly ids: number;
  /** Feedback log entries and records erased or pseudonymised, spool lines pseudonymised, webhook jobs dropped. */
  readonly logTraces: number;
}

/** Everything held about one person (GDPR Art. 15), as JSON. */
export interface PersonExport {
  readonly customerId: string;
  readonly exportedAt: string;
  readonly profile: {
    readonly attributes: Readonly<Record<string, AttributeValue>>;
    readonly consent: Readonly<Record<string, boolean | undefined>>;
    readonly holdings: readonly string[];
    readonly affinities: readonly { product: string; score: number }[];
  } | null;
  readonly learnedFacts: LearnedFacts;
  readonly contactHistory: readonly (Omit<ContactEvent, 'at'> & { at: string })[];
  readonly identityLinks: readonly (Omit<IdentityLink, 'at'> & { at: string })[];
  readonly journey: readonly JourneyStep[];
  readonly phoneDirectory: readonly string[];
  readonly callsInProgress: readonly CallState[];
  /** The adviser whose book holds the person (or a linked id), per id. */
  readonly adviserBooks: readonly { readonly id: string; readonly adviserId: string }[];
  /** Trigger pushes about the person waiting for a webhook, and those dead-lettered. */
  readonly webhookDeliveries: CustomerJobs;
  readonly feedbackLog: unknown;
  /** Lines of this server's spool (events kept while Redis was away; other servers have their own). */
  readonly spool: readonly string[];
}

/**
 * Erasure (GDPR Art. 17) and access (Art. 15) across every store: see docs/decisions/0009-erasure.md.
 * Erasure sets the tombstones first (so that nothing new is recorded under the ids, on any server
 * that has heard), then erases the stores, the log and the spool, and sweeps once more after
 * `settleMs` for what was in flight.
 */
export class ErasureService {
  constructor(private readonly deps: ErasureServiceDeps) {}

  async erase(customerId: string): Promise<ErasureResult> {
    const { deps } = this;
    const links = await deps.identities.linksOf(customerId);
    const ids = [customerId, ...links.map((l) => l.anonymousId)];
    const { profile } = await deps.profiles.get(customerId);
    const now = deps.clock();
    const tombstones = ids.map((id) => ({ tombstone: deps.erased.tombstoneOf(id), at: now }));
    await deps.tombstones.add(tombstones);
    deps.erased.addTombstones(tombstones.map((t) => t.tombstone));
    await deps.announce({ kind: 'erase', ids });
    const { erased } = await deps.profileUpdates.erase(customerId);
    await deps.phones.forget(profile === null ? null : phoneOf(profile), ids);
    let logTraces = await this.sweep(ids);
    // What was in flight when the tombstone was set (a decision past its checks, a batch on its way
    // to Redis, a server that heard a moment later) has landed by now: sweep again.
    await sleep(deps.settleMs);
    logTraces += await this.sweep(ids);
    await deps.tombstones.expire(now - deps.retentionMs).catch(() => 0);
    deps.log.info({ ids: ids.length, logTraces }, 'customer erased');
    return { erased, ids: ids.length, logTraces };
  }

  /** What another server did: an erasure (this server's spool and memory forget), or a lifted tombstone. */
  async heard(message: ErasureMessage): Promise<void> {
    const { erased } = this.deps;
    if (message.kind === 'lift') {
      erased.removeTombstone(message.tombstone);
      return;
    }
    const { ids } = message;
    erased.addTombstones(ids.map((id) => erased.tombstoneOf(id)));
    // This server's memory copies of the histories too (what it kept while Redis was away).
    await Promise.all(ids.map((id) => this.deps.history.erase(id)));
    await this.deps.local.forget(ids, this.pseudonyms(ids));
    await this.deps.lists.forget(ids);
    await this.deps.calls.forgetCustomers(ids);
  }

  /**
   * Lifts the id's tombstone, on every server: an explicit PUT by the CRM after an erasure begins a
   * new relationship (a bulk load of an old file does not: docs/decisions/0009-erasure.md).
   */
  async lift(customerId: string): Promise<void> {
    const { erased } = this.deps;
    if (!erased.has(customerId)) return;
    const tombstone = erased.tombstoneOf(customerId);
    await this.deps.tombstones.remove(tombstone);
    erased.removeTombstone(tombstone);
    await this.deps.announce({ kind: 'lift', tombstone });
  }

  async export(customerId: string): Promise<PersonExport> {
    const { deps } = this;
    const [{ profile }, history, links, learnedFacts] = await Promise.all([
      deps.profiles.get(customerId),
      deps.history.read(customerId),
      deps.identities.linksOf(customerId),
      deps.learned.get(customerId),
    ]);
    const ids = [customerId, ...links.map((l) => l.anonymousId)];
    const [journey, calls, feedbackLog, spool, phones, books, webhookDeliveries] = await Promise.all([
      this.wholeJourney(customerId),
      deps.calls.callsOf(ids),
      deps.feedbackLog.export(ids),
      deps.local.spoolLines(ids),
      this.phonesOf(profile, ids),
      this.booksOf(ids),
      deps.webhookOutbox.jobsOf(ids),
    ]);
    const known =
      profile !== null ||
      history.events.length > 0 ||
      links.length > 0 ||
      learnedFacts.events.length > 0 ||
      feedbackLog.entries.length > 0 ||
      spool.length > 0 ||
      books.length > 0 ||
      webhookDeliveries.pending.length > 0 ||
      webhookDeliveries.dead.length > 0;
    if (!known) throw new NotFoundError(`nothing is held about '${customerId}'`);
    return {
      customerId,
      exportedAt: new Date(deps.clock()).toISOString(),
      profile: profile === null ? null : profileJson(profile),
      learnedFacts,
      contactHistory: history.events.map((e) => ({ ...e, at: new Date(e.at).toISOString() })),
      identityLinks: links.map((l) => ({ ...l, at: new Date(l.at).toISOString() })),
      journey,
      phoneDirectory: phones,
      callsInProgress: calls,
      adviserBooks: books,
      webhookDeliveries,
      feedbackLog,
      spool,
    };
  }

  private async sweep(ids: readonly string[]): Promise<number> {
    const { deps } = this;
    const pseudonymOf = this.pseudonyms(ids);
    // Keys an in-flight write may have made again after the first pass.
    await Promise.all(ids.flatMap((id) => [deps.history.erase(id), deps.learned.erase(id)]));
    await deps.calls.forgetCustomers(ids);
    // A book put or a trigger in flight may have added them again since the first pass.
    await deps.books.forget(ids);
    const inOutbox = await deps.webhookOutbox.forget(ids);
    const inLog = await deps.feedbackLog.erase(ids, pseudonymOf);
    const inSpool = await deps.local.forget(ids, pseudonymOf);
    const inLists = await deps.lists.forget(ids);
    return inLog + inSpool + inOutbox + inLists;
  }

  private pseudonyms(ids: readonly string[]): PseudonymOf {
    const { hasher } = this.deps.erased;
    return pseudonymsOf(ids, (id) => hasher.pseudonym(id));
  }

  private async wholeJourney(customerId: string): Promise<JourneyStep[]> {
    const steps: JourneyStep[] = [];
    let before: number | null = null;
    for (let page = 0; page < 50; page++) {
      const journey = await this.deps.journeys.journey(customerId, { limit: 200, before });
      steps.push(...journey.steps);
      if (journey.next === null) break;
      before = Date.parse(journey.next);
    }
    return steps;
  }

  private async booksOf(ids: readonly string[]): Promise<{ id: string; adviserId: string }[]> {
    const found = await Promise.all(
      ids.map(async (id) => ({ id, adviserId: await this.deps.books.adviserOf(id) })),
    );
    return found.flatMap(({ id, adviserId }) => (adviserId === null ? [] : [{ id, adviserId }]));
  }

  private async phonesOf(profile: CustomerProfile | null, ids: readonly string[]): Promise<string[]> {
    const phone = profile === null ? null : phoneOf(profile);
    if (phone === null) return [];
    const owner = await this.deps.phones.lookup(phone);
    return owner !== null && ids.includes(owner) ? [phone] : [];
  }
}

function profileJson(profile: CustomerProfile): NonNullable<PersonExport['profile']> {
  return {
    attributes: profile.attributes,
    consent: profile.consent,
    holdings: [...profile.holdings],
    affinities: affinitiesOf(profile),
  };
}

function affinitiesOf(profile: CustomerProfile): { product: string; score: number }[] {
  const out: { product: string; score: number }[] = [];
  profile.affinities.forEach((score, product) => {
    out.push({ product, score });
  });
  return out;
}
