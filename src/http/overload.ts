import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyInstance } from 'fastify';

/**
 * How late the event loop runs, measured by a timer that should fire every SAMPLE_MS: the time
 * past its due time is about what a request read now has waited before any of its code ran. Only
 * this process' own work makes the loop late; a Redis that is slow or gone does not (every Redis
 * call has a deadline and is awaited, never waited for), so shedding never starts because of it.
 */
const SAMPLE_MS = 10;
/**
 * An overload starts when the loop has stayed late for this long (every sample since the first
 * late one was late): one long turn of the loop (a cold start compiling the request path, a major
 * GC, a ruleset compiled in place) is over sooner, and the requests it delayed are cheaper to
 * serve than to refuse. (CoDel's idea: a standing queue, not a passing one.) With Redis, a major GC
 * of a few hundred ms is followed by turns that catch up on the requests and Redis answers it
 * held up: a soak at half load saw those keep the loop 20 ms late for over 100 ms, and shed.
 */
const STANDING_MS = 250;
/**
 * In an overload, the requests read in the first TURN_BUDGET_MS of a turn of the loop are served
 * and the rest of the turn's are refused. Every turn then stays short, so an accepted request
 * waits at most about a turn before it is read and a turn's budget after: within the latency
 * target, however many clients push. (A threshold on lateness alone holds the loop, and every
 * accepted request, at that lateness: measured ~100-200 ms at 2x capacity with a 100 ms threshold.)
 * bench:ops:burst at 2x capacity: budgets of 2, 1 and 0.5 ms served 6,600, 7,300 and 7,000 decisions/s
 * at a client-side p99 of 48, 5.6 and 3.8 ms. The first request of a turn is always served.
 */
const TURN_BUDGET_MS = 0.5;
/**
 * The overload ends when the loop was idle again for a real share of the last window: the
 * requests that come in no longer fill it. (While refusing, the loop is never late, so lateness
 * cannot say when to stop; busy time can.)
 */
const UTILIZATION_WINDOW_MS = 200;
const MAX_UTILIZATION = 0.9;

/** What the guard reports to operators (readiness details, /metrics). */
export interface OverloadStatus {
  /** The threshold (OFFERLOOP_MAX_EVENT_LOOP_DELAY_MS); 0: shedding is off. */
  readonly maxEventLoopDelayMs: number;
  /** The largest delay seen by the samples of the last second or two, in ms. */
  readonly eventLoopDelayMs: number;
  /** In an overload: each turn of the loop serves its first requests and refuses the rest. */
  readonly overloaded: boolean;
  /** Requests answered 503 so far. */
  readonly shed: number;
}

/**
 * Load shedding (guarded by overload.int.test.ts, measured by bench:ops:burst): an overload starts
 * when the event loop has been more than `maxDelayMs` late for STANDING_MS, and ends when the
 * loop is busy less than MAX_UTILIZATION of a window again. In between, each turn of the loop
 * serves the requests read in its first TURN_BUDGET_MS and refuses the rest with a 503 that costs
 * a fraction of a decision (see installLoadShedding). So the server keeps serving what fits in
 * short turns, at a good part of its capacity, with the latency of an unloaded one.
 */
export class OverloadGuard {
  private lastTick = 0;
  /** When the current run of late samples began; -1: the last sample was on time. */
  private lateSince = -1;
  private overloadedNow = false;
  /** Busy time of the loop at the start of the current utilization window. */
  private utilizationMark = performance.eventLoopUtilization();
  private utilizationSince = 0;
  /** When the first request of this turn of the loop was read; -1: none yet. */
  private turnStart = -1;
  private readonly endTurn = (): void => {
    this.turnStart = -1;
  };
  /** Largest lateness of the current and the previous second, for status(). */
  private peak = 0;
  private previousPeak = 0;
  private peakSince = 0;
  private shedCount = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(private readonly maxDelayMs: number) {}

  /**
   * Starts sampling. Call when the server is ready: start-up itself holds the loop for a while,
   * and the first requests must not pay for it.
   */
  start(): void {
    if (this.maxDelayMs <= 0 || this.timer !== null) return;
    this.lastTick = this.peakSince = performance.now();
    this.timer = setInterval(() => this.sample(), SAMPLE_MS).unref();
  }

  /** In an overload: only then does shed() refuse anything. */
  get overloaded(): boolean {
    return this.overloadedNow;
  }

  /**
   * Whether to refuse a request read now, and counts it if so. Outside an overload one field read;
   * in one, a clock read (and a setImmediate per turn, to see where the turn ends).
   */
  shed(): boolean {
    if (!this.overloadedNow) return false;
    const now = performance.now();
    if (this.turnStart < 0) {
      // The first request of this turn: the turn ends after the poll phase that reads them all.
      this.turnStart = now;
      setImmediate(this.endTurn);
      return false;
    }
    if (now - this.turnStart <= TURN_BUDGET_MS) return false;
    this.shedCount++;
    return true;
  }

  status(): OverloadStatus {
    return {
      maxEventLoopDelayMs: this.maxDelayMs,
      eventLoopDelayMs: Math.round(Math.max(this.peak, this.previousPeak) * 10) / 10,
      overloaded: this.overloadedNow,
      shed: this.shedCount,
    };
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
    this.overloadedNow = false;
  }

  private sample(): void {
    const now = performance.now();
    const delay = Math.max(0, now - this.lastTick - SAMPLE_MS);
    this.lastTick = now;
    if (now - this.peakSince >= 1000) {
      this.previousPeak = this.peak;
      this.peak = 0;
      this.peakSince = now;
    }
    if (delay > this.peak) this.peak = delay;

    if (delay <= this.maxDelayMs) this.lateSince = -1;
    else if (this.lateSince < 0) this.lateSince = now;
    if (!this.overloadedNow) {
      if (this.lateSince >= 0 && now - this.lateSince >= STANDING_MS) {
        this.overloadedNow = true;
        this.utilizationMark = performance.eventLoopUtilization();
        this.utilizationSince = now;
      }
    } else if (now - this.utilizationSince >= UTILIZATION_WINDOW_MS) {
      const busy = performance.eventLoopUtilization(this.utilizationMark).utilization;
      this.utilizationMark = performance.eventLoopUtilization();
      this.utilizationSince = now;
      if (busy < MAX_UTILIZATION && this.lateSince < 0) this.overloadedNow = false;
    }
  }
}

/** What installLoadShedding needs of a guard (OverloadGuard; tests give it a policy of their own). */
export type LoadShedder = Pick<OverloadGuard, 'overloaded' | 'shed' | 'start' | 'close'>;

/** Paths never shed: liveness, readiness and metrics are how operators see an overload. */
function neverShed(url: string | undefined): boolean {
  return (
    url !== undefined && (url.startsWith('/health/') || url === '/metrics' || url.startsWith('/metrics?'))
  );
}

const OVERLOADED_BODY = JSON.stringify({
  error: { code: 'overloaded', message: 'the server is overloaded: retry after 1 s' },
});
const OVERLOADED_HEADERS = {
  'content-type': 'application/json; charset=utf-8',
  'content-length': String(Buffer.byteLength(OVERLOADED_BODY)),
  'retry-after': '1',
  'cache-control': 'no-store',
};
/** The same answer to a WebSocket upgrade, written to its socket, which is then closed. */
const OVERLOADED_UPGRADE_ANSWER = `HTTP/1.1 503 Service Unavailable\r\n${Object.entries(OVERLOADED_HEADERS)
  .map(([name, value]) => `${name}: ${value}\r\n`)
  .join('')}connection: close\r\n\r\n${OVERLOADED_BODY}`;

/**
 * Answers 503 with `Retry-After: 1` to the requests the guard refuses, and refuses WebSocket
 * upgrades the same way (no new sessions in an overload). It runs before Fastify sees the request:
 * a refusal is Node's HTTP parsing and one write, with no request or reply object, route lookup,
 * hook or body read, because in an overload most requests are refused and what a refusal costs
 * decides how much is left to serve the rest. (Refused requests are counted by the guard, not in
 * the per-route request metrics.) Requests made with `app.inject` do not pass here.
 */
export function installLoadShedding(app: FastifyInstance, guard: LoadShedder): void {
  app.addHook('onReady', (done) => {
    // By now Fastify's request handler and @fastify/websocket's upgrade handler are listening:
    // put the guard in front of them.
    guardListeners(app.server, 'request', (request: IncomingMessage, response: ServerResponse) => {
      // Outside an overload one field read: health and metrics are looked at only in one.
      if (!guard.overloaded || neverShed(request.url) || !guard.shed()) return false;
      response.writeHead(503, OVERLOADED_HEADERS).end(OVERLOADED_BODY);
      return true;
    });
    guardListeners(app.server, 'upgrade', (_request: IncomingMessage, socket: Duplex) => {
      if (!guard.shed()) return false;
      socket.end(OVERLOADED_UPGRADE_ANSWER);
      return true;
    });
    guard.start();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    guard.close();
    done();
  });
}

/**
 * Replaces the server's listeners of `event` with one that calls them unless `refused` answered.
 * Fixed parameters, not rest ones: this runs for every request, and must not allocate.
 */
function guardListeners<A, B>(
  server: Server,
  event: 'request' | 'upgrade',
  refused: (a: A, b: B) => boolean,
): void {
  const listeners = server.listeners(event) as ((a: A, b: B, head?: unknown) => void)[];
  // None (no WebSocket routes): Node's own handling, closing the socket, stays.
  if (listeners.length === 0) return;
  server.removeAllListeners(event);
  server.on(event, (a: A, b: B, head?: unknown) => {
    if (refused(a, b)) return;
    for (const listener of listeners) listener.call(server, a, b, head);
  });
}

/**
 * At most `max` open connections (HTTP and WebSocket) in this process; Node closes any more at
 * once, before a byte is read. 0: no limit. Answers a live count of the connections dropped.
 */
export function limitConnections(app: FastifyInstance, max: number): { readonly dropped: number } {
  const counter = { dropped: 0 };
  if (max > 0) {
    app.server.maxConnections = max;
    app.server.on('drop', () => {
      counter.dropped++;
    });
  }
  return counter;
}
