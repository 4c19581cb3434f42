import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { createReadStream, createWriteStream, mkdirSync, rmSync } from 'node:fs';
import { rename } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import type { Writable } from 'node:stream';
import { setImmediate as yieldToEventLoop } from 'node:timers/promises';
import { type Channel, channelIndex } from '../domain/channel.js';
import type { CapUsage } from '../domain/contact.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import { campaignOffersOn, campaignRoom } from '../engine/campaign-room.js';
import { type DecisionRequest, decide } from '../engine/decide.js';
import { BadRequestError, NotFoundError, OfferloopError } from '../errors.js';
import type { LearnedModel } from '../learning/learned-model.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { CompiledCampaign, RulesetSnapshot } from '../ruleset/snapshot.js';
import type { ErasedIds } from '../store/erased-ids.js';
import type { PopulationSource } from '../store/population-source.js';
import type { DecisionService } from './decision-service.js';
import { customerOfLine, headerOf, lineOf, rowsOf, type SelectionFormat } from './selection-rows.js';

export interface SelectionRequest {
  readonly campaign: string;
  /** The outbound channel the list is for (email: the channel model has no letter or outbound call). */
  readonly channel: Channel;
  /** Customers to contact at most (treated customers); absent: as many as the rules allow. */
  readonly limit?: number | undefined;
  /** Offers of the campaign per contact (default 1). */
  readonly offers?: number | undefined;
  readonly format?: SelectionFormat | undefined;
  /** Also write the control group's rows (group `control`, not to be sent); default: treated rows only. */
  readonly withControl?: boolean | undefined;
}

export interface SelectionStatus {
  readonly id: string;
  readonly state: 'running' | 'done' | 'failed';
  readonly campaign: string;
  readonly channel: Channel;
  readonly limit: number | null;
  readonly offers: number;
  readonly format: SelectionFormat;
  readonly withControl: boolean;
  /** Where the population was read: embedded or redis. */
  readonly store: string;
  readonly population: number;
  readonly rulesetVersion: string;
  /** Customers read from the population so far. */
  readonly read: number;
  /** Passed over: no consent for the channel. */
  readonly noConsent: number;
  /** Passed over: the campaign cannot reach them (eligibility, segments, schedule, caps or budget spent). */
  readonly unreachable: number;
  /** Real decisions made (each logged, with its id). */
  readonly decided: number;
  /** Decided and shown an offer: the customers to send to. */
  readonly treated: number;
  /** Decided and held out: the campaign's control group (or the global holdout), logged, not sent. */
  readonly control: number;
  /** Decided with nothing to show: the contact policy (limits, suppressions), or a cap reached meanwhile. */
  readonly excluded: number;
  /** Lines written to the list (header aside). */
  readonly rows: number;
  readonly startedAt: string;
  readonly finishedAt: string | null;
  readonly seconds: number | null;
  readonly error: string | null;
}

export interface SelectionServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly learning?: { model(snapshot: RulesetSnapshot): LearnedModel | undefined } | undefined;
  readonly population: PopulationSource;
  /** Real decisions, recorded like any other; best without a deadline (a list waits, a caller does not). */
  readonly decisions: Pick<DecisionService, 'decide'>;
  /** The counters the decisions count in: what screens customers out, and bounds how many decide at once. */
  readonly counters: CapUsage;
  readonly clock: () => number;
  /** Where lists are written for GET /v1/selections/:id/rows. */
  readonly dir: string;
  /** Erased ids: never decided by a selection, never served from a list written before their erasure. */
  readonly erased?: Pick<ErasedIds, 'has'> | undefined;
  /** Decisions in flight at once, while no cap or budget is near (default 64). */
  readonly window?: number | undefined;
  /** Milliseconds of work before the run yields to the event loop (default 5). */
  readonly sliceMs?: number | undefined;
}

export interface SelectionOptions {
  /** Write the list to this file or stream instead of the service's directory (the CLI's --out, or stdout). */
  readonly out?: string | Writable | undefined;
  /** Hears of the run's progress every slice, and once at the end. */
  readonly onProgress?: ((status: SelectionStatus) => void) | undefined;
}

/** 409: a selection is running on this server already. */
export class SelectionRunningError extends OfferloopError {
  constructor(id: string) {
    super(
      'selection_running',
      409,
      `a selection is running on this server already (${id}): wait for it to finish`,
    );
  }
}

/** 409: the list of a run still running, or failed. */
export class SelectionNotReadyError extends OfferloopError {
  constructor(id: string, state: string) {
    super('selection_not_ready', 409, `selection '${id}' is ${state}: its list is served once it is done`);
  }
}

/** Lists kept; an older one's file is deleted. */
const KEPT_RUNS = 10;
const CHECK_EVERY = 32;
const NO_CONTEXT: Readonly<Record<string, AttributeValue>> = Object.freeze({});
const NO_HISTORY = Object.freeze([]) as readonly never[];
const EVERYBODY = () => true;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

interface Run {
  readonly status: Mutable<SelectionStatus>;
  readonly campaign: CompiledCampaign;
  readonly snapshot: RulesetSnapshot;
  /** The list's file in the service's directory (deleted with the run); null: the caller's file or stream. */
  readonly file: string | null;
  readonly out: Writable;
  readonly lines: string[];
  readonly inFlight: Set<Promise<void>>;
  readonly onProgress: ((status: SelectionStatus) => void) | undefined;
  failure: Error | null;
  finished?: Promise<void>;
}

/**
 * Outbound selection (docs/outbound.md): for a campaign and a channel, the target list over the
 * whole population. Each customer is screened by the pure engine first (consent, then the
 * campaign's offers with an empty history: eligibility, segments, schedule, caps, budget), and only
 * those the campaign can reach are decided for real through the decision service, restricted to
 * the campaign: contact policy from their history, impressions recorded, caps and budgets counted,
 * the decision logged, control groups held out and logged. Decisions run side by side while no cap
 * or budget is near, one at a time when one is, so that none is exceeded by the run.
 */
export class SelectionService {
  private readonly runs = new Map<string, Run>();
  private running: Run | null = null;
  private closed = false;

  /** Ids erased while a list was being written: taken out of it when it ends. */
  private readonly erasedMeanwhile = new Set<string>();
  /** The list rewrites of erasures, one after the other (two on one file would race for its name). */
  private rewrites: Promise<unknown> = Promise.resolve();

  constructor(private readonly deps: SelectionServiceDeps) {}

  /** Starts a selection and answers its status at once: 404 for an unknown campaign, 400 for bad input, 409 while another runs. */
  async start(request: SelectionRequest, options: SelectionOptions = {}): Promise<SelectionStatus> {
    if (this.running !== null) throw new SelectionRunningError(this.running.status.id);
    if (this.closed) throw new Error('the selection service is closed');
    const { deps } = this;
    const snapshot = deps.rules.current;
    const campaign = checked(request, snapshot);
    const startedAt = deps.clock();
    // Unique beyond this server: lists of several servers may share a directory.
    const id = `sel-${startedAt.toString(36)}-${randomUUID().slice(0, 8)}`;
    const format = request.format ?? 'csv';
    // Taken before the first await, so that two requests at once cannot both start.
    const placeholder = { status: { id } } as Run;
    this.running = placeholder;
    try {
      const population = await deps.population.count();
      const file = options.out === undefined ? join(deps.dir, `${id}.${format}`) : null;
      if (file !== null) mkdirSync(deps.dir, { recursive: true });
      const target = file ?? options.out!;
      const out = typeof target === 'string' ? createWriteStream(target) : target;
      const run: Run = {
        status: {
          id,
          state: 'running',
          campaign: campaign.id,
          channel: request.channel,
          limit: request.limit ?? null,
          offers: request.offers ?? 1,
          format,
          withControl: request.withControl ?? false,
          store: deps.population.kind,
          population,
          rulesetVersion: snapshot.version,
          read: 0,
          noConsent: 0,
          unreachable: 0,
          decided: 0,
          treated: 0,
          control: 0,
          excluded: 0,
          rows: 0,
          startedAt: new Date(startedAt).toISOString(),
          finishedAt: null,
          seconds: null,
          error: null,
        },
        campaign,
        snapshot,
        file,
        out,
        lines: [],
        inFlight: new Set(),
        onProgress: options.onProgress,
        failure: null,
      };
      out.on('error', (err: Error) => {
        run.failure ??= err;
      });
      run.lines.push(headerOf(format));
      this.running = run;
      this.keep(run);
      run.finished = this.execute(run);
      return this.get(id);
    } catch (err) {
      if (this.running === placeholder) this.running = null;
      throw err;
    }
  }

  /**
   * Erasure: every list kept here is rewritten without the ids (aside, then renamed over it), so
   * that no file of this server names an erased person; a list being written loses them when it
   * ends. Answers how many rows went.
   */
  forget(ids: readonly string[]): Promise<number> {
    const gone = new Set(ids);
    if (this.running !== null) for (const id of ids) this.erasedMeanwhile.add(id);
    // One rewrite at a time: an erasure sweeps twice and is also heard back from Redis.
    const done = this.rewrites.then(async () => {
      let rows = 0;
      for (const run of [...this.runs.values()]) {
        if (run === this.running || run.file === null) continue;
        rows += await rewriteWithout(run.file, run.status.format, gone);
      }
      return rows;
    });
    this.rewrites = done.catch(() => 0);
    return done;
  }

  /** A run's status; 404 for an id this server does not know. */
  get(id: string): SelectionStatus {
    return { ...this.runOf(id).status };
  }

  /**
   * A finished run's list, in chunks of lines, without the customers erased since it was written;
   * 409 while it runs or when it failed.
   */
  list(id: string): { readonly lines: AsyncIterable<string>; readonly format: SelectionFormat } {
    const run = this.runOf(id);
    if (run.status.state !== 'done') throw new SelectionNotReadyError(id, run.status.state);
    if (run.file === null)
      throw new NotFoundError(`selection '${id}' was written where its caller asked, not kept here`);
    const { format } = run.status;
    return { lines: keptLines(run.file, format, this.deps.erased), format };
  }

  /** Stops a run in progress at its next slice (it ends as failed), and refuses new ones. */
  async close(): Promise<void> {
    this.closed = true;
    await this.idle();
  }

  /** Resolves when no run is in progress. */
  async idle(): Promise<void> {
    await this.running?.finished;
  }

  private runOf(id: string): Run {
    const run = this.runs.get(id);
    if (run === undefined)
      throw new NotFoundError(`no selection '${id}' on this server (the last ${KEPT_RUNS} are kept)`);
    return run;
  }

  private async execute(run: Run): Promise<void> {
    const { status, snapshot } = run;
    const { deps } = this;
    const learned = deps.learning?.model(snapshot);
    const policy = snapshot.policies[channelIndex(status.channel)]!;
    const request: DecisionRequest = {
      channel: status.channel,
      placement: null,
      limit: status.offers,
      context: NO_CONTEXT,
      explain: false,
      campaign: run.campaign.id,
    };
    const sliceMs = deps.sliceMs ?? 5;
    const started = performance.now();
    let sliceStart = started;
    try {
      reading: for await (const page of deps.population.pages(EVERYBODY)) {
        const now = deps.clock();
        for (let i = 0; i < page.length; i++) {
          if (this.full(run)) break reading;
          const profile = page[i]!;
          status.read++;
          if (policy.requiresConsent && profile.consent[status.channel] !== true) {
            status.noConsent++;
          } else if (deps.erased?.has(profile.id) === true) {
            status.unreachable++;
          } else {
            // The history only takes offers away: whom the campaign cannot reach with none, it cannot reach.
            const screened = decide({
              snapshot,
              profile,
              history: NO_HISTORY,
              usage: deps.counters,
              request,
              now,
              learned,
            });
            if (screened.offers.length + screened.heldOut.length === 0) status.unreachable++;
            else if (await this.slot(run)) this.launch(run, profile);
            else break reading;
          }
          if (i % CHECK_EVERY === CHECK_EVERY - 1 && performance.now() - sliceStart >= sliceMs) {
            await this.flush(run);
            run.onProgress?.(this.get(status.id));
            await yieldToEventLoop();
            if (this.closed) throw new Error('stopped: the server is shutting down');
            sliceStart = performance.now();
          }
        }
        await this.flush(run);
      }
      await Promise.all(run.inFlight);
      await this.flush(run);
      await new Promise<void>((resolve) => run.out.end(resolve));
      if (run.failure !== null) throw run.failure;
      status.state = 'done';
    } catch (err) {
      await Promise.all(run.inFlight);
      run.out.destroy();
      status.state = 'failed';
      status.error = err instanceof Error ? err.message : String(err);
    } finally {
      if (run.file !== null && this.erasedMeanwhile.size > 0) {
        const { file } = run;
        const gone = new Set(this.erasedMeanwhile);
        this.rewrites = this.rewrites.then(() => rewriteWithout(file, status.format, gone)).catch(() => 0);
        await this.rewrites;
      }
      this.erasedMeanwhile.clear();
      status.seconds = Number(((performance.now() - started) / 1000).toFixed(3));
      status.finishedAt = new Date(deps.clock()).toISOString();
      this.running = null;
    }
    run.onProgress?.(this.get(status.id));
  }

  /** The list has its customers: as many treated as the limit asks. */
  private full(run: Run): boolean {
    return run.status.limit !== null && run.status.treated >= run.status.limit;
  }

  /**
   * Waits until one more decision may start; false when the list is full. One more may start
   * beside those in flight while the window has room, the limit is not reached counting them as
   * treated, and the campaign's caps and budget have room for all of them showing every offer.
   */
  private async slot(run: Run): Promise<boolean> {
    const { status, inFlight } = run;
    const window = this.deps.window ?? 64;
    for (;;) {
      if (run.failure !== null) throw run.failure;
      if (this.full(run)) return false;
      const n = inFlight.size;
      if (n === 0) return true;
      const fits =
        n < window &&
        (status.limit === null || status.treated + n < status.limit) &&
        (n + 1) * status.offers <=
          campaignRoom(run.snapshot, run.campaign, status.channel, this.deps.counters, this.deps.clock());
      if (fits) return true;
      await Promise.race(inFlight);
    }
  }

  /** Decides one customer for real, restricted to the campaign, and queues its rows. */
  private launch(run: Run, profile: CustomerProfile): void {
    const { status } = run;
    const decision = this.deps.decisions
      .decide({
        customerId: profile.id,
        channel: status.channel,
        limit: status.offers,
        campaign: status.campaign,
        profile,
      })
      .then(
        (result) => {
          status.decided++;
          const rows = rowsOf(result);
          if (result.engine.offers.length > 0) status.treated++;
          else if (rows.length > 0) status.control++;
          else status.excluded++;
          for (const row of rows) {
            if (row.group === 'control' && !status.withControl) continue;
            run.lines.push(lineOf(row, status.format));
            status.rows++;
          }
        },
        (err: unknown) => {
          run.failure ??= err instanceof Error ? err : new Error(String(err));
        },
      )
      .finally(() => run.inFlight.delete(decision));
    run.inFlight.add(decision);
  }

  /** Writes the lines queued, waiting for the file when it asks to. */
  private async flush(run: Run): Promise<void> {
    if (run.lines.length === 0) return;
    const chunk = run.lines.join('');
    run.lines.length = 0;
    if (!run.out.write(chunk)) await once(run.out, 'drain');
  }

  private keep(run: Run): void {
    this.runs.set(run.status.id, run);
    for (const [id, old] of this.runs) {
      if (this.runs.size <= KEPT_RUNS) break;
      if (old === this.running) continue;
      this.runs.delete(id);
      if (old.file !== null) rmSync(old.file, { force: true });
    }
  }
}

/** The campaign a request names, checked: 404 unknown, 400 for a channel it has no offers on or a bad number. */
function checked(request: SelectionRequest, snapshot: RulesetSnapshot): CompiledCampaign {
  const campaign = snapshot.campaignById.get(request.campaign);
  if (campaign === undefined)
    throw new NotFoundError(`no campaign '${request.campaign}' in the rules in force`);
  if (channelIndex(request.channel) < 0)
    throw new BadRequestError(`channel: unknown channel '${request.channel}'`);
  if (campaignOffersOn(snapshot, campaign, request.channel).length === 0)
    throw new BadRequestError(`channel: campaign '${campaign.id}' has no offers on ${request.channel}`);
  const { limit, offers } = request;
  if (limit !== undefined && (!Number.isInteger(limit) || limit < 1))
    throw new BadRequestError(`limit: must be a positive integer, got ${limit}`);
  if (offers !== undefined && (!Number.isInteger(offers) || offers < 1 || offers > 20))
    throw new BadRequestError(`offers: must be an integer from 1 to 20, got ${offers}`);
  return campaign;
}

/** Rewrites a list file without the rows of `gone` (aside, then renamed over it); answers how many went. */
async function rewriteWithout(
  file: string,
  format: SelectionFormat,
  gone: ReadonlySet<string>,
): Promise<number> {
  const aside = `${file}.${randomUUID().slice(0, 8)}.erasing`;
  const out = createWriteStream(aside);
  const input = createInterface({
    input: createReadStream(file, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let header = format === 'csv';
  let dropped = 0;
  for await (const line of input) {
    if (header) header = false;
    else if (gone.has(customerOfLine(line, format))) {
      dropped++;
      continue;
    }
    if (!out.write(`${line}\n`)) await once(out, 'drain');
  }
  await new Promise<void>((resolve, reject) =>
    out.end((err?: Error | null) => (err ? reject(err) : resolve())),
  );
  if (dropped === 0) {
    rmSync(aside, { force: true });
    return 0;
  }
  await rename(aside, file);
  return dropped;
}

/** Lines kept of a list file, header first, in chunks of about 64 KiB. */
async function* keptLines(
  file: string,
  format: SelectionFormat,
  erased: Pick<ErasedIds, 'has'> | undefined,
): AsyncIterable<string> {
  const input = createInterface({
    input: createReadStream(file, { encoding: 'utf8' }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let header = format === 'csv';
  let chunk = '';
  for await (const line of input) {
    if (header) header = false;
    else if (erased?.has(customerOfLine(line, format)) === true) continue;
    chunk += `${line}\n`;
    if (chunk.length >= 65_536) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk !== '') yield chunk;
}
