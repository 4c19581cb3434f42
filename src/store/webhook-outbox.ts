/** One delivery of a push to a webhook: what to send, and how it went so far. */
export interface WebhookJob {
  readonly id: string;
  /** The webhook's name (OFFERLOOP_WEBHOOKS). */
  readonly webhook: string;
  /** Whom the push is about: what an erasure or an export finds the job by. */
  readonly customerId: string;
  /** The JSON body, signed and sent as it is. */
  readonly body: string;
  /** Tries made so far. */
  readonly attempts: number;
  readonly createdAt: number;
  /** Why the last try failed; null before any. */
  readonly lastError: string | null;
}

/**
 * Webhook deliveries waiting, off the request path: a trigger adds a job, the dispatcher takes the
 * ones due, and marks each done, to retry at a later time, or dead (a dead-letter list kept for
 * inspection). A job taken is leased: if its server dies before marking it, it is due again later.
 */
export interface WebhookOutbox {
  add(job: WebhookJob, dueAt: number): Promise<void>;
  /** Up to `max` jobs due at `now`, each leased until `now + leaseMs`. */
  take(now: number, max: number, leaseMs: number): Promise<WebhookJob[]>;
  done(job: WebhookJob): Promise<void>;
  retry(job: WebhookJob, dueAt: number): Promise<void>;
  dead(job: WebhookJob): Promise<void>;
  /** The newest dead letters first. */
  deadLetters(limit: number): Promise<WebhookJob[]>;
  /** Jobs waiting or in flight. */
  pending(): Promise<number>;
  /** The jobs about these customers, waiting and dead (an export). */
  jobsOf(customerIds: readonly string[]): Promise<CustomerJobs>;
  /**
   * Drops the jobs about these customers, waiting and dead (erasure); answers how many. A job
   * dropped while a dispatcher holds it stays dropped: its retry() and dead() add nothing.
   */
  forget(customerIds: readonly string[]): Promise<number>;
}

export interface CustomerJobs {
  readonly pending: readonly WebhookJob[];
  readonly dead: readonly WebhookJob[];
}

/** Dead letters kept; older ones are dropped. */
export const DEAD_LETTERS_KEPT = 1000;

/** This server's memory: jobs are lost on a restart (the Redis outbox keeps them). */
export class MemoryWebhookOutbox implements WebhookOutbox {
  private readonly jobs = new Map<string, { job: WebhookJob; dueAt: number }>();
  private readonly letters: WebhookJob[] = [];

  add(job: WebhookJob, dueAt: number): Promise<void> {
    this.jobs.set(job.id, { job, dueAt });
    return Promise.resolve();
  }

  take(now: number, max: number, leaseMs: number): Promise<WebhookJob[]> {
    const due: WebhookJob[] = [];
    for (const entry of this.jobs.values()) {
      if (due.length >= max) break;
      if (entry.dueAt > now) continue;
      entry.dueAt = now + leaseMs;
      due.push(entry.job);
    }
    return Promise.resolve(due);
  }

  done(job: WebhookJob): Promise<void> {
    this.jobs.delete(job.id);
    return Promise.resolve();
  }

  retry(job: WebhookJob, dueAt: number): Promise<void> {
    if (this.jobs.has(job.id)) this.jobs.set(job.id, { job, dueAt });
    return Promise.resolve();
  }

  dead(job: WebhookJob): Promise<void> {
    if (!this.jobs.delete(job.id)) return Promise.resolve();
    this.letters.unshift(job);
    if (this.letters.length > DEAD_LETTERS_KEPT) this.letters.length = DEAD_LETTERS_KEPT;
    return Promise.resolve();
  }

  deadLetters(limit: number): Promise<WebhookJob[]> {
    return Promise.resolve(this.letters.slice(0, limit));
  }

  pending(): Promise<number> {
    return Promise.resolve(this.jobs.size);
  }

  jobsOf(customerIds: readonly string[]): Promise<CustomerJobs> {
    const of = new Set(customerIds);
    return Promise.resolve({
      pending: [...this.jobs.values()].map((e) => e.job).filter((j) => of.has(j.customerId)),
      dead: this.letters.filter((j) => of.has(j.customerId)),
    });
  }

  forget(customerIds: readonly string[]): Promise<number> {
    const of = new Set(customerIds);
    let n = 0;
    for (const [id, { job }] of this.jobs) {
      if (!of.has(job.customerId)) continue;
      this.jobs.delete(id);
      n++;
    }
    const kept = this.letters.filter((j) => !of.has(j.customerId));
    n += this.letters.length - kept.length;
    this.letters.splice(0, this.letters.length, ...kept);
    return Promise.resolve(n);
  }
}
