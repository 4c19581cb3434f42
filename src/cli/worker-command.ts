import { hostname } from 'node:os';
import pino from 'pino';
import { type Config, loadConfig } from '../config.js';
import { ConfigError, RulesetError } from '../errors.js';
import { feedbackShards } from '../feedback/log/feedback-shards.js';
import { RedisFeedbackConsumer } from '../feedback/log/redis-feedback-consumer.js';
import { RulesetHolder } from '../ruleset/ruleset-holder.js';
import { CustomerLoopService } from '../service/customer-loop-service.js';
import { CONTACT_EVENTS_KEPT, historyRetention } from '../store/contact-history-store.js';
import { ErasureGuardedHistory } from '../store/erasure-guard.js';
import { PopulationSync } from '../store/redis/population-sync.js';
import { RedisConnection } from '../store/redis/redis-connection.js';
import { RedisContactHistoryStore } from '../store/redis/redis-contact-history-store.js';
import { RedisKeys } from '../store/redis/redis-keys.js';
import { RedisLearnedFactsStore } from '../store/redis/redis-learned-facts-store.js';
import { RedisProfileStore } from '../store/redis/redis-profile-store.js';
import { followTombstones } from '../store/redis/redis-tombstones.js';
import { TieredProfileStore } from '../store/tiered-profile-store.js';
import { type CliIo, parseFlags, processIo, UsageError, wantsHelp } from './args.js';

export const WORKER_USAGE = `Usage: offerloop worker

Consumes the feedback log in Redis: counters per offer, channel, segment and day, accepts and
rejects into contact history, outcomes and conversions credited to the customer's decisions and
taught to the profile; dead-letters entries that keep failing; trims the log to its
retention. Run any number of workers (they share the work), and set FEEDBACK_CONSUMERS=0 on the
servers to leave it all to them. Configured by the server's environment variables (REDIS_URL or
REDIS_CLUSTER_NODES, REDIS_PREFIX, OFFERLOOP_API_KEYS, OFFERLOOP_RULES, FEEDBACK_SHARDS,
FEEDBACK_RETENTION_HOURS, OFFERLOOP_LOG_LEVEL). Stops cleanly on SIGTERM or SIGINT.
`;

/** `offerloop worker`; resolves with the exit code once stopped (0 on SIGTERM/SIGINT, 1 failed, 2 usage). */
export async function runWorker(
  argv: readonly string[],
  io: CliIo = processIo,
  env: Readonly<Record<string, string | undefined>> = process.env,
): Promise<number> {
  if (wantsHelp(argv)) {
    io.stdout.write(WORKER_USAGE);
    return 0;
  }
  let config: Config;
  try {
    if (parseFlags(argv, {}).positionals.length > 0) throw new UsageError('takes no arguments');
    config = loadConfig(env);
  } catch (err) {
    if (err instanceof UsageError) {
      io.stderr.write(`offerloop worker: ${err.message}\n\n${WORKER_USAGE}`);
      return 2;
    }
    if (err instanceof ConfigError) {
      io.stderr.write(`offerloop worker: ${err.message}\n`);
      return 2;
    }
    throw err;
  }
  if (config.redis === null) {
    io.stderr.write(
      'offerloop worker: needs Redis, where the feedback log is: set REDIS_URL or REDIS_CLUSTER_NODES\n',
    );
    return 2;
  }

  const log = pino({ level: config.log.level });
  let rules: RulesetHolder | null = null;
  let redis: RedisConnection | null = null;
  let sync: PopulationSync | null = null;
  let tombstones: { close(): void } | null = null;
  try {
    // The ruleset says how long contact histories must live (its longest suppression).
    rules = await RulesetHolder.open(config.rules.dir, log);
    if (config.rules.watch) rules.watch();
    const holder = rules;
    redis = await RedisConnection.open(config.redis, log);
    const keys = new RedisKeys(config.redis.prefix);
    // Entries of erased people (in flight at the erasure, or their pseudonymised copies) write nothing.
    const followed = await followTombstones(redis, keys, config.erasure.pepper, log, Date.now);
    tombstones = followed;
    const { erased } = followed;
    const redisHistory = new RedisContactHistoryStore(redis, keys, {
      maxEvents: CONTACT_EVENTS_KEPT,
      // A consumer only appends reactions, which drop what it saw: it decides nothing from it.
      maxCacheBytes: 1024 * 1024,
      retention: historyRetention(() => holder.current.lookback, config.feedback.conversionWindowMs),
    });
    const history = new ErasureGuardedHistory(redisHistory, erased);
    // Outcomes teach profiles: the worker reads and writes them like a server, with a small memory tier.
    const backing = await RedisProfileStore.open(redis, keys);
    const profiles = new TieredProfileStore(backing, { maxBytes: 8 * 1024 * 1024 });
    sync = await PopulationSync.start(redis, keys, backing, profiles, log, [(id) => redisHistory.forget(id)]);
    const announce = sync;
    const loop = new CustomerLoopService({
      rules: holder,
      history,
      profiles,
      learned: new RedisLearnedFactsStore(redis, keys),
      windows: {
        reactionMs: config.feedback.reactionWindowMs,
        conversionMs: config.feedback.conversionWindowMs,
      },
      clock: Date.now,
      announceProfileChange: (customerId) => announce.customerChanged(customerId),
      erased,
    });
    const name = `${hostname()}-${process.pid}`;
    const shards = await feedbackShards(redis, keys, config.feedback.shards);
    const consumer = await RedisFeedbackConsumer.start(redis, keys, history, log, {
      shards,
      name,
      retentionMs: config.feedback.retentionMs,
      loop,
    });
    log.info({ name, shards }, 'offerloop worker consuming the feedback log');
    const signal = await nextSignal();
    log.info({ signal, ...consumer.stats() }, 'worker shutting down');
    await consumer.close();
    log.info('worker stopped');
    return 0;
  } catch (err) {
    if (err instanceof RulesetError) log.fatal({ problems: err.problems }, err.message);
    else log.fatal({ err }, 'worker failed');
    return 1;
  } finally {
    sync?.close();
    tombstones?.close();
    rules?.close();
    redis?.close();
  }
}

function nextSignal(): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    const on = (signal: NodeJS.Signals) => {
      process.off('SIGTERM', on);
      process.off('SIGINT', on);
      resolve(signal);
    };
    process.on('SIGTERM', on);
    process.on('SIGINT', on);
  });
}
