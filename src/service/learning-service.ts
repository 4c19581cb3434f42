import type { Logger } from 'pino';
import type { LearningConfig } from '../config.js';
import { dayOf } from '../feedback/feedback-effects.js';
import type { DayCounters, StatsReader } from '../feedback/stats-reader.js';
import { LearnedModel, type LearningSettings } from '../learning/learned-model.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { RulesetSnapshot } from '../ruleset/snapshot.js';

export interface LearningServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly stats: StatsReader;
  readonly config: LearningConfig;
  readonly log: Logger;
  readonly clock: () => number;
}

/**
 * Keeps the learned model in memory and refreshes it from the feedback counters on a timer. The
 * decision path only ever reads `model()`: it never waits for Redis, and while the counters cannot
 * be read the last model keeps serving.
 *
 * Days before yesterday no longer change (an event counts on the day it happened, and reactions
 * arrive within the attribution window, a day by default), so each is read once and kept; a
 * refresh reads only today and yesterday.
 */
export class LearningService {
  private counters: ReadonlyMap<string, number> = new Map();
  private learned: LearnedModel | null = null;
  private aside: LearnedModel | null = null;
  private readonly settledDays = new Map<number, DayCounters>();
  /** The settled days summed, recomputed only when that set of days changes (once a day). */
  private settledSum: ReadonlyMap<string, number> = new Map();
  private timer: NodeJS.Timeout | null = null;
  private refreshing: Promise<void> | null = null;
  private failures = 0;
  private readonly settings: LearningSettings;

  constructor(private readonly deps: LearningServiceDeps) {
    this.settings = {
      priorStrength: deps.config.priorStrength,
      minSegmentImpressions: deps.config.minSegmentImpressions,
    };
  }

  /**
   * Starts the timer; the first refresh runs at once, in the background, unless a model was built
   * already (the demo's history ends with one).
   */
  start(): this {
    if (!this.deps.config.enabled || this.timer !== null) return this;
    if (this.learned === null) void this.refresh();
    this.timer = setInterval(() => void this.refresh(), this.deps.config.refreshMs).unref();
    return this;
  }

  /** The model for the ruleset in force; rebuilt from the last counters when the ruleset changed. */
  model(snapshot: RulesetSnapshot = this.deps.rules.current): LearnedModel | undefined {
    if (!this.deps.config.enabled) return undefined;
    const learned = this.learned;
    if (learned !== null && learned.snapshot === snapshot) return learned;
    if (snapshot !== this.deps.rules.current) return this.modelAside(snapshot);
    // A reload: a few milliseconds once, rather than serving a model of offers that no longer exist.
    this.learned = LearnedModel.build(snapshot, this.counters, this.settings, learned?.builtAt ?? 0);
    return this.learned;
  }

  /**
   * The model of a ruleset not in force (a candidate's preview, a challenger's decisions, or a
   * decision that began before a reload), built from the same counters and kept aside: the live
   * model is not rebuilt for it. Rebuilt when the live one was refreshed, so that a challenger
   * learns from the same counters as the champion it is compared with.
   */
  private modelAside(snapshot: RulesetSnapshot): LearnedModel {
    const builtAt = this.learned?.builtAt ?? 0;
    if (this.aside?.snapshot !== snapshot || this.aside.builtAt !== builtAt)
      this.aside = LearnedModel.build(snapshot, this.counters, this.settings, builtAt);
    return this.aside;
  }

  /** Reads the counters and swaps in a new model. Concurrent calls share one refresh. */
  refresh(): Promise<void> {
    this.refreshing ??= this.readAndBuild().finally(() => {
      this.refreshing = null;
    });
    return this.refreshing;
  }

  status(): { enabled: boolean; builtAt: number | null; cells: number; failures: number } {
    return {
      enabled: this.deps.config.enabled,
      builtAt: this.learned && this.learned.builtAt > 0 ? this.learned.builtAt : null,
      cells: this.learned?.cells.length ?? 0,
      failures: this.failures,
    };
  }

  close(): void {
    if (this.timer !== null) clearInterval(this.timer);
    this.timer = null;
  }

  private async readAndBuild(): Promise<void> {
    const now = this.deps.clock();
    const today = dayOf(now);
    const first = today - this.deps.config.days + 1;
    const recent = today - 1;
    let changed = false;
    for (const day of this.settledDays.keys()) {
      if (day < first || day >= recent) {
        this.settledDays.delete(day);
        changed = true;
      }
    }
    const wanted: number[] = [];
    for (let day = first; day <= today; day++) {
      if (day >= recent || !this.settledDays.has(day)) wanted.push(day);
    }
    let read: Map<number, DayCounters>;
    try {
      read = await this.deps.stats.read(wanted);
    } catch (err) {
      this.failures++;
      this.deps.log.warn(
        { err },
        'learning refresh could not read the feedback counters; keeping the last model',
      );
      return;
    }
    for (const [day, counters] of read) {
      if (day < recent) {
        this.settledDays.set(day, counters);
        changed = true;
      }
    }
    // Summing 30 days of counters is most of a refresh's work; the settled ones are summed once.
    if (changed) this.settledSum = sumOf(this.settledDays.values());
    const sum = new Map(this.settledSum);
    for (let day = recent; day <= today; day++) {
      for (const [field, amount] of read.get(day) ?? []) sum.set(field, (sum.get(field) ?? 0) + amount);
    }
    this.counters = sum;
    this.learned = LearnedModel.build(this.deps.rules.current, sum, this.settings, now);
  }
}

function sumOf(days: Iterable<DayCounters>): Map<string, number> {
  const sum = new Map<string, number>();
  for (const counters of days) {
    for (const [field, amount] of counters) sum.set(field, (sum.get(field) ?? 0) + amount);
  }
  return sum;
}
