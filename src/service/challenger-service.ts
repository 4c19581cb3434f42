import type { Logger } from 'pino';
import { BadRequestError, NotFoundError } from '../errors.js';
import { daysOf } from '../evaluation/campaign-report.js';
import { type ChallengerReport, challengerReport } from '../evaluation/challenger-report.js';
import { dayOf } from '../feedback/feedback-effects.js';
import type { Arm } from '../feedback/feedback-event.js';
import type { StatsReader } from '../feedback/stats-reader.js';
import { inChallengerShare } from '../learning/challenger-share.js';
import { buildRuleset } from '../ruleset/load.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { RulesetSnapshot } from '../ruleset/snapshot.js';
import type { ChallengerStore, StoredChallenger } from '../store/challenger-store.js';
import type { CandidateService } from './candidate-service.js';
import { type ReportRangeQuery, reportRange } from './report-service.js';

/**
 * The arm a decision is made in, while a test runs: the champion decides on the ruleset in force,
 * the challenger on its own snapshot. One object per arm and test, so that a decision allocates nothing.
 */
export type ChallengerArm =
  | { readonly arm: Extract<Arm, 'champion'>; readonly snapshot: null }
  | { readonly arm: Extract<Arm, 'challenger'>; readonly snapshot: RulesetSnapshot };

const CHAMPION: ChallengerArm = Object.freeze({ arm: 'champion', snapshot: null });

/** The test as the API shows it. */
export interface ChallengerView {
  readonly candidate: string;
  readonly version: string;
  readonly share: number;
  readonly since: string;
  readonly by: string;
  /** The champion: the version in force on this server. */
  readonly championVersion: string;
}

export interface PromoteResult {
  readonly candidate: string;
  /** The version now in force on every server. */
  readonly version: string;
  readonly previous: string;
  readonly changed: boolean;
}

export interface ChallengerServiceDeps {
  readonly store: ChallengerStore;
  readonly candidates: Pick<CandidateService, 'withFiles'>;
  readonly rules: Pick<RulesetHolder, 'current' | 'promote'>;
  readonly stats: StatsReader;
  readonly clock: () => number;
  readonly log: Logger;
}

/**
 * Champion/challenger: a candidate ruleset decides for a stable share of customers
 * (learning/challenger-share.ts) while the ruleset in force decides for the rest; decisions carry
 * their arm and version into the log, and the report compares the arms customer by customer.
 * The test lives in the shared store; each change is announced, and every server reads it again
 * and compiles the challenger once. Promoting serves the challenger's files on every server
 * through the ruleset holder (history cause `promote`) and ends the test.
 */
export class ChallengerService {
  /** The test this server serves; read by every decision, so kept ready: one field. */
  private active: { readonly test: StoredChallenger; readonly challenger: ChallengerArm } | null = null;
  /** Refreshes in flight are numbered: only the newest one's answer is applied. */
  private refreshes = 0;

  constructor(private readonly deps: ChallengerServiceDeps) {}

  /** Serves the test in the store now, and every change announced from here on. */
  async open(): Promise<this> {
    await this.deps.store.onAnnounce(() => {
      this.refresh().catch((err: unknown) =>
        this.deps.log.warn({ err }, 'challenger test not read again; this server keeps the last one it read'),
      );
    });
    await this.refresh();
    return this;
  }

  /** The hot path: null when no test runs (nothing else is looked at), else the customer's arm. */
  armOf(customerId: string): ChallengerArm | null {
    const active = this.active;
    if (active === null) return null;
    return inChallengerShare(customerId, active.test.share) ? active.challenger : CHAMPION;
  }

  /**
   * Starts a test (or replaces the one running) of candidate `name` on `share` of customers: 400
   * for a share that is not a number in [0, 1], 404 for an unknown candidate, 422 (file, line) for
   * one that no longer compiles; nothing changes then.
   */
  async start(name: string, share: unknown, by: string): Promise<ChallengerView> {
    if (typeof share !== 'number' || !Number.isFinite(share) || share < 0 || share > 1) {
      throw new BadRequestError(`body.share must be a number from 0 to 1, got ${JSON.stringify(share)}`);
    }
    const { files, snapshot } = await this.deps.candidates.withFiles(name);
    const test: StoredChallenger = {
      candidate: name,
      version: snapshot.version,
      files,
      share,
      since: this.deps.clock(),
      by,
    };
    await this.deps.store.put(test);
    this.serve(test, snapshot);
    await this.deps.store.announce();
    return this.viewOf(test);
  }

  /** The test running, as the store has it; null when none. */
  async current(): Promise<ChallengerView | null> {
    const test = await this.deps.store.get();
    return test === null ? null : this.viewOf(test);
  }

  /** Ends the test: every customer is decided on the ruleset in force again. 404 when none runs. */
  async stop(): Promise<void> {
    if (!(await this.deps.store.clear())) throw new NotFoundError('no challenger test is running');
    this.serve(null, null);
    await this.deps.store.announce();
  }

  /** Serves the challenger's files on every server, and ends the test. 404 when none runs. */
  async promote(by: string): Promise<PromoteResult> {
    const test = await this.deps.store.get();
    if (test === null) throw new NotFoundError('no challenger test is running: there is nothing to promote');
    const previous = this.deps.rules.current.version;
    const promoted = await this.deps.rules.promote(test.files, by);
    await this.deps.store.clear();
    this.serve(null, null);
    await this.deps.store.announce();
    return { candidate: test.candidate, version: promoted.version, previous, changed: promoted.changed };
  }

  /** Champion against challenger over a range of days (report scope). */
  async report(
    query: ReportRangeQuery,
  ): Promise<ChallengerReport & { readonly test: ChallengerView | null }> {
    const range = reportRange(query, dayOf(this.deps.clock()));
    const [counters, test] = await Promise.all([this.deps.stats.read(daysOf(range)), this.current()]);
    return { test, ...challengerReport({ counters, range }) };
  }

  /** Reads the test again (announced by a server): compiles the challenger unless this server has it. */
  private async refresh(): Promise<void> {
    const n = ++this.refreshes;
    const test = await this.deps.store.get();
    if (n !== this.refreshes) return;
    if (test === null) return this.serve(null, null);
    const active = this.active;
    const snapshot =
      active !== null && active.test.version === test.version && active.challenger.snapshot !== null
        ? active.challenger.snapshot
        : buildRuleset(test.files, test.since);
    this.serve(test, snapshot);
  }

  /** What this server serves from now on; a refresh still in flight is outdated by it. */
  private serve(test: StoredChallenger | null, snapshot: RulesetSnapshot | null): void {
    this.refreshes++;
    this.active =
      test === null || snapshot === null
        ? null
        : { test, challenger: Object.freeze({ arm: 'challenger', snapshot }) };
  }

  private viewOf(test: StoredChallenger): ChallengerView {
    return {
      candidate: test.candidate,
      version: test.version,
      share: test.share,
      since: new Date(test.since).toISOString(),
      by: test.by,
      championVersion: this.deps.rules.current.version,
    };
  }
}
