import { Counter, Gauge, Registry } from 'prom-client';
import type { Channel } from '../domain/channel.js';
import { FEEDBACK_STATUSES, type FeedbackStatus, type FeedbackVerdict } from '../feedback/feedback-event.js';
import type { FeedbackLogHealth } from '../feedback/log/feedback-log.js';
import type { StreamLag } from '../feedback/log/feedback-stream-lag.js';
import type { DecisionResult } from '../service/decision-service.js';
import { EVENT_STATUSES, type EventReceipt, type EventStatus } from '../service/trigger-service.js';
import type { WebhookStats } from '../service/webhook-dispatcher.js';
import type { RedisCallObserver, RedisFailure } from '../store/redis/redis-connection.js';
import { CachedReading } from './cached-reading.js';
import {
  CounterFamily,
  type CounterSeries,
  HistogramFamily,
  type HistogramSeries,
} from './metric-families.js';
import { processMetrics } from './process-metrics.js';

/** Request latencies are milliseconds; a second is already an outage. */
export const HTTP_BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];
/** A Redis call on a LAN takes ~0.1-0.5 ms; the request-path deadline defaults to 100 ms. */
export const REDIS_BUCKETS = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1];
/** Stream lag is read from Redis at most this often, however often Prometheus scrapes. */
export const STREAM_LAG_MAX_AGE_MS = 5_000;

/** The label of requests that matched no route (their URL is never a label value). */
export const UNMATCHED_ROUTE = 'unmatched';

export type RedisConnectionName = 'main' | 'feedback';

/** What the memory tier in front of Redis reports (TieredProfileStore.stats()). */
export interface ProfileCacheStats {
  readonly entries: number;
  readonly bytes: number;
  readonly hits: number;
  readonly misses: number;
}

export interface OverloadMetricsSource {
  /** Requests refused so far. */
  readonly shed: number;
  readonly overloaded: boolean;
  /** Connections dropped so far by the connection limit. */
  readonly connectionsDropped: number;
}

export interface LearningMetricsSource {
  /** Refreshes of the learned model that failed, since start. */
  readonly failures: number;
  /** Seconds since the model in force was built; null: none built yet. */
  readonly modelAgeSeconds: number | null;
}

/**
 * Every metric one server exposes on `/metrics` (docs/metrics.md), in a registry of its own (tests
 * build many servers in one process). Request-path metrics are series resolved once and cached, so
 * an observation is a map lookup and a few additions; everything that already has a counter
 * somewhere (the memory tier, the spool, WebSocket sessions, learning) is read at scrape time.
 */
export class Metrics {
  readonly registry = new Registry();
  private readonly httpDuration: HistogramFamily<'method' | 'route' | 'status_code'>;
  /** route → method → status code → series: three map lookups per request, no strings built. */
  private readonly httpSeries = new Map<string, Map<string, Map<number, HistogramSeries>>>();
  private readonly decisionsTotal: CounterFamily<'channel'>;
  private readonly decisionsByChannel = new Map<Channel, CounterSeries>();
  private readonly explored: CounterSeries;
  private readonly offersShown: CounterFamily<'campaign'>;
  private readonly shownByCampaign = new Map<string, CounterSeries>();
  private readonly offersHeldOut: CounterFamily<'campaign'>;
  private readonly heldOutByCampaign = new Map<string, CounterSeries>();
  private readonly feedbackByStatus: ReadonlyMap<FeedbackStatus, CounterSeries>;
  private readonly eventsByStatus: ReadonlyMap<EventStatus, CounterSeries>;
  private readonly redisDuration: HistogramFamily<'connection'>;
  private readonly redisErrors: CounterFamily<'connection' | 'kind'>;

  constructor() {
    for (const metric of processMetrics()) this.registry.registerMetric(metric);
    this.httpDuration = new HistogramFamily({
      name: 'offerloop_http_request_duration_seconds',
      help: 'HTTP requests by method, route pattern and status code: time from arrival to response sent.',
      labelNames: ['method', 'route', 'status_code'],
      buckets: HTTP_BUCKETS,
    }).registerIn(this.registry);
    this.decisionsTotal = new CounterFamily({
      name: 'offerloop_decisions_total',
      help: 'Decisions made, by channel (REST, banners, calls and WebSocket alike).',
      labelNames: ['channel'],
    }).registerIn(this.registry);
    this.explored = new CounterFamily({
      name: 'offerloop_decisions_explored_total',
      help: 'Decisions that explored (one slot shows a uniformly drawn candidate).',
      labelNames: [],
    })
      .registerIn(this.registry)
      .series();
    this.offersShown = new CounterFamily({
      name: 'offerloop_offers_shown_total',
      help: 'Offers in decision responses, by campaign.',
      labelNames: ['campaign'],
    }).registerIn(this.registry);
    this.offersHeldOut = new CounterFamily({
      name: 'offerloop_offers_held_out_total',
      help: 'Offers withheld because the customer is in the campaign control group, by campaign.',
      labelNames: ['campaign'],
    }).registerIn(this.registry);
    const feedback = new CounterFamily({
      name: 'offerloop_feedback_events_total',
      help: 'Feedback events received, by verdict (accepted, queued in the spool, duplicate, or why rejected).',
      labelNames: ['status'],
    }).registerIn(this.registry);
    this.feedbackByStatus = new Map(FEEDBACK_STATUSES.map((s) => [s, feedback.series(s)]));
    const events = new CounterFamily({
      name: 'offerloop_trigger_events_total',
      help: 'Real-time events (POST /v1/events, WebSocket), by what became of them.',
      labelNames: ['status'],
    }).registerIn(this.registry);
    this.eventsByStatus = new Map(EVENT_STATUSES.map((s) => [s, events.series(s)]));
    this.redisDuration = new HistogramFamily({
      name: 'offerloop_redis_command_duration_seconds',
      help: 'Redis calls by connection (main: request path; feedback: feedback log, consumers, reports).',
      labelNames: ['connection'],
      buckets: REDIS_BUCKETS,
    }).registerIn(this.registry);
    this.redisErrors = new CounterFamily({
      name: 'offerloop_redis_errors_total',
      help: 'Redis calls that failed: timeout (past the deadline), unavailable (known down or connection lost), reply (an error reply).',
      labelNames: ['connection', 'kind'],
    }).registerIn(this.registry);
  }

  /** The exposition, in the registry's content type. */
  async scrape(): Promise<{ contentType: string; body: string }> {
    return { contentType: this.registry.contentType, body: await this.registry.metrics() };
  }

  /** Called once a response is sent; `startedAt` is performance.now() at arrival. */
  httpResponse(method: string, route: string | undefined, statusCode: number, startedAt: number): void {
    const seconds = (performance.now() - startedAt) / 1000;
    const pattern = route ?? UNMATCHED_ROUTE;
    let byMethod = this.httpSeries.get(pattern);
    if (byMethod === undefined) {
      byMethod = new Map();
      this.httpSeries.set(pattern, byMethod);
    }
    let byStatus = byMethod.get(method);
    if (byStatus === undefined) {
      byStatus = new Map();
      byMethod.set(method, byStatus);
    }
    let series = byStatus.get(statusCode);
    if (series === undefined) {
      series = this.httpDuration.series(method, pattern, String(statusCode));
      byStatus.set(statusCode, series);
    }
    series.observe(seconds);
  }

  /** DecisionService's observer: one decision made (whatever asked for it). */
  readonly decisions = {
    decided: (d: DecisionResult): void => {
      let channel = this.decisionsByChannel.get(d.channel);
      if (channel === undefined) {
        channel = this.decisionsTotal.series(d.channel);
        this.decisionsByChannel.set(d.channel, channel);
      }
      channel.inc();
      const engine = d.engine;
      if (engine.explored) this.explored.inc();
      for (const chosen of engine.offers) {
        campaignSeries(this.shownByCampaign, this.offersShown, chosen.offer.campaign.id).inc();
      }
      for (const held of engine.heldOut) {
        campaignSeries(this.heldOutByCampaign, this.offersHeldOut, held.offer.campaign.id).inc();
      }
    },
  };

  /** FeedbackService's observer: the verdicts of one batch (REST, WebSocket and banner beacons). */
  readonly feedback = {
    judged: (verdicts: readonly FeedbackVerdict[]): void => {
      for (const v of verdicts) this.feedbackByStatus.get(v.status)?.inc();
    },
  };

  /** TriggerService's observer: what became of one event. */
  readonly triggers = (receipt: EventReceipt): void => {
    this.eventsByStatus.get(receipt.status)?.inc();
  };

  /** The webhook dispatcher's counts since start. */
  watchWebhooks(stats: () => WebhookStats): void {
    this.counter(
      'offerloop_webhooks_delivered_total',
      'Webhook deliveries a receiver took (2xx).',
      () => stats().delivered,
    );
    this.counter(
      'offerloop_webhook_attempts_failed_total',
      'Webhook tries that failed (an error status, a timeout, unreachable); each is retried or dead-lettered.',
      () => stats().failedAttempts,
    );
    this.counter(
      'offerloop_webhooks_dead_lettered_total',
      'Webhook deliveries that failed every try, kept in the dead-letter list.',
      () => stats().deadLettered,
    );
  }

  /** The observer of one Redis connection's calls. */
  redisCalls(connection: RedisConnectionName): RedisCallObserver {
    const duration = this.redisDuration.series(connection);
    const errors: Record<RedisFailure, CounterSeries> = {
      timeout: this.redisErrors.series(connection, 'timeout'),
      unavailable: this.redisErrors.series(connection, 'unavailable'),
      reply: this.redisErrors.series(connection, 'reply'),
    };
    return {
      settled(startedAt, failure) {
        duration.observe((performance.now() - startedAt) / 1000);
        if (failure !== null) errors[failure].inc();
      },
      refused() {
        errors.unavailable.inc();
      },
    };
  }

  /** The memory tier's counters (Redis mode), read at scrape time. */
  watchProfileCache(stats: () => ProfileCacheStats): void {
    this.gauge('offerloop_profile_cache_entries', 'Profiles in the memory tier.', () => stats().entries);
    this.gauge(
      'offerloop_profile_cache_bytes',
      'Estimated size of the profiles in the memory tier.',
      () => stats().bytes,
    );
    this.counter(
      'offerloop_profile_cache_hits_total',
      'Profile reads answered by the memory tier.',
      () => stats().hits,
    );
    this.counter(
      'offerloop_profile_cache_misses_total',
      'Profile reads that went to Redis.',
      () => stats().misses,
    );
  }

  /** The feedback log's state: spool size, decisions lost, mode. */
  watchFeedbackLog(health: () => FeedbackLogHealth): void {
    this.gauge(
      'offerloop_feedback_spool_bytes',
      'Bytes of feedback waiting in the local spool for Redis.',
      () => health().spool.bytes,
    );
    this.gauge(
      'offerloop_feedback_spool_segments',
      'Closed spool segments waiting to be replayed.',
      () => health().spool.segments,
    );
    this.counter(
      'offerloop_feedback_decisions_lost_total',
      'Decisions that could be written neither to Redis nor to the spool.',
      () => health().decisionsLost,
    );
    const modes: readonly FeedbackLogHealth['mode'][] = ['embedded', 'direct', 'spooling', 'draining'];
    new Gauge({
      name: 'offerloop_feedback_log_mode',
      help: 'The feedback log mode: 1 for the mode it is in (direct, spooling, draining, embedded), 0 for the others.',
      labelNames: ['mode'],
      registers: [this.registry],
      collect() {
        const mode = health().mode;
        for (const m of modes) this.set({ mode: m }, m === mode ? 1 : 0);
      },
    });
  }

  /** Consumer-group lag of the feedback streams (Redis mode), read at most every few seconds. */
  watchStreamLag(read: () => Promise<StreamLag>): void {
    const reading = new CachedReading(read, STREAM_LAG_MAX_AGE_MS);
    new Gauge({
      name: 'offerloop_feedback_stream_lag',
      help: 'Feedback log entries not yet delivered to the consumers (all shards; NaN: unknown or Redis unreachable).',
      registers: [this.registry],
      async collect() {
        this.set((await reading.get())?.lag ?? Number.NaN);
      },
    });
    new Gauge({
      name: 'offerloop_feedback_stream_pending',
      help: 'Feedback log entries delivered to a consumer and not yet acknowledged (all shards).',
      registers: [this.registry],
      async collect() {
        this.set((await reading.get())?.pending ?? Number.NaN);
      },
    });
  }

  watchWebSockets(sessions: () => number): void {
    this.gauge('offerloop_websocket_sessions', 'Open WebSocket sessions.', sessions);
  }

  /** Load shedding (src/http/overload.ts) and the connection limit. */
  watchOverload(status: () => OverloadMetricsSource): void {
    this.counter(
      'offerloop_http_requests_shed_total',
      'Requests and WebSocket upgrades answered 503 by load shedding (not in the request histogram).',
      () => status().shed,
    );
    this.gauge('offerloop_overloaded', '1 while the server sheds load, else 0.', () =>
      status().overloaded ? 1 : 0,
    );
    this.counter(
      'offerloop_http_connections_dropped_total',
      'Connections closed at once because OFFERLOOP_MAX_CONNECTIONS were open.',
      () => status().connectionsDropped,
    );
  }

  watchLearning(status: () => LearningMetricsSource): void {
    this.counter(
      'offerloop_learning_refresh_failures_total',
      'Refreshes of the learned model that failed.',
      () => status().failures,
    );
    this.gauge(
      'offerloop_learning_model_age_seconds',
      'Seconds since the learned model in force was built (NaN: none yet).',
      () => status().modelAgeSeconds ?? Number.NaN,
    );
  }

  private gauge(name: string, help: string, read: () => number): void {
    new Gauge({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.set(read());
      },
    });
  }

  /** A counter kept elsewhere (a monotonic count since start), copied at scrape time. */
  private counter(name: string, help: string, read: () => number): void {
    new Counter({
      name,
      help,
      registers: [this.registry],
      collect() {
        this.reset();
        this.inc(read());
      },
    });
  }
}

function campaignSeries(
  cache: Map<string, CounterSeries>,
  family: CounterFamily<'campaign'>,
  campaign: string,
): CounterSeries {
  let series = cache.get(campaign);
  if (series === undefined) {
    series = family.series(campaign);
    cache.set(campaign, series);
  }
  return series;
}
