import http from 'node:http';
import https from 'node:https';
import type { Logger } from 'pino';
import type { TriggersConfig, WebhookTarget } from '../config.js';
import type { WebhookJob, WebhookOutbox } from '../store/webhook-outbox.js';
import { retryDelayMs, SIGNATURE_HEADER, signatureHeader } from './webhook-signature.js';

export interface WebhookDispatcherDeps {
  readonly outbox: WebhookOutbox;
  readonly config: Pick<
    TriggersConfig,
    | 'webhooks'
    | 'webhookMaxAttempts'
    | 'webhookRetryBaseMs'
    | 'webhookRetryMaxMs'
    | 'webhookTimeoutMs'
    | 'webhookPollMs'
  >;
  readonly clock: () => number;
  readonly log: Logger;
  /** Uniform in [0, 1), for the retries' jitter. */
  readonly random?: () => number;
}

/** What the dispatcher did since start (metrics). */
export interface WebhookStats {
  delivered: number;
  failedAttempts: number;
  deadLettered: number;
}

/** Deliveries taken at once; each is one HTTP request in flight. */
const BATCH = 32;

/**
 * Delivers webhook jobs from the outbox, off the request path: a loop that takes the jobs due,
 * POSTs each signed body to its webhook, and marks it done (2xx), to retry later (exponential
 * backoff with jitter), or dead after the last try. Runs on every server; with Redis they share
 * one outbox, and a job leased by a server that died is due again after the lease.
 */
export class WebhookDispatcher {
  readonly stats: WebhookStats = { delivered: 0, failedAttempts: 0, deadLettered: 0 };
  private readonly targets: ReadonlyMap<string, WebhookTarget>;
  private timer: NodeJS.Timeout | null = null;
  private running: Promise<void> | null = null;
  private again = false;
  private closed = false;

  constructor(private readonly deps: WebhookDispatcherDeps) {
    this.targets = new Map(deps.config.webhooks.map((t) => [t.name, t]));
  }

  start(): this {
    this.schedule(0);
    return this;
  }

  /** A job was just added: look soon, rather than at the next poll. */
  nudge(): void {
    if (this.closed) return;
    if (this.running !== null) {
      this.again = true;
      return;
    }
    this.schedule(0);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== null) clearTimeout(this.timer);
    await this.running;
    this.httpAgent.destroy();
    this.httpsAgent.destroy();
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.timer !== null) clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = null;
      this.running = this.round().finally(() => {
        this.running = null;
        const more = this.again;
        this.again = false;
        this.schedule(more ? 0 : this.deps.config.webhookPollMs);
      });
    }, ms).unref();
  }

  /** Takes what is due and delivers it, batch after batch while batches come full. */
  private async round(): Promise<void> {
    const { outbox, clock, config, log } = this.deps;
    try {
      for (;;) {
        const jobs = await outbox.take(clock(), BATCH, config.webhookTimeoutMs * 2 + 1000);
        await Promise.all(jobs.map((job) => this.deliver(job)));
        if (jobs.length < BATCH || this.closed) return;
      }
    } catch (err) {
      log.warn({ err: (err as Error).message }, 'webhook outbox unavailable; deliveries wait');
    }
  }

  private async deliver(job: WebhookJob): Promise<void> {
    const { outbox, clock, config, log } = this.deps;
    const target = this.targets.get(job.webhook);
    const error =
      target === undefined ? `no webhook '${job.webhook}' is configured` : await this.post(target, job);
    if (error === null) {
      this.stats.delivered++;
      await outbox.done(job);
      return;
    }
    this.stats.failedAttempts++;
    const tried: WebhookJob = { ...job, attempts: job.attempts + 1, lastError: error };
    if (target === undefined || tried.attempts >= config.webhookMaxAttempts) {
      this.stats.deadLettered++;
      log.warn(
        { webhook: job.webhook, delivery: job.id, attempts: tried.attempts, error },
        'webhook dead-lettered',
      );
      await outbox.dead(tried);
      return;
    }
    const random = (this.deps.random ?? Math.random)();
    const delay = retryDelayMs(tried.attempts, config.webhookRetryBaseMs, config.webhookRetryMaxMs, random);
    await outbox.retry(tried, clock() + delay);
  }

  /**
   * One try: null when the receiver took it (2xx), else why not. node:http with keep-alive, not
   * fetch: a delivery costs a fraction of the CPU, and every event's webhook is one. Redirects are
   * not followed (a 3xx is a failure): the signed body goes only where it was configured to.
   */
  private post(target: WebhookTarget, job: WebhookJob): Promise<string | null> {
    const body = job.body;
    const url = new URL(target.url);
    const secure = url.protocol === 'https:';
    return new Promise((resolve) => {
      const request = (secure ? https : http).request(
        url,
        {
          method: 'POST',
          agent: secure ? this.httpsAgent : this.httpAgent,
          timeout: this.deps.config.webhookTimeoutMs,
          headers: {
            'content-type': 'application/json',
            'content-length': Buffer.byteLength(body),
            [SIGNATURE_HEADER]: signatureHeader(target.secret, Math.floor(this.deps.clock() / 1000), body),
            // The same on every try: a receiver that got a delivery twice (a lost answer) can tell.
            'offerloop-delivery': job.id,
            'offerloop-webhook': target.name,
          },
        },
        (response) => {
          const status = response.statusCode ?? 0;
          // Drain the body so the connection is reused.
          response.resume();
          response.on('end', () => resolve(status >= 200 && status < 300 ? null : `HTTP ${status}`));
          response.on('error', (err) => resolve(`unreachable: ${err.message}`));
        },
      );
      request.on('timeout', () => request.destroy(new Error('timeout')));
      request.on('error', (err) =>
        resolve(err.message === 'timeout' ? 'timeout' : `unreachable: ${err.message}`),
      );
      request.end(body);
    });
  }

  private readonly httpAgent = new http.Agent({ keepAlive: true, maxSockets: BATCH });
  private readonly httpsAgent = new https.Agent({ keepAlive: true, maxSockets: BATCH });
}
