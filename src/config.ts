import { availableParallelism } from 'node:os';
import path from 'node:path';
import { ConfigError } from './errors.js';

/**
 * `banner` is the scope of a public key that websites embed: banners and their beacons, nothing else.
 * `metrics` is Prometheus' key: `GET /metrics` only. `privacy` is the privacy officer's: everything
 * held about one person (`GET /v1/customers/:id/export`), which no other system needs.
 */
export const SCOPES = ['decide', 'feedback', 'report', 'admin', 'banner', 'metrics', 'privacy'] as const;
export type Scope = (typeof SCOPES)[number];

export interface ApiKeyConfig {
  readonly key: string;
  readonly name: string;
  readonly scopes: ReadonlySet<Scope>;
  /** Browser origins (`scheme://host[:port]`) allowed to use this key, besides Offerloop's own. */
  readonly origins: ReadonlySet<string>;
  /** Requests (and WebSocket messages) per second for the key, all clients together. */
  readonly rate: number;
  /** Banner keys: requests per second per client IP (the key is public, so anyone may hold it). */
  readonly ipRate: number;
}

export type LogLevel = 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';

/** The whole configuration: one typed, frozen object, read from the environment once at start. */
export interface Config {
  readonly http: {
    readonly host: string;
    readonly port: number;
    /** Largest accepted request body, in bytes. */
    readonly bodyLimit: number;
    /** Serve /docs without a key. Default: only in the embedded demo (no keys configured). */
    readonly publicDocs: boolean;
    /** Fastify's trustProxy: hops (or true) whose X-Forwarded-For names the client IP for rate limits. */
    readonly trustProxy: boolean | number;
    /** Open connections per worker process (HTTP and WebSocket); more are closed at once. 0: no limit. */
    readonly maxConnections: number;
    /** A client must have sent a whole request (headers and body) within this long. */
    readonly requestTimeoutMs: number;
    /** An idle keep-alive connection is closed after this long; keep it above a load balancer's idle timeout. */
    readonly keepAliveTimeoutMs: number;
    /** An overload starts when the event loop stays later than this for 250 ms (load shedding). 0: never. */
    readonly maxEventLoopDelayMs: number;
  };
  /** Worker processes sharing the port (node:cluster); 1: no cluster, the server runs in this process. */
  readonly workers: {
    readonly count: number;
    /** Why this many: set by OFFERLOOP_WORKERS, the cores, or one because the store is embedded. */
    readonly source: 'env' | 'cores' | 'embedded';
  };
  /** Null: the embedded store. Otherwise one Redis (`url`) or a Redis Cluster (`clusterNodes`). */
  readonly redis: RedisConfig | null;
  /** The memory tier in front of Redis. */
  readonly cache: {
    /** Budget of the profile cache in bytes (estimated from the encoded size). */
    readonly maxBytes: number;
    /** Budget of the contact histories last seen, which decisions start from (estimated). */
    readonly historyMaxBytes: number;
  };
  readonly auth: {
    readonly keys: readonly ApiKeyConfig[];
    /** True when no keys were configured and the demo key (all scopes) is in force. */
    readonly demoKey: boolean;
  };
  readonly rules: { readonly dir: string; readonly watch: boolean };
  readonly data: {
    /** NDJSON profiles to load into the embedded store; null: generate a demo population. */
    readonly profilesFile: string | null;
    /** The demo: a generated population on the embedded store (no profiles file, no Redis). */
    readonly demo: boolean;
    readonly demoCustomers: number;
    readonly demoSeed: number;
    /**
     * The history a generated population starts with (src/demo/): days of decisions, reactions and
     * purchases played through the services before the server is ready, and how many decisions.
     * 0 days: none. Ignored with a profiles file or Redis.
     */
    readonly demoHistory: { readonly days: number; readonly decisions: number };
  };
  readonly decisions: {
    readonly defaultLimit: number;
    readonly maxLimit: number;
    /** A decision not taken within this long is answered with the anonymous fallback, marked degraded. */
    readonly timeoutMs: number;
  };
  readonly feedback: FeedbackConfig;
  readonly erasure: ErasureConfig;
  readonly learning: LearningConfig;
  readonly ws: WsConfig;
  readonly triggers: TriggersConfig;
  readonly log: { readonly level: LogLevel };
}

/** Real-time triggers and their webhooks (docs/channels.md). */
export interface TriggersConfig {
  /** An event id triggers at most once within this long. */
  readonly eventIdTtlMs: number;
  /** Webhooks that triggers may name (`webhook:<name>`): OFFERLOOP_WEBHOOKS, secrets from the environment. */
  readonly webhooks: readonly WebhookTarget[];
  /** A delivery is tried this many times, then dead-lettered. */
  readonly webhookMaxAttempts: number;
  /** The first retry waits about this long, each next one twice as long (with jitter), up to webhookRetryMaxMs. */
  readonly webhookRetryBaseMs: number;
  readonly webhookRetryMaxMs: number;
  /** A receiver must answer within this long. */
  readonly webhookTimeoutMs: number;
  /** How often a server looks for deliveries due (others' and retries). */
  readonly webhookPollMs: number;
}

export interface WebhookTarget {
  readonly name: string;
  readonly url: string;
  /** The HMAC-SHA256 key of the signature header; OFFERLOOP_WEBHOOK_SECRET_<NAME>. */
  readonly secret: string;
}

/** Learned propensities and exploration (docs/learning.md). */
export interface LearningConfig {
  /** False: propensities stay the precomputed affinities. */
  readonly enabled: boolean;
  /** How often each server reads the feedback counters into its learned model. */
  readonly refreshMs: number;
  /** How many UTC days of counters the model learns from; older behaviour is forgotten. */
  readonly days: number;
  /** How many impressions the analysts' affinities are worth against observed responses. */
  readonly priorStrength: number;
  /** Impressions an offer × channel × segment cell needs for an estimate of its own. */
  readonly minSegmentImpressions: number;
  /** ε: the share of decisions that explore (one slot shows a uniformly drawn candidate). */
  readonly exploration: number;
}

export interface RedisConfig {
  /** `redis://…` of a single node, or null for a cluster. */
  readonly url: string | null;
  /** `redis://host:port` of some cluster nodes (the rest are discovered), or empty for a single node. */
  readonly clusterNodes: readonly string[];
  /** Prepended to every key and channel, so several deployments can share one Redis. */
  readonly prefix: string;
  /** Deadline of one Redis call on the request path; past it the request is answered degraded. */
  readonly timeoutMs: number;
}

/** The feedback log: decisions and reactions, and the consumers that turn them into aggregates. */
export interface FeedbackConfig {
  /**
   * Streams the log is split over (each with its own hash tag); null: as the log records it, or for
   * a new log 16 on a cluster, 1 on one Redis (feedback-shards.ts). Change only with an empty log.
   */
  readonly shards: number | null;
  /** Where events go while Redis is unreachable; one directory per server (several may share it). */
  readonly spoolDir: string;
  /** Reactions (impression, click, accept, reject, dismiss) count within this long after the decision. */
  readonly reactionWindowMs: number;
  /** Conversions count within this long after the decision; decision records live this long. */
  readonly conversionWindowMs: number;
  /** Log entries are kept this long for export (never trimmed before every consumer processed them). */
  readonly retentionMs: number;
  /** Consumers run inside the server; 0: run `offerloop worker` processes instead. */
  readonly consumers: number;
  /** Most events in one POST /v1/feedback. */
  readonly maxBatch: number;
}

/** Erasure of a customer (GDPR Art. 17) and its tombstones: docs/decisions/0009-erasure.md. */
export interface ErasureConfig {
  /**
   * The secret that keys tombstones and pseudonyms (HMAC), the same on every server and for
   * `offerloop load`. Null: a random one kept in Redis (weaker), or per process for the embedded store.
   */
  readonly pepper: string | null;
  /** How long an erased id is kept from coming back through a bulk load. */
  readonly tombstoneRetentionMs: number;
  /** The second sweep of an erasure runs this long after the first (writes in flight land meanwhile). */
  readonly settleMs: number;
  /** The embedded store's tombstones, kept across restarts in this file; null: in memory only. */
  readonly tombstonesFile: string | null;
}

/** The WebSocket gateway's limits. */
export interface WsConfig {
  /** Largest message a client may send, in bytes. */
  readonly maxMessageBytes: number;
  /** Bytes a socket may have waiting to be sent; a client that lets more pile up is terminated. */
  readonly sendBufferBytes: number;
  /** Ping interval; a client that did not answer the previous ping is terminated. */
  readonly heartbeatMs: number;
  /** Topics (agents, customers) one session may subscribe to. */
  readonly maxSubscriptions: number;
  /** Open sessions per API key in one worker process; more are refused (429) at the upgrade. */
  readonly maxSessionsPerKey: number;
}

const HOUR_MS = 3_600_000;
export const MAX_FEEDBACK_SHARDS = 1024;

export const DEMO_API_KEY = 'demo';
/** Four weeks: inside the reports' default 30 days and the learning window. */
export const DEMO_HISTORY_DAYS = 28;

type Env = Readonly<Record<string, string | undefined>>;

/** Builds the config from environment variables; throws ConfigError listing every problem. */
export function loadConfig(env: Env = process.env, cwd = process.cwd()): Config {
  const problems: string[] = [];
  const int = (name: string, fallback: number, min: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min || n > max) {
      problems.push(`${name} must be an integer from ${min} to ${max}, got '${raw}'`);
      return fallback;
    }
    return n;
  };
  const fraction = (name: string, fallback: number, max: number): number => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    const x = Number(raw);
    if (!Number.isFinite(x) || x < 0 || x > max) {
      problems.push(`${name} must be a number from 0 to ${max}, got '${raw}'`);
      return fallback;
    }
    return x;
  };
  const bool = (name: string, fallback: boolean): boolean => {
    const raw = env[name];
    if (raw === undefined || raw === '') return fallback;
    if (raw === 'true' || raw === '1') return true;
    if (raw === 'false' || raw === '0') return false;
    problems.push(`${name} must be true or false, got '${raw}'`);
    return fallback;
  };
  const str = (name: string): string | null => {
    const raw = env[name]?.trim();
    return raw ? raw : null;
  };

  const level = (str('OFFERLOOP_LOG_LEVEL') ?? 'info') as LogLevel;
  if (!['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'].includes(level)) {
    problems.push(`OFFERLOOP_LOG_LEVEL must be one of fatal, error, warn, info, debug, trace, silent`);
  }

  const redis = parseRedis(env, str, int, problems);
  const limits = {
    // Per key and per server: a guard against a runaway client, above what one server decides
    // (~25-30k/s on two cores), so that a backend's single key is never throttled by default.
    rate: int('OFFERLOOP_RATE_LIMIT', 100_000, 1, 10_000_000),
    ipRate: int('OFFERLOOP_IP_RATE_LIMIT', 20, 1, 1_000_000),
  };
  const keys = parseApiKeys(str('OFFERLOOP_API_KEYS'), limits, problems);
  const demoKey = keys.length === 0 && redis === null;
  if (keys.length === 0 && redis !== null) {
    problems.push(
      'OFFERLOOP_API_KEYS is required with Redis (e.g. OFFERLOOP_API_KEYS=agent-key=decide+feedback,ops-key=admin+report); the demo key is only for the embedded store',
    );
  }

  const profilesFile = str('OFFERLOOP_PROFILES');
  const config: Config = {
    http: {
      host: str('HOST') ?? '127.0.0.1',
      port: int('PORT', 8080, 0, 65535),
      bodyLimit: int('OFFERLOOP_BODY_LIMIT', 64 * 1024, 1024, 16 * 1024 * 1024),
      publicDocs: bool('OFFERLOOP_PUBLIC_DOCS', demoKey),
      trustProxy: parseTrustProxy(str('OFFERLOOP_TRUST_PROXY'), problems),
      maxConnections: int('OFFERLOOP_MAX_CONNECTIONS', 16_384, 0, 10_000_000),
      requestTimeoutMs: int('OFFERLOOP_REQUEST_TIMEOUT_MS', 10_000, 100, 3_600_000),
      keepAliveTimeoutMs: int('OFFERLOOP_KEEP_ALIVE_TIMEOUT_MS', 72_000, 100, 3_600_000),
      maxEventLoopDelayMs: int('OFFERLOOP_MAX_EVENT_LOOP_DELAY_MS', 50, 0, 60_000),
    },
    workers: parseWorkers(int, env, redis === null),
    redis,
    cache: {
      maxBytes: int('OFFERLOOP_CACHE_MB', 256, 1, 1024 * 1024) * 1024 * 1024,
      historyMaxBytes: int('OFFERLOOP_HISTORY_CACHE_MB', 64, 1, 1024 * 1024) * 1024 * 1024,
    },
    auth: {
      keys: demoKey
        ? [
            {
              key: DEMO_API_KEY,
              name: 'demo',
              scopes: new Set(SCOPES),
              origins: new Set<string>(),
              ...limits,
            },
          ]
        : keys,
      demoKey,
    },
    rules: {
      dir: path.resolve(cwd, str('OFFERLOOP_RULES') ?? 'rules'),
      watch: bool('OFFERLOOP_WATCH_RULES', true),
    },
    data: {
      profilesFile: profilesFile ? path.resolve(cwd, profilesFile) : null,
      demo: !profilesFile && redis === null,
      demoCustomers: int('OFFERLOOP_DEMO_CUSTOMERS', 100_000, 0, 10_000_000),
      demoSeed: int('OFFERLOOP_DEMO_SEED', 42, 0, 2 ** 31 - 1),
      // On by default only for the demo itself (the demo key): a server with keys of its own starts clean.
      demoHistory: {
        days: int('OFFERLOOP_DEMO_HISTORY_DAYS', demoKey && !profilesFile ? DEMO_HISTORY_DAYS : 0, 0, 60),
        decisions: int('OFFERLOOP_DEMO_HISTORY_DECISIONS', 15_000, 0, 1_000_000),
      },
    },
    decisions: {
      defaultLimit: int('OFFERLOOP_DEFAULT_LIMIT', 3, 1, 20),
      maxLimit: 20,
      timeoutMs: int('OFFERLOOP_DECISION_TIMEOUT_MS', 250, 1, 60_000),
    },
    feedback: {
      shards: env.FEEDBACK_SHARDS ? int('FEEDBACK_SHARDS', 1, 1, MAX_FEEDBACK_SHARDS) : null,
      spoolDir: path.resolve(cwd, str('FEEDBACK_SPOOL_DIR') ?? '.offerloop/spool'),
      reactionWindowMs: int('FEEDBACK_REACTION_WINDOW_HOURS', 24, 1, 24 * 366) * HOUR_MS,
      conversionWindowMs: int('FEEDBACK_CONVERSION_WINDOW_HOURS', 7 * 24, 1, 24 * 366) * HOUR_MS,
      retentionMs: int('FEEDBACK_RETENTION_HOURS', 7 * 24, 1, 24 * 3660) * HOUR_MS,
      consumers: int('FEEDBACK_CONSUMERS', 1, 0, 64),
      maxBatch: 1000,
    },
    erasure: {
      pepper: str('OFFERLOOP_ERASURE_PEPPER'),
      tombstoneRetentionMs: int('OFFERLOOP_TOMBSTONE_RETENTION_DAYS', 3 * 365, 1, 100 * 366) * 24 * HOUR_MS,
      settleMs: int('OFFERLOOP_ERASURE_SETTLE_MS', 2000, 0, 60_000),
      tombstonesFile: str('OFFERLOOP_TOMBSTONES_FILE')
        ? path.resolve(cwd, str('OFFERLOOP_TOMBSTONES_FILE')!)
        : null,
    },
    learning: {
      enabled: bool('OFFERLOOP_LEARNING', true),
      refreshMs: int('OFFERLOOP_LEARNING_REFRESH_SECONDS', 30, 1, 86_400) * 1000,
      days: int('OFFERLOOP_LEARNING_DAYS', 30, 1, 400),
      priorStrength: int('OFFERLOOP_PRIOR_STRENGTH', 50, 1, 1_000_000),
      minSegmentImpressions: int('OFFERLOOP_MIN_SEGMENT_IMPRESSIONS', 500, 1, 1_000_000_000),
      exploration: fraction('OFFERLOOP_EXPLORATION', 0, 0.5),
    },
    ws: {
      maxMessageBytes: int('OFFERLOOP_WS_MAX_MESSAGE_BYTES', 16 * 1024, 256, 1024 * 1024),
      sendBufferBytes: int('OFFERLOOP_WS_SEND_BUFFER_BYTES', 1024 * 1024, 16 * 1024, 64 * 1024 * 1024),
      heartbeatMs: int('OFFERLOOP_WS_HEARTBEAT_MS', 30_000, 100, 3_600_000),
      maxSubscriptions: 32,
      maxSessionsPerKey: int('OFFERLOOP_WS_MAX_SESSIONS_PER_KEY', 10_000, 1, 10_000_000),
    },
    triggers: {
      eventIdTtlMs: int('OFFERLOOP_EVENT_ID_TTL_HOURS', 24, 1, 24 * 366) * HOUR_MS,
      webhooks: parseWebhooks(str('OFFERLOOP_WEBHOOKS'), env, problems),
      webhookMaxAttempts: int('OFFERLOOP_WEBHOOK_MAX_ATTEMPTS', 8, 1, 100),
      webhookRetryBaseMs: int('OFFERLOOP_WEBHOOK_RETRY_BASE_MS', 1000, 1, 3_600_000),
      webhookRetryMaxMs: int('OFFERLOOP_WEBHOOK_RETRY_MAX_MS', 15 * 60_000, 1, 24 * HOUR_MS),
      webhookTimeoutMs: int('OFFERLOOP_WEBHOOK_TIMEOUT_MS', 5000, 10, 120_000),
      webhookPollMs: int('OFFERLOOP_WEBHOOK_POLL_MS', 500, 5, 60_000),
    },
    log: { level },
  };
  if (config.feedback.conversionWindowMs < config.feedback.reactionWindowMs) {
    problems.push('FEEDBACK_CONVERSION_WINDOW_HOURS must be at least FEEDBACK_REACTION_WINDOW_HOURS');
  }
  const { pepper, tombstonesFile } = config.erasure;
  if (pepper !== null && Buffer.byteLength(pepper) < 16)
    problems.push('OFFERLOOP_ERASURE_PEPPER must be at least 16 bytes (a random secret)');
  if (tombstonesFile !== null && pepper === null)
    problems.push(
      'OFFERLOOP_TOMBSTONES_FILE needs OFFERLOOP_ERASURE_PEPPER: its tombstones must be readable after a restart',
    );
  if (problems.length > 0) throw new ConfigError(problems);
  return deepFreeze(config);
}

/**
 * OFFERLOOP_WEBHOOKS: `name=url` pairs, comma-separated; each name's secret in
 * OFFERLOOP_WEBHOOK_SECRET_<NAME> (upper case, `-` as `_`), at least 16 bytes. Never in rules files.
 */
function parseWebhooks(raw: string | null, env: Env, problems: string[]): WebhookTarget[] {
  if (raw === null) return [];
  const targets: WebhookTarget[] = [];
  for (const entry of raw.split(',')) {
    const at = entry.indexOf('=');
    const name = entry.slice(0, at).trim();
    const url = entry.slice(at + 1).trim();
    if (at < 0 || !/^[a-z0-9][a-z0-9_-]{0,63}$/.test(name)) {
      problems.push(`OFFERLOOP_WEBHOOKS: '${entry}' must be name=url, the name in a-z 0-9 _ -`);
      continue;
    }
    if (!/^https?:\/\/[^\s]+$/.test(url)) {
      problems.push(`OFFERLOOP_WEBHOOKS: the URL of '${name}' must be http(s)://…, got '${url}'`);
      continue;
    }
    const secretName = `OFFERLOOP_WEBHOOK_SECRET_${name.toUpperCase().replaceAll('-', '_')}`;
    const secret = env[secretName]?.trim() ?? '';
    if (Buffer.byteLength(secret) < 16) {
      problems.push(`${secretName} must be set, at least 16 bytes: the webhook '${name}' is signed with it`);
      continue;
    }
    if (targets.some((t) => t.name === name)) problems.push(`OFFERLOOP_WEBHOOKS names '${name}' twice`);
    else targets.push({ name, url, secret });
  }
  return targets;
}

/** REDIS_URL (one node) or REDIS_CLUSTER_NODES (comma-separated), never both; null when neither. */
function parseRedis(
  env: Env,
  str: (name: string) => string | null,
  int: (name: string, fallback: number, min: number, max: number) => number,
  problems: string[],
): RedisConfig | null {
  const url = str('REDIS_URL');
  const nodes = (str('REDIS_CLUSTER_NODES') ?? '')
    .split(',')
    .map((n) => n.trim())
    .filter((n) => n !== '');
  for (const [name, value] of [
    ['REDIS_URL', url] as const,
    ...nodes.map((n) => ['REDIS_CLUSTER_NODES', n] as const),
  ]) {
    if (value !== null && !/^rediss?:\/\/[^/\s]+/.test(value)) {
      problems.push(`${name} must be a redis:// or rediss:// URL, got '${value}'`);
    }
  }
  if (url !== null && nodes.length > 0) problems.push('set REDIS_URL or REDIS_CLUSTER_NODES, not both');
  const prefix = str('REDIS_PREFIX') ?? 'offerloop';
  // Braces would become a hash tag and put every key of the deployment on one cluster slot.
  if (!/^[A-Za-z0-9_.:-]{1,64}$/.test(prefix)) {
    problems.push(`REDIS_PREFIX must be 1-64 of letters, digits, '_', '.', ':', '-', got '${prefix}'`);
  }
  const timeoutMs = int('REDIS_TIMEOUT_MS', 100, 5, 60_000);
  if (url === null && nodes.length === 0) {
    if (env.REDIS_PREFIX !== undefined)
      problems.push('REDIS_PREFIX is set, but neither REDIS_URL nor REDIS_CLUSTER_NODES');
    return null;
  }
  return { url, clusterNodes: nodes, prefix, timeoutMs };
}

/**
 * OFFERLOOP_WORKERS, or one per core. The embedded store lives in each process, so there workers
 * would each hold a population and a feedback log of their own: one, unless set explicitly.
 */
function parseWorkers(
  int: (name: string, fallback: number, min: number, max: number) => number,
  env: Env,
  embedded: boolean,
): Config['workers'] {
  if (env.OFFERLOOP_WORKERS !== undefined && env.OFFERLOOP_WORKERS.trim() !== '') {
    return { count: int('OFFERLOOP_WORKERS', 1, 1, 256), source: 'env' };
  }
  return embedded ? { count: 1, source: 'embedded' } : { count: availableParallelism(), source: 'cores' };
}

/** `false` (default), `true`, or a number of trusted hops in front of the server. */
function parseTrustProxy(raw: string | null, problems: string[]): boolean | number {
  if (raw === null || raw === 'false' || raw === '0') return false;
  if (raw === 'true') return true;
  const hops = Number(raw);
  if (Number.isInteger(hops) && hops > 0 && hops < 100) return hops;
  problems.push(`OFFERLOOP_TRUST_PROXY must be true, false or a number of hops, got '${raw}'`);
  return false;
}

const ORIGIN = /^https?:\/\/[A-Za-z0-9.-]+(:\d{1,5})?$/;

/**
 * `agent-key=decide+feedback,pk-web=banner;origins=https://a.example|https://b.example;ipRate=20`:
 * a key, `=`, scopes joined by `+`, then options after `;` (see docs/channels.md).
 */
function parseApiKeys(
  raw: string | null,
  limits: { rate: number; ipRate: number },
  problems: string[],
): ApiKeyConfig[] {
  if (!raw) return [];
  const keys: ApiKeyConfig[] = [];
  raw.split(',').forEach((entry, i) => {
    const [head = '', ...options] = entry.trim().split(';');
    const [key, scopeList, ...rest] = head.split('=');
    const position = `OFFERLOOP_API_KEYS entry ${i + 1}`;
    if (!key || !scopeList || rest.length > 0) {
      problems.push(`${position} must look like key=scope+scope[;option=value]`);
      return;
    }
    if (key.length < 4) problems.push(`${position}: a key must have at least 4 characters`);
    const scopes = new Set<Scope>();
    for (const s of scopeList.split('+')) {
      if ((SCOPES as readonly string[]).includes(s)) scopes.add(s as Scope);
      else problems.push(`${position}: unknown scope '${s}' (known: ${SCOPES.join(', ')})`);
    }
    const origins = new Set<string>();
    let { rate, ipRate } = limits;
    for (const option of options) {
      const [name, value = ''] = option.split('=', 2);
      if (name === 'origins') {
        for (const origin of value.split('|')) {
          if (ORIGIN.test(origin)) origins.add(origin.toLowerCase());
          else problems.push(`${position}: '${origin}' is not an origin like https://www.example.com`);
        }
      } else if (name === 'rate' || name === 'ipRate') {
        const n = Number(value);
        if (!Number.isInteger(n) || n < 1) problems.push(`${position}: ${name} must be a positive integer`);
        else if (name === 'rate') rate = n;
        else ipRate = n;
      } else {
        problems.push(`${position}: unknown option '${name}' (known: origins, rate, ipRate)`);
      }
    }
    // Keys are secrets: the name shown in logs is a short prefix, never the key itself.
    keys.push({ key, name: `${key.slice(0, 3)}…`, scopes, origins, rate, ipRate });
  });
  return keys;
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !(value instanceof Set)) {
    for (const v of Object.values(value)) deepFreeze(v);
    Object.freeze(value);
  }
  return value;
}
