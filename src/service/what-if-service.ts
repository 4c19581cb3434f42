import { randomBytes } from 'node:crypto';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import type { Channel } from '../domain/channel.js';
import type { CapUsage } from '../domain/contact.js';
import { NotFoundError, OfferloopError } from '../errors.js';
import { inSample, sampleShare, type WhatIfReport, WhatIfRun } from '../evaluation/what-if.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { PopulationSource } from '../store/population-source.js';
import type { WhatIfRunStore } from '../store/what-if-run-store.js';
import type { CandidateService } from './candidate-service.js';
import type { LearningService } from './learning-service.js';

export interface WhatIfRequest {
  /** A candidate's name; absent: the live ruleset alone. */
  readonly candidate?: string | undefined;
  readonly channel: Channel;
  /** Contacts to simulate: a stable sample of about this many customers (all of them at or above the population). */
  readonly volume: number;
  /** Offers per contact; default: the server's default limit. */
  readonly limit?: number | undefined;
}

export interface WhatIfStatus {
  readonly id: string;
  readonly state: 'running' | 'done' | 'failed';
  readonly candidate: string | null;
  readonly channel: Channel;
  readonly volume: number;
  readonly limit: number;
  /** Where the population was read: embedded or redis. */
  readonly store: string;
  readonly population: number;
  /** Share of the population in the sample. */
  readonly sampleShare: number;
  /** Customers decided so far (each on both rulesets). */
  readonly done: number;
  /** The sample's expected size while running; its size once done. */
  readonly total: number;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly seconds: number | null;
  readonly error: string | null;
  readonly result: WhatIfReport | null;
}

export interface WhatIfServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly candidates: Pick<CandidateService, 'snapshot'>;
  readonly learning: Pick<LearningService, 'model'>;
  readonly population: PopulationSource;
  /** The live cap and budget counters: a run starts from them, and never changes them. */
  readonly usage: CapUsage;
  readonly clock: () => number;
  readonly defaultLimit: number;
  /** Milliseconds of deciding before the run yields to the event loop (default 5). */
  readonly sliceMs?: number;
  /** Where runs are shared with the other servers (Redis); none: this server's runs only. */
  readonly shared?: WhatIfRunStore | undefined;
}

/** 409: a what-if is running on this server already. */
export class WhatIfRunningError extends OfferloopError {
  constructor(id: string) {
    super(
      'what_if_running',
      409,
      `a what-if is running on this server already (${id}): wait for it to finish`,
    );
  }
}

/** Finished runs kept for GET; a run is a report, not an archive. */
const KEPT_RUNS = 10;
/** Customers decided between two looks at the time. */
const CHECK_EVERY = 32;
/** How often a run's progress is shared with the other servers. */
const SHARE_EVERY_MS = 1000;

interface Run {
  /** Settles when the run ends, done or failed. */
  finished?: Promise<void>;
  readonly whatIf: WhatIfRun;
  readonly share: number;
  readonly status: Mutable<WhatIfStatus>;
}
type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/**
 * What-ifs on the loaded population (evaluation/what-if.ts): one at a time per server, in the
 * background, in slices of a few milliseconds between which the event loop serves live requests.
 * A run reads the population once, decides each sampled customer on the candidate and the live
 * ruleset with their learned models, and changes nothing: not the counters, not the histories.
 */
export class WhatIfService {
  private readonly runs = new Map<string, Run>();
  private running: Run | null = null;
  private starting = false;
  private closed = false;

  constructor(private readonly deps: WhatIfServiceDeps) {}

  /** Starts a run and answers its status at once; 404 for an unknown candidate, 409 while another runs. */
  async start(request: WhatIfRequest): Promise<WhatIfStatus> {
    if (this.running !== null) throw new WhatIfRunningError(this.running.status.id);
    if (this.starting) throw new WhatIfRunningError('starting');
    if (this.closed) throw new Error('the what-if service is closed');
    // Taken before the first await, so that two requests at once cannot both start.
    this.starting = true;
    try {
      const run = await this.prepare(request);
      this.running = run;
      this.keep(run);
      await this.share(run);
      run.finished = this.execute(run);
      return this.get(run.status.id);
    } finally {
      this.starting = false;
    }
  }

  /** A run's status, from this server or, shared, from the one that runs it; 404 for an unknown id. */
  async find(id: string): Promise<WhatIfStatus> {
    if (this.runs.has(id) || this.deps.shared === undefined) return this.get(id);
    const json = await this.deps.shared.get(id);
    if (json === null) throw new NotFoundError(`no what-if '${id}' (runs are kept for a day)`);
    return JSON.parse(json) as WhatIfStatus;
  }

  /** A run of this server's (with its result once done); 404 for an id it does not know. */
  get(id: string): WhatIfStatus {
    const run = this.runs.get(id);
    if (run === undefined)
      throw new NotFoundError(`no what-if '${id}' on this server (the last ${KEPT_RUNS} are kept)`);
    return { ...run.status };
  }

  /** Stops a run in progress at its next slice (it ends as failed), and refuses new ones: the server is stopping. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  /** Resolves when no run is in progress (tests, shutdown). */
  async idle(): Promise<void> {
    await this.running?.finished;
  }

  private async prepare(request: WhatIfRequest): Promise<Run> {
    const { deps } = this;
    const live = deps.rules.current;
    const candidate =
      request.candidate === undefined ? null : await deps.candidates.snapshot(request.candidate);
    const population = await deps.population.count();
    const share = sampleShare(request.volume, population);
    const startedAt = deps.clock();
    const limit = request.limit ?? deps.defaultLimit;
    const whatIf = new WhatIfRun({
      live: { name: 'live', snapshot: live, learned: deps.learning.model(live) },
      candidate:
        candidate === null
          ? null
          : { name: request.candidate!, snapshot: candidate, learned: deps.learning.model(candidate) },
      channel: request.channel,
      limit,
      now: startedAt,
      usage: deps.usage,
    });
    return {
      whatIf,
      share,
      status: {
        // Random, not a counter: runs of every server and worker share one namespace in Redis.
        id: `wi-${startedAt.toString(36)}-${randomBytes(4).toString('hex')}`,
        state: 'running',
        candidate: request.candidate ?? null,
        channel: request.channel,
        volume: request.volume,
        limit,
        store: deps.population.kind,
        population,
        sampleShare: share,
        done: 0,
        total: Math.round(population * share),
        startedAt: new Date(startedAt).toISOString(),
        finishedAt: null,
        seconds: null,
        error: null,
        result: null,
      },
    };
  }

  private async execute(run: Run): Promise<void> {
    const { whatIf, share } = run;
    const sliceMs = this.deps.sliceMs ?? 5;
    const started = performance.now();
    let sliceStart = started;
    let shared = started;
    try {
      const keep = (id: string) => inSample(id, share);
      for await (const page of this.deps.population.pages(keep)) {
        for (let i = 0; i < page.length; i++) {
          whatIf.add(page[i]!);
          if (i % CHECK_EVERY === CHECK_EVERY - 1 && performance.now() - sliceStart >= sliceMs) {
            run.status.done = whatIf.decisions;
            await yieldToEventLoop();
            if (this.closed) throw new Error('stopped: the server is shutting down');
            sliceStart = performance.now();
            if (sliceStart - shared >= SHARE_EVERY_MS) {
              shared = sliceStart;
              void this.share(run);
            }
          }
        }
        run.status.done = whatIf.decisions;
      }
      run.status.result = whatIf.report();
      run.status.total = whatIf.decisions;
      run.status.state = 'done';
    } catch (err) {
      run.status.state = 'failed';
      run.status.error = err instanceof Error ? err.message : String(err);
    } finally {
      run.status.seconds = Number(((performance.now() - started) / 1000).toFixed(3));
      run.status.finishedAt = new Date(this.deps.clock()).toISOString();
      this.running = null;
    }
    await this.share(run);
  }

  /**
   * Saves the run's status where the other servers read it. A failure only costs them the latest
   * progress (this server still answers): it is not the run's failure.
   */
  private async share(run: Run): Promise<void> {
    try {
      await this.deps.shared?.put(run.status.id, JSON.stringify(run.status));
    } catch {
      // Redis away: the next share, or the end of the run, tries again.
    }
  }

  private keep(run: Run): void {
    this.runs.set(run.status.id, run);
    for (const id of this.runs.keys()) {
      if (this.runs.size <= KEPT_RUNS) break;
      if (this.runs.get(id) !== this.running) this.runs.delete(id);
    }
  }
}
