import { hostname } from 'node:os';
import path from 'node:path';
import type { Logger } from 'pino';
import type { Config, ErasureConfig, FeedbackConfig, RedisConfig } from './config.js';
import { DemoClock } from './demo/demo-clock.js';
import { type DemoHistoryDeps, type DemoHistorySummary, playDemoHistory } from './demo/demo-history.js';
import { UNTOUCHED_CUSTOMERS } from './demo/demo-world.js';
import type { CustomerProfile } from './domain/profile.js';
import { profileFromRecord } from './domain/profile.js';
import type { AttributionWindows } from './feedback/attribution.js';
import type { CustomerLoop } from './feedback/log/customer-loop.js';
import type { FeedbackLog } from './feedback/log/feedback-log.js';
import { feedbackShards } from './feedback/log/feedback-shards.js';
import { FeedbackSpool } from './feedback/log/feedback-spool.js';
import { readStreamLag } from './feedback/log/feedback-stream-lag.js';
import { customerOfSpoolLine, mentions, pseudonymiseSpoolLine } from './feedback/log/log-erasure.js';
import { MemoryFeedbackLog } from './feedback/log/memory-feedback-log.js';
import { RedisFeedbackConsumer } from './feedback/log/redis-feedback-consumer.js';
import { RedisFeedbackLog } from './feedback/log/redis-feedback-log.js';
import { RedisLogEraser } from './feedback/log/redis-log-eraser.js';
import { RedisStatsReader } from './feedback/log/redis-stats-reader.js';
import { MemoryStatsReader, type StatsReader } from './feedback/stats-reader.js';
import { RateLimiter } from './http/rate-limiter.js';
import type { ReadinessCheck } from './http/routes/health.js';
import { Metrics } from './metrics/metrics.js';
import type { RulesetVersionStore } from './ruleset/ruleset-history.js';
import { RulesetHolder } from './ruleset/ruleset-holder.js';
import { DAY_MS } from './ruleset/time.js';
import { AdviserService } from './service/adviser-service.js';
import { BannerService } from './service/banner-service.js';
import { CallService } from './service/call-service.js';
import { CandidateService } from './service/candidate-service.js';
import { ChallengerService } from './service/challenger-service.js';
import { CustomerLoopService } from './service/customer-loop-service.js';
import { DecisionService } from './service/decision-service.js';
import { DossierService } from './service/dossier-service.js';
import { ErasureService, type LocalTraces, type LogTraces } from './service/erasure-service.js';
import { FeedbackService } from './service/feedback-service.js';
import { IdentityService } from './service/identity-service.js';
import { JourneyService } from './service/journey-service.js';
import { LearningService } from './service/learning-service.js';
import { ProfileService } from './service/profile-service.js';
import { ReportService } from './service/report-service.js';
import { SelectionService } from './service/selection-service.js';
import { TriggerService } from './service/trigger-service.js';
import { WebhookDispatcher } from './service/webhook-dispatcher.js';
import { WhatIfService } from './service/what-if-service.js';
import { generatePopulation } from './sim/population.js';
import { type AdviserBooks, MemoryAdviserBooks } from './store/adviser-books.js';
import { type CallRegistry, MemoryCallRegistry } from './store/call-registry.js';
import { type CandidateStore, MemoryCandidateStore } from './store/candidate-store.js';
import { type CapCounters, MemoryCapCounters } from './store/cap-counters.js';
import { type ChallengerStore, MemoryChallengerStore } from './store/challenger-store.js';
import {
  CONTACT_EVENTS_KEPT,
  type ContactHistoryStore,
  historyRetention,
  MemoryContactHistoryStore,
} from './store/contact-history-store.js';
import type { CustomerReader } from './store/customer-reader.js';
import {
  ErasedIds,
  ErasureHasher,
  type ErasureMessage,
  MemoryTombstoneStore,
  type TombstoneStore,
  tombstoneRefresher,
} from './store/erased-ids.js';
import { ErasureGuardedHistory } from './store/erasure-guard.js';
import { type EventDedupe, MemoryEventDedupe } from './store/event-dedupe.js';
import { type IdentityStore, MemoryIdentityStore } from './store/identity-store.js';
import { type LearnedFactsStore, MemoryLearnedFactsStore } from './store/learned-facts-store.js';
import { MemoryProfileStore } from './store/memory-profile-store.js';
import { MemoryPhoneDirectory, type PhoneDirectory } from './store/phone-directory.js';
import { MemoryPopulation, type PopulationSource } from './store/population-source.js';
import { readProfilesFile } from './store/profile-file.js';
import type { ProfileStore } from './store/profile-store.js';
import { warnOfClusterSettings } from './store/redis/cluster-settings.js';
import { PopulationSync } from './store/redis/population-sync.js';
import { RedisAdviserBooks } from './store/redis/redis-adviser-books.js';
import { RedisCallRegistry } from './store/redis/redis-call-registry.js';
import { RedisCandidateStore } from './store/redis/redis-candidate-store.js';
import { RedisCapCounters } from './store/redis/redis-cap-counters.js';
import { RedisChallengerStore } from './store/redis/redis-challenger-store.js';
import { RedisConnection } from './store/redis/redis-connection.js';
import { RedisContactHistoryStore } from './store/redis/redis-contact-history-store.js';
import { RedisCustomerReader } from './store/redis/redis-customer-reader.js';
import { RedisEventDedupe } from './store/redis/redis-event-dedupe.js';
import { RedisIdentityStore } from './store/redis/redis-identity-store.js';
import { RedisKeys } from './store/redis/redis-keys.js';
import { RedisLearnedFactsStore } from './store/redis/redis-learned-facts-store.js';
import { RedisPhoneDirectory } from './store/redis/redis-phone-directory.js';
import { RedisPopulation } from './store/redis/redis-population.js';
import { RedisProfileStore } from './store/redis/redis-profile-store.js';
import { RedisRateSync, watchRateSync } from './store/redis/redis-rate-sync.js';
import { RedisRulesetVersionStore } from './store/redis/redis-ruleset-version-store.js';
import { erasureHasherOf, RedisTombstoneStore } from './store/redis/redis-tombstones.js';
import { RedisWebhookOutbox } from './store/redis/redis-webhook-outbox.js';
import { RedisWhatIfRunStore } from './store/redis/redis-what-if-run-store.js';
import { MemoryRulesetVersionStore } from './store/ruleset-version-store.js';
import { TieredProfileStore } from './store/tiered-profile-store.js';
import { MemoryWebhookOutbox, type WebhookOutbox } from './store/webhook-outbox.js';
import type { WhatIfRunStore } from './store/what-if-run-store.js';
import { WsCallPublisher } from './ws/call-publisher.js';
import { PushHub } from './ws/push-hub.js';
import { watchPushRelay } from './ws/push-relay-metrics.js';
import { RedisPushRelay } from './ws/redis-push-relay.js';
import { WsTriggerPublisher } from './ws/trigger-publisher.js';

/** Everything the HTTP layer talks to. Built in one place (the composition root), injected into routes. */
export interface Services {
  readonly rules: RulesetHolder;
  /** Candidate rulesets for previews, never live. */
  readonly candidates: CandidateService;
  /** The champion/challenger test: a candidate deciding for a share of customers, and its promotion. */
  readonly challenger: ChallengerService;
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  readonly decisions: DecisionService;
  readonly dossiers: DossierService;
  /** Profile changes from the CRM and erasure (`profiles` is the store they change). */
  readonly profileUpdates: ProfileService;
  readonly feedback: FeedbackService;
  /** Links anonymous ids to customers, and merges what they did. */
  readonly identities: IdentityService;
  /** People's journeys across channels and linked ids. */
  readonly journeys: JourneyService;
  /** Erasure (GDPR Art. 17) and export (Art. 15) of everything held about a person. */
  readonly erasure: ErasureService;
  readonly calls: CallService;
  /** Real-time events: triggers of the rules, decided and pushed to subscribers, advisers, webhooks. */
  readonly triggers: TriggerService;
  /** Advisers' books and their customers to contact today. */
  readonly advisers: AdviserService;
  /** Delivers the webhook outbox off the request path (retries, dead letters). */
  readonly webhooks: WebhookDispatcher;
  readonly webhookOutbox: WebhookOutbox;
  readonly banners: BannerService;
  readonly reports: ReportService;
  /** What-ifs of a candidate ruleset against the live one over the loaded population. */
  readonly whatIf: WhatIfService;
  /** Outbound selections: a campaign's target list over the population, each row a real decision. */
  readonly selections: SelectionService;
  /** The learned model, refreshed from the feedback counters. */
  readonly learning: LearningService;
  /** The feedback aggregates (counters per offer × channel × segment × day), for reports and learning. */
  readonly stats: StatsReader;
  /** Who listens to pushes on this server (WebSocket sessions), and the way to the other servers. */
  readonly hub: PushHub;
  /** The feedback log itself (tests and tools inspect it; routes go through `feedback`). */
  readonly feedbackLog: FeedbackLog;
  /** This server's metrics (`GET /metrics`), in a registry of its own. */
  readonly metrics: Metrics;
  /** API keys' rate limits: per server, and across servers on Redis (`store/redis/redis-rate-sync.ts`). */
  readonly rateLimiter: RateLimiter;
  readonly readiness: ReadinessCheck;
  close(): Promise<void>;
}

export async function createServices(
  config: Pick<
    Config,
    'rules' | 'data' | 'decisions' | 'redis' | 'cache' | 'feedback' | 'learning' | 'erasure' | 'triggers'
  >,
  log: Logger,
  realClock: () => number = Date.now,
): Promise<Services> {
  // The demo starts with weeks of history: every service judges by the demo clock, which starts in
  // the past, moves while the history is played, and is realClock from then on (src/demo/).
  const demoClock = wantsDemoHistory(config)
    ? new DemoClock(realClock, config.data.demoHistory.days * DAY_MS)
    : null;
  const clock = demoClock?.now ?? realClock;
  const rules = await RulesetHolder.open(config.rules.dir, log, clock);
  if (config.rules.watch) rules.watch();
  try {
    const hub = new PushHub();
    const metrics = new Metrics();
    const rateLimiter = new RateLimiter();
    const stores = config.redis
      ? await redisStores(
          config.redis,
          config.cache,
          config.feedback,
          config.erasure,
          rules,
          hub,
          metrics,
          rateLimiter,
          log,
          clock,
        )
      : await embeddedStores(config.data, config.feedback, config.erasure, rules, log, clock);
    const { profiles, history, counters, feedbackLog, identities, customers } = stores;
    const candidates = new CandidateService({ store: stores.candidates, clock });
    await rules.attach(stores.rulesetVersions);
    const challenger = await new ChallengerService({
      store: stores.challenger,
      candidates,
      rules,
      stats: stores.stats,
      clock,
      log,
    }).open();
    const learning = new LearningService({ rules, stats: stores.stats, config: config.learning, log, clock });
    const exploration = config.learning.exploration;
    const decisionDeps = {
      rules,
      profiles,
      history,
      customers,
      counters,
      feedbackLog,
      clock,
      defaultLimit: config.decisions.defaultLimit,
      conversionWindowMs: config.feedback.conversionWindowMs,
      identities,
      candidates,
      challenger,
      learning,
      erased: stores.erased,
      // Math.random: exploration needs a fair coin, not a secret one, and this is the cheapest.
      exploration: exploration > 0 ? { share: exploration, random: Math.random } : undefined,
      // Only Redis can keep a decision waiting; the embedded store answers at once (no timer needed).
      timeoutMs: config.redis ? config.decisions.timeoutMs : 0,
    };
    const decisions = new DecisionService({ ...decisionDeps, observer: metrics.decisions });
    const journeys = new JourneyService({ rules, history, identities, learned: stores.learned });
    const dossiers = new DossierService({
      rules,
      profiles,
      history,
      learned: stores.learned,
      identities,
      clock,
    });
    const profileUpdates = new ProfileService({
      profiles,
      history,
      learned: stores.learned,
      identities,
      announceProfileChange: stores.announceProfileChange,
      phones: stores.phones,
      liftTombstone: (customerId) => erasure.lift(customerId),
    });
    const erasure: ErasureService = new ErasureService({
      erased: stores.erased,
      tombstones: stores.tombstones,
      retentionMs: config.erasure.tombstoneRetentionMs,
      // The embedded store has nothing in flight between servers: the first sweep finds everything.
      settleMs: config.redis ? config.erasure.settleMs : 0,
      clock,
      log,
      profileUpdates,
      profiles,
      history,
      learned: stores.learned,
      identities,
      phones: stores.phones,
      calls: stores.callRegistry,
      journeys,
      books: stores.adviserBooks,
      webhookOutbox: stores.webhookOutbox,
      feedbackLog: stores.logTraces,
      local: stores.local,
      // Built below; erasures come after start.
      lists: { forget: (ids) => selections.forget(ids) },
      announce: stores.announceErasure,
    });
    stores.hearErasures((message) => {
      erasure.heard(message).catch((err: unknown) => {
        log.warn({ err: (err as Error).message }, 'an erasure announced by another server failed here');
      });
    });
    const feedbackDeps = {
      feedbackLog,
      clock,
      rules,
      profiles,
      identities,
      announceProfileChange: stores.announceProfileChange,
      erased: stores.erased,
    };
    const feedback = new FeedbackService({ ...feedbackDeps, observer: metrics.feedback });
    const identityService = new IdentityService({
      identities,
      profiles,
      history,
      learned: stores.learned,
      rules,
      announceProfileChange: stores.announceProfileChange,
      clock,
      erased: stores.erased,
    });
    metrics.watchFeedbackLog(() => feedbackLog.health());
    metrics.watchLearning(() => {
      const { failures, builtAt } = learning.status();
      return { failures, modelAgeSeconds: builtAt === null ? null : (clock() - builtAt) / 1000 };
    });
    const calls = new CallService({
      decisions,
      dossiers,
      profiles,
      phones: stores.phones,
      callRegistry: stores.callRegistry,
      publisher: new WsCallPublisher(hub),
      clock,
    });
    // Webhooks go by the wall clock, never an injected one: retries wait real time (timers), and a
    // receiver checks the signed timestamp against its own clock.
    const webhooks = new WebhookDispatcher({
      outbox: stores.webhookOutbox,
      config: config.triggers,
      clock: Date.now,
      log,
    }).start();
    const triggers = new TriggerService({
      rules,
      profiles,
      decisions,
      dedupe: stores.eventDedupe,
      books: stores.adviserBooks,
      publisher: new WsTriggerPublisher(hub),
      outbox: stores.webhookOutbox,
      erased: stores.erased,
      queued: () => webhooks.nudge(),
      clock,
      eventIdTtlMs: config.triggers.eventIdTtlMs,
      observer: metrics.triggers,
    });
    metrics.watchWebhooks(() => webhooks.stats);
    const advisers = new AdviserService({ books: stores.adviserBooks, decisions, erased: stores.erased });
    const banners = new BannerService({ rules, decisions });
    const reports = new ReportService({ rules, stats: stores.stats, clock });
    const whatIf = new WhatIfService({
      rules,
      candidates,
      learning,
      population: stores.population,
      usage: counters,
      clock,
      defaultLimit: config.decisions.defaultLimit,
      shared: stores.whatIfRuns,
    });
    const selections = new SelectionService({
      rules,
      learning,
      population: stores.population,
      // Real decisions without a deadline: a list waits for Redis, where a caller would get the fallback.
      decisions: new DecisionService({ ...decisionDeps, observer: metrics.decisions, timeoutMs: 0 }),
      counters,
      clock,
      dir: path.join(path.dirname(config.feedback.spoolDir), 'selections'),
      erased: stores.erased,
    });
    const demoHistory =
      demoClock === null
        ? null
        : await playDemo(demoClock, config.data, log, {
            rules,
            // The same services without the observers: the history is not traffic of this process.
            decisions: new DecisionService(decisionDeps),
            feedback: new FeedbackService(feedbackDeps),
            learning,
          });
    const readiness: ReadinessCheck = async () => {
      const store = await stores.health();
      const feedbackHealth = feedbackLog.health();
      return {
        ready: true,
        degraded: store.degraded || feedbackHealth.mode === 'spooling' || feedbackHealth.decisionsLost > 0,
        details: {
          ...store.details,
          feedback: feedbackHealth,
          learning: learning.status(),
          rulesetVersion: rules.current.version,
          ...(demoHistory === null ? {} : { demoHistory }),
        },
      };
    };
    return {
      rules,
      candidates,
      challenger,
      profiles,
      history,
      decisions,
      dossiers,
      profileUpdates,
      feedback,
      identities: identityService,
      journeys,
      erasure,
      calls,
      triggers,
      advisers,
      webhooks,
      webhookOutbox: stores.webhookOutbox,
      banners,
      reports,
      whatIf,
      selections,
      stats: stores.stats,
      learning: learning.start(),
      hub,
      feedbackLog,
      metrics,
      rateLimiter,
      readiness,
      async close() {
        await webhooks.close();
        await whatIf.close();
        await selections.close();
        learning.close();
        rules.close();
        await stores.close();
      },
    };
  } catch (err) {
    rules.close();
    throw err;
  }
}

/** A generated population on the embedded store, and a history asked for. */
function wantsDemoHistory(config: Pick<Config, 'data'>): boolean {
  const { data } = config;
  return (
    data.demo &&
    data.demoHistory.days > 0 &&
    data.demoHistory.decisions > 0 &&
    data.demoCustomers > UNTOUCHED_CUSTOMERS
  );
}

/** Plays the demo's history before the server is ready; answers what /health/ready reports of it. */
async function playDemo(
  clock: DemoClock,
  data: Config['data'],
  log: Logger,
  deps: Omit<DemoHistoryDeps, 'clock'>,
): Promise<Omit<DemoHistorySummary, 'campaigns'>> {
  // playDemoHistory hands the clock over to real time itself; if it fails, the server does not start.
  const { campaigns, ...totals } = await playDemoHistory(
    { ...deps, clock },
    { decisions: data.demoHistory.decisions, customers: data.demoCustomers, seed: data.demoSeed },
  );
  const trueUplift = Object.fromEntries(Object.entries(campaigns).map(([id, c]) => [id, c.trueUplift]));
  log.info({ ...totals, trueUplift }, 'demo history played: reports, learning and dossiers start from it');
  log.debug({ campaigns }, 'demo history by campaign');
  return totals;
}

/** The stores of one deployment mode, and what the services need to know about them. */
interface Stores {
  readonly profiles: ProfileStore;
  /** Every profile, page by page, for what-ifs. */
  readonly population: PopulationSource;
  /** What-if runs shared between servers; none: each server's own (embedded). */
  readonly whatIfRuns?: WhatIfRunStore;
  readonly history: ContactHistoryStore;
  /** A decision's profile and history in one call, where the store can (Redis); none: read apart. */
  readonly customers?: CustomerReader;
  /** What outcomes taught about each customer (erasure deletes it). */
  readonly learned: LearnedFactsStore;
  /** Anonymous ids linked to customers. */
  readonly identities: IdentityStore;
  readonly counters: CapCounters;
  readonly feedbackLog: FeedbackLog;
  readonly stats: StatsReader;
  readonly phones: PhoneDirectory;
  readonly callRegistry: CallRegistry;
  /** Advisers' books, event ids that triggered, webhook deliveries waiting: shared by every server on Redis. */
  readonly adviserBooks: AdviserBooks;
  readonly eventDedupe: EventDedupe;
  readonly webhookOutbox: WebhookOutbox;
  /** Candidate rulesets' sources, shared by every server. */
  readonly candidates: CandidateStore;
  /** The champion/challenger test, shared by every server, and its changes announced. */
  readonly challenger: ChallengerStore;
  /** The files of ruleset versions that loaded, and rollbacks announced to every server. */
  readonly rulesetVersions: RulesetVersionStore;
  /** Tells every server to forget its memory copy of the customer (a no-op for the embedded store). */
  readonly announceProfileChange: (customerId: string) => Promise<void>;
  /** Erased ids this server knows (tombstones), and where tombstones are kept. */
  readonly erased: ErasedIds;
  readonly tombstones: TombstoneStore;
  /** The feedback log's traces of people, and this server's own (spool, memory). */
  readonly logTraces: LogTraces;
  readonly local: LocalTraces;
  /** Tells every other server of an erasure or a lifted tombstone; hearErasures() hears theirs. */
  readonly announceErasure: (message: ErasureMessage) => Promise<void>;
  hearErasures(listener: (message: ErasureMessage) => void): void;
  health(): Promise<{ degraded: boolean; details: Record<string, unknown> }>;
  close(): Promise<void>;
}

function windowsOf(feedback: FeedbackConfig): AttributionWindows {
  return { reactionMs: feedback.reactionWindowMs, conversionMs: feedback.conversionWindowMs };
}

async function embeddedStores(
  data: Config['data'],
  feedback: FeedbackConfig,
  erasure: ErasureConfig,
  rules: RulesetHolder,
  log: Logger,
  clock: () => number,
): Promise<Stores> {
  const tombstones = await MemoryTombstoneStore.open(erasure.tombstonesFile);
  const erased = new ErasedIds(
    erasure.pepper === null ? ErasureHasher.random() : new ErasureHasher(erasure.pepper),
  );
  await tombstoneRefresher(tombstones, erased, clock)();
  // The embedded loader honours tombstones: an erased customer stays erased on a restart on the old file.
  const initial = (await initialProfiles(data, rules, log)).filter((p) => !erased.has(p.id));
  const profiles = new MemoryProfileStore(initial);
  const history = new ErasureGuardedHistory(new MemoryContactHistoryStore(), erased);
  const learned = new MemoryLearnedFactsStore();
  const identities = new MemoryIdentityStore();
  const loop = new CustomerLoopService({
    rules,
    history,
    profiles,
    learned,
    identities,
    windows: windowsOf(feedback),
    clock,
    announceProfileChange: () => Promise.resolve(),
    erased,
  });
  const feedbackLog = new MemoryFeedbackLog(history, {
    windows: windowsOf(feedback),
    maxDecisions: 100_000,
    maxEntries: 10_000,
    clock,
    loop,
  });
  return {
    profiles,
    population: new MemoryPopulation(profiles),
    history,
    learned,
    identities,
    phones: new MemoryPhoneDirectory(initial),
    candidates: new MemoryCandidateStore(),
    challenger: new MemoryChallengerStore(),
    rulesetVersions: new MemoryRulesetVersionStore(),
    callRegistry: new MemoryCallRegistry(),
    adviserBooks: new MemoryAdviserBooks(),
    eventDedupe: new MemoryEventDedupe(clock),
    webhookOutbox: new MemoryWebhookOutbox(),
    counters: new MemoryCapCounters(),
    feedbackLog,
    stats: new MemoryStatsReader(feedbackLog.stats),
    announceProfileChange: () => Promise.resolve(),
    erased,
    tombstones,
    logTraces: memoryLogTraces(feedbackLog),
    local: { forget: () => Promise.resolve(0), spoolLines: () => Promise.resolve([]) },
    announceErasure: () => Promise.resolve(),
    hearErasures: () => {},
    health: async () => ({
      degraded: false,
      details: { store: profiles.kind, customers: await profiles.count() },
    }),
    close: () => profiles.close(),
  };
}

async function redisStores(
  redisConfig: RedisConfig,
  cache: Config['cache'],
  configured: FeedbackConfig,
  erasure: ErasureConfig,
  rules: RulesetHolder,
  hub: PushHub,
  metrics: Metrics,
  rateLimiter: RateLimiter,
  log: Logger,
  clock: () => number,
): Promise<Stores> {
  const redis = await RedisConnection.open(redisConfig, log);
  redis.instrument(metrics.redisCalls('main'));
  await warnOfClusterSettings(redis, log);
  const closeOnFailure = [redis];
  try {
    const keys = new RedisKeys(redisConfig.prefix);
    const feedback = { ...configured, shards: await feedbackShards(redis, keys, configured.shards) };
    const backing = await RedisProfileStore.open(redis, keys);
    const profiles = new TieredProfileStore(backing, { maxBytes: cache.maxBytes });
    const tombstones = new RedisTombstoneStore(redis, keys);
    const erased = new ErasedIds(await erasureHasherOf(redis, keys, erasure.pepper, log));
    const refreshTombstones = tombstoneRefresher(tombstones, erased, clock);
    await refreshTombstones();
    const redisHistory = new RedisContactHistoryStore(redis, keys, {
      maxEvents: CONTACT_EVENTS_KEPT,
      maxCacheBytes: cache.historyMaxBytes,
      retention: historyRetention(() => rules.current.lookback, feedback.conversionWindowMs),
    });
    // Every writer of contacts gets the guarded store: nothing is appended for an erased id.
    const history = new ErasureGuardedHistory(redisHistory, erased);
    const customers = new RedisCustomerReader(profiles, backing, redisHistory);
    const identities = new RedisIdentityStore(redis, keys);
    const sync = await PopulationSync.start(redis, keys, backing, profiles, log, [
      (id) => redisHistory.forget(id),
      (id) => identities.forget(id),
    ]);
    const counters = new RedisCapCounters(redis, keys, log, clock);
    // Keys' rate limits across servers: counts synced off the request path, as the caps are.
    const rateSync = new RedisRateSync(redis, keys, rateLimiter, log);
    watchRateSync(metrics.registry, rateSync);
    const pushRelay = await RedisPushRelay.start(redis, keys, hub, log, { clock });
    watchPushRelay(metrics.registry, () => pushRelay.stats);
    // A connection of its own: Redis answers a connection's commands in order, and a decision's
    // must not queue behind a flood of feedback scripts.
    const feedbackRedis = await RedisConnection.open(redisConfig, log);
    closeOnFailure.push(feedbackRedis);
    feedbackRedis.instrument(metrics.redisCalls('feedback'));
    const learned = new RedisLearnedFactsStore(redis, keys);
    const loop = new CustomerLoopService({
      rules,
      history,
      profiles,
      learned,
      identities,
      windows: windowsOf(feedback),
      clock,
      announceProfileChange: (customerId) => sync.customerChanged(customerId),
      erased,
    });
    const consumers = await startConsumers(feedbackRedis, keys, history, loop, feedback, log);
    const spool = await FeedbackSpool.open(feedback.spoolDir, log);
    const feedbackLog = RedisFeedbackLog.open(feedbackRedis, keys, spool, log, {
      shards: feedback.shards,
      windows: windowsOf(feedback),
      clock,
      onAppended: () => {
        for (const c of consumers) c.nudge();
      },
      erasure: {
        beforeReplay: refreshTombstones,
        replayLine: (line) =>
          erased.size === 0
            ? line
            : pseudonymiseSpoolLine(line, (id) => (erased.has(id) ? erased.hasher.pseudonym(id) : null)),
      },
    });
    // Erasures announced while this server could not hear are learned after an outage, and now and then.
    const onUp = () => void refreshTombstones().catch(() => {});
    redis.on('up', onUp);
    const tombstoneTimer = setInterval(onUp, TOMBSTONE_REFRESH_MS).unref();
    let hear: (message: ErasureMessage) => void = () => {};
    await redis.subscribe(keys.erasures(), (message) => hear(JSON.parse(message) as ErasureMessage));
    const callRegistry = new RedisCallRegistry(redis, keys, log);
    metrics.watchProfileCache(() => profiles.stats());
    metrics.watchStreamLag(() => readStreamLag(feedbackRedis, keys, feedback.shards, STREAM_LAG_TIMEOUT_MS));
    log.info({ version: backing.version, customers: await backing.count() }, 'serving profiles from Redis');
    return {
      profiles,
      // On the feedback connection, as reports: a decision's reads never queue behind a bucket.
      population: new RedisPopulation(feedbackRedis, keys),
      whatIfRuns: new RedisWhatIfRunStore(redis, keys),
      history,
      customers,
      learned,
      identities,
      counters,
      feedbackLog,
      // Reports read on the feedback connection, so that a year of counters never delays a decision.
      stats: new RedisStatsReader(feedbackRedis, keys, feedback.shards),
      phones: new RedisPhoneDirectory(redis, keys),
      candidates: new RedisCandidateStore(redis, keys),
      challenger: new RedisChallengerStore(redis, keys),
      rulesetVersions: new RedisRulesetVersionStore(redis, keys),
      callRegistry,
      adviserBooks: new RedisAdviserBooks(redis, keys),
      eventDedupe: new RedisEventDedupe(redis, keys),
      // On the feedback connection: the dispatcher's scripts never queue before a decision's reads.
      webhookOutbox: new RedisWebhookOutbox(feedbackRedis, keys),
      announceProfileChange: (customerId) => sync.customerChanged(customerId),
      erased,
      tombstones,
      logTraces: redisLogTraces(new RedisLogEraser(feedbackRedis, keys, feedback.shards)),
      local: spoolTraces(spool, pushRelay),
      announceErasure: async (message) => {
        await redis.publish(keys.erasures(), JSON.stringify(message));
      },
      hearErasures: (listener) => {
        hear = listener;
      },
      health: async () => ({
        // Decisions go on while Redis is away (memory tier, then anonymous): degraded, not down.
        degraded: !redis.isUp,
        details: {
          store: profiles.kind,
          redis: redis.state,
          ...(redis.isCluster && !redis.isUp ? { redisMastersDown: redis.mastersDown } : {}),
          hungConnectionsReplaced: redis.hungConnectionsReplaced,
          rateLimits: rateSync.mode,
          populationVersion: backing.version,
          customers: await backing.count(),
          memoryTier: profiles.stats(),
        },
      }),
      async close() {
        // Buffered decisions and events first (to Redis, or the spool), then what reads them.
        await feedbackLog.close();
        await Promise.all(consumers.map((c) => c.close()));
        sync.close();
        clearInterval(tombstoneTimer);
        redis.off('up', onUp);
        rateSync.close();
        pushRelay.close();
        await counters.close();
        await profiles.close();
        feedbackRedis.close();
        redis.close();
      },
    };
  } catch (err) {
    for (const connection of closeOnFailure) connection.close();
    throw err;
  }
}

/** How often a server looks for tombstones it may not have heard of (cheap: only the newest are read). */
const TOMBSTONE_REFRESH_MS = 30_000;

/** The embedded log's traces of people: its memory (decision records, entries kept for inspection). */
function memoryLogTraces(feedbackLog: MemoryFeedbackLog): LogTraces {
  return {
    erase: (_ids, pseudonymOf) => Promise.resolve(feedbackLog.forget(pseudonymOf)),
    export: (ids) =>
      Promise.resolve({
        entries: feedbackLog.entries().filter((e) => {
          const customerId = e.kind === 'decision' ? e.decision.customerId : e.event.customerId;
          return ids.includes(customerId);
        }),
      }),
  };
}

function redisLogTraces(eraser: RedisLogEraser): LogTraces {
  return {
    erase: async (ids, pseudonymOf) => {
      const counts = await eraser.erase(ids, pseudonymOf);
      return counts.deleted + counts.pseudonymised + counts.records;
    },
    export: (ids) => eraser.export(ids),
  };
}

/**
 * This server's spool: a person's lines pseudonymised in place (erasure), or read out (export). An
 * erasure also drops the pushes about the person this server keeps for Redis or finds in the push stream.
 */
function spoolTraces(spool: FeedbackSpool, pushes: RedisPushRelay): LocalTraces {
  return {
    forget: async (ids, pseudonymOf) => {
      await pushes.forget(ids);
      return spool.rewrite((line) => pseudonymiseSpoolLine(line, pseudonymOf));
    },
    spoolLines: (ids) =>
      spool.lines((line) => {
        if (!mentions([line], ids)) return false;
        const customerId = customerOfSpoolLine(line);
        return customerId !== null && ids.includes(customerId);
      }),
  };
}

/** A scrape must not wait long for the stream lag; it reads NaN rather. */
const STREAM_LAG_TIMEOUT_MS = 250;

/** The in-process consumers of the feedback log (none when `offerloop worker` processes do it). */
async function startConsumers(
  redis: RedisConnection,
  keys: RedisKeys,
  history: ContactHistoryStore,
  loop: CustomerLoop,
  feedback: FeedbackConfig & { readonly shards: number },
  log: Logger,
): Promise<RedisFeedbackConsumer[]> {
  const consumers: RedisFeedbackConsumer[] = [];
  for (let i = 0; i < feedback.consumers; i++) {
    consumers.push(
      await RedisFeedbackConsumer.start(redis, keys, history, log, {
        shards: feedback.shards,
        name: `${hostname()}-${process.pid}-${i}`,
        retentionMs: feedback.retentionMs,
        loop,
      }),
    );
  }
  return consumers;
}

async function initialProfiles(
  data: Config['data'],
  rules: RulesetHolder,
  log: Logger,
): Promise<readonly CustomerProfile[]> {
  if (data.profilesFile !== null) {
    const result = await readProfilesFile(data.profilesFile);
    if (result.badCount > 0) {
      log.warn(
        { file: data.profilesFile, bad: result.badCount, first: result.bad.slice(0, 5) },
        'skipped bad profile lines',
      );
    }
    log.info({ file: data.profilesFile, customers: result.profiles.length }, 'profiles loaded');
    return result.profiles;
  }
  // The demo population has affinities for the products the rules in force actually offer.
  const products = [...new Set(rules.current.offers.map((o) => o.productId))].sort();
  const profiles: CustomerProfile[] = [];
  for (const record of generatePopulation(data.demoCustomers, products, {
    seed: data.demoSeed,
    affinities: 20,
    // So that the tour can start a call by the caller's number (docs/channels.md).
    phones: true,
  })) {
    profiles.push(profileFromRecord(record));
  }
  log.info({ customers: profiles.length, products: products.length }, 'demo population generated');
  return profiles;
}
