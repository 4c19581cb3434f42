import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

/**
 * How late the event loop runs, measured by a timer that should fire every SAMPLE_MS: the time
 * past its due time is about what a request read now has waited before any of its code ran. Only
 * this process' own work makes the loop late; a Redis that is slow or gone does not (every Redis
 * call has a deadline and is awaited, never waited for), so shedding never starts because of it.
 */
const SAMPLE_MS = 10;

/** What the guard reports to operators (readiness details). */
export interface OverloadStatus {
  /** The threshold (OFFERLOOP_MAX_EVENT_LOOP_DELAY_MS); 0: shedding is off. */
  readonly maxEventLoopDelayMs: number;
  /** The largest delay seen by the samples of the last second or two, in ms. */
  readonly eventLoopDelayMs: number;
  /** The last sample was late: requests read while the loop is late again are refused. */
  readonly overloaded: boolean;
  /** Requests answered 503 so far. */
  readonly shed: number;
}

/**
 * Load shedding on event-loop delay: a request is refused when the loop is more than
 * `maxDelayMs` late while it is read, in an overload, i.e. the sample before was late as well.
 * Such a request has waited that long already, and in a loop that stays late the work it would
 * add only makes every later request wait longer; the requests read early in a turn of the loop
 * are still served, so the server keeps answering what it can at about its capacity, and the
 * accepted ones wait at most about two thresholds. One late turn of the loop (a cold start
 * compiling the request path, a major GC, a ruleset compiled in place) sheds nothing: it is over
 * before anyone could react, and the requests it delayed are cheaper to serve than to refuse.
 *
 * (Measured by bench:burst: refusing more, e.g. a share of all requests cut down while the loop
 * stays late, served less at no better latency, because over HTTP/1.1 a refusal costs a large
 * part of what a decision costs. See bench/README.md.) Guarded by overload.int.test.ts.
 */
export class OverloadGuard {
  private lastTick = 0;
  /** The last sample was later than the threshold. */
  private overloaded = false;
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

  /** Whether to refuse a request read now: in an overload, the loop is late again. One clock read. */
  shouldShed(): boolean {
    return this.overloaded && performance.now() - this.lastTick - SAMPLE_MS > this.maxDelayMs;
  }

  /** Counts a request refused (shouldShed() said so and the route may be shed). */
  shed(): void {
    this.shedCount++;
  }

  status(): OverloadStatus {
    return {
      maxEventLoopDelayMs: this.maxDelayMs,
      eventLoopDelayMs: Math.round(Math.max(this.peak, this.previousPeak) * 10) / 10,
      overloaded: this.overloaded,
      shed: this.shedCount,
    };
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private sample(): void {
    const now = performance.now();
    const delay = Math.max(0, now - this.lastTick - SAMPLE_MS);
    this.lastTick = now;
    this.overloaded = delay > this.maxDelayMs;
    if (now - this.peakSince >= 1000) {
      this.previousPeak = this.peak;
      this.peak = 0;
      this.peakSince = now;
    }
    if (delay > this.peak) this.peak = delay;
  }
}

/** Routes never shed: liveness, readiness and metrics are how operators see an overload. */
const NEVER_SHED: ReadonlySet<string | undefined> = new Set(['/health/live', '/health/ready', '/metrics']);

const OVERLOADED_BODY = JSON.stringify({
  error: { code: 'overloaded', message: 'the server is overloaded: retry after 1 s' },
});

/**
 * Answers 503 with `Retry-After: 1` to requests that arrive while the guard sheds; add it before
 * the routes. A shed request costs a fraction of a decision: no body parsing, no key check.
 * (WebSocket upgrades are requests too: no new sessions while overloaded.)
 */
export function installLoadShedding(app: FastifyInstance, guard: OverloadGuard): void {
  app.addHook('onRequest', (request: FastifyRequest, reply: FastifyReply, done: () => void) => {
    if (!guard.shouldShed() || NEVER_SHED.has(request.routeOptions.url)) return done();
    guard.shed();
    reply
      .code(503)
      .header('retry-after', '1')
      .header('cache-control', 'no-store')
      .type('application/json; charset=utf-8')
      .send(OVERLOADED_BODY);
  });
  app.addHook('onReady', (done) => {
    guard.start();
    done();
  });
  app.addHook('onClose', (_instance, done) => {
    guard.close();
    done();
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
