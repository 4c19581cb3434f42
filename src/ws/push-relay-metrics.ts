import { Counter, Gauge, type Registry } from 'prom-client';
import type { PushRelayStats } from './redis-push-relay.js';

/**
 * The push relay's counts on `/metrics` (docs/metrics.md), read at scrape time like the other
 * counts kept elsewhere (src/metrics/metrics.ts). Only servers on Redis have a relay.
 */
export function watchPushRelay(registry: Registry, stats: () => PushRelayStats): void {
  counter(
    registry,
    'offerloop_push_relayed_total',
    "This server's pushes Redis took for the other servers.",
    () => stats().relayed,
  );
  counter(
    registry,
    'offerloop_push_relay_retries_total',
    'Tries to relay a push that failed (Redis away); the push was kept and tried again.',
    () => stats().failedTries,
  );
  new Counter({
    name: 'offerloop_push_relay_dropped_total',
    help: 'Pushes given up without reaching Redis: older than the bound (expired), or the outbox full (overflow).',
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const s = stats();
      this.reset();
      this.inc({ reason: 'expired' }, s.droppedExpired);
      this.inc({ reason: 'overflow' }, s.droppedOverflow);
    },
  });
  new Gauge({
    name: 'offerloop_push_relay_pending',
    help: 'Pushes of this server waiting for Redis.',
    registers: [registry],
    collect() {
      this.set(stats().pending);
    },
  });
  counter(
    registry,
    'offerloop_push_replayed_total',
    "Other servers' pushes this server missed live and delivered from the push stream.",
    () => stats().replayed,
  );
  new Counter({
    name: 'offerloop_push_received_skipped_total',
    help: "Other servers' pushes not delivered here: already delivered (duplicate), or older than the bound (expired).",
    labelNames: ['reason'],
    registers: [registry],
    collect() {
      const s = stats();
      this.reset();
      this.inc({ reason: 'duplicate' }, s.skippedDuplicate);
      this.inc({ reason: 'expired' }, s.skippedExpired);
    },
  });
}

function counter(registry: Registry, name: string, help: string, read: () => number): void {
  new Counter({
    name,
    help,
    registers: [registry],
    collect() {
      this.reset();
      this.inc(read());
    },
  });
}
