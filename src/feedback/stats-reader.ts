import { OfferloopError } from '../errors.js';
import type { FeedbackStats } from './feedback-effects.js';

/** Counters of one UTC day: counter field → amount (summed over shards). */
export type DayCounters = ReadonlyMap<string, number>;

/**
 * Reads the aggregates the feedback consumers keep per offer × channel × segment × UTC day (see
 * counterField in feedback-effects.ts), for reports and learning. A day without counters comes
 * back as an empty map, never missing.
 */
export interface StatsReader {
  read(days: readonly number[]): Promise<Map<number, DayCounters>>;
}

/** The embedded mode's counters, kept in process by MemoryFeedbackLog. */
export class MemoryStatsReader implements StatsReader {
  constructor(private readonly stats: FeedbackStats) {}

  read(days: readonly number[]): Promise<Map<number, DayCounters>> {
    const out = new Map<number, DayCounters>();
    for (const day of days) out.set(day, this.stats.day(day));
    return Promise.resolve(out);
  }
}

/** The counters could not be read (Redis down or too slow); nothing is wrong with the request. */
export class StatsUnavailableError extends OfferloopError {
  constructor(reason: string) {
    super('stats_unavailable', 503, `feedback counters are unavailable, try again later: ${reason}`);
  }
}
