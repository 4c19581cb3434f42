import { BadRequestError, NotFoundError } from '../errors.js';
import {
  type CampaignReport,
  type CampaignsReport,
  campaignReport,
  campaignsReport,
  type DayRange,
  dayString,
  daysOf,
  type GroupBy,
} from '../evaluation/campaign-report.js';
import { type PlanReport, planReport } from '../evaluation/plan-report.js';
import {
  type SegmentReport,
  type SegmentsReport,
  segmentReport,
  segmentsReport,
} from '../evaluation/segment-assumptions.js';
import { type SegmentEconomicsReport, segmentEconomicsReport } from '../evaluation/segment-economics.js';
import { dayOf } from '../feedback/feedback-effects.js';
import type { StatsReader } from '../feedback/stats-reader.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import { DAY_MS, parseDate } from '../ruleset/time.js';

/** The days a report covers, as the query names them: `YYYY-MM-DD`, UTC, inclusive. */
export interface ReportRangeQuery {
  readonly from?: string;
  readonly to?: string;
}

export interface CampaignReportQuery extends ReportRangeQuery {
  readonly groupBy?: GroupBy;
}

/** Without a `from`, a report covers the 30 days up to `to`. */
export const DEFAULT_REPORT_DAYS = 30;
/** A year, leap day included; longer reports are asked for in pieces. */
export const MAX_REPORT_DAYS = 366;

export interface ReportServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly stats: StatsReader;
  readonly clock: () => number;
}

/** Campaign evaluation: the feedback counters of a range of days, read against the ruleset in force. */
export class ReportService {
  constructor(private readonly deps: ReportServiceDeps) {}

  async campaign(id: string, query: CampaignReportQuery): Promise<CampaignReport> {
    const range = reportRange(query, dayOf(this.deps.clock()));
    // One snapshot for the whole report, whatever reloads meanwhile.
    const snapshot = this.deps.rules.current;
    const campaign = snapshot.campaignById.get(id);
    if (campaign === undefined) throw new NotFoundError(`no campaign '${id}' in the ruleset in force`);
    const counters = await this.deps.stats.read(daysOf(range));
    return campaignReport({ snapshot, campaign, counters, range, groupBy: query.groupBy ?? null });
  }

  async campaigns(query: ReportRangeQuery): Promise<CampaignsReport> {
    const range = reportRange(query, dayOf(this.deps.clock()));
    const snapshot = this.deps.rules.current;
    const counters = await this.deps.stats.read(daysOf(range));
    return campaignsReport({ snapshot, counters, range });
  }

  /** The plan: campaign results rolled up to the factors they serve and the goals of those. */
  async plan(query: ReportRangeQuery): Promise<PlanReport> {
    const range = reportRange(query, dayOf(this.deps.clock()));
    const snapshot = this.deps.rules.current;
    const counters = await this.deps.stats.read(daysOf(range));
    return planReport({ snapshot, counters, range });
  }

  /** Channel economics per segment: contacts, their cost and what came of them, per segment × channel. */
  async channelEconomics(query: ReportRangeQuery): Promise<SegmentEconomicsReport> {
    const range = reportRange(query, dayOf(this.deps.clock()));
    const snapshot = this.deps.rules.current;
    const counters = await this.deps.stats.read(daysOf(range));
    return segmentEconomicsReport({ snapshot, counters, range });
  }

  /** Every segment's response against the rest of the population, and its assumptions checked. */
  async segments(query: ReportRangeQuery): Promise<SegmentsReport> {
    const range = reportRange(query, dayOf(this.deps.clock()));
    const snapshot = this.deps.rules.current;
    const counters = await this.deps.stats.read(daysOf(range));
    return segmentsReport({ snapshot, counters, range });
  }

  /** One segment against the rest, per campaign, offer and channel. */
  async segment(id: string, query: ReportRangeQuery): Promise<SegmentReport> {
    const range = reportRange(query, dayOf(this.deps.clock()));
    const snapshot = this.deps.rules.current;
    const segment = snapshot.segmentById.get(id);
    if (segment === undefined) throw new NotFoundError(`no segment '${id}' in the ruleset in force`);
    const counters = await this.deps.stats.read(daysOf(range));
    return segmentReport({ snapshot, segment, counters, range });
  }
}

/**
 * The day range of a query, given today's UTC day number: `to` defaults to today, `from` to 29 days
 * before `to`. A date that does not exist, `from` after `to`, or more than MAX_REPORT_DAYS days is
 * a 400 that says which.
 */
export function reportRange(query: ReportRangeQuery, today: number): DayRange {
  const to = query.to === undefined ? today : dayParam('to', query.to);
  const from = query.from === undefined ? to - (DEFAULT_REPORT_DAYS - 1) : dayParam('from', query.from);
  if (from > to) {
    throw new BadRequestError(
      `querystring.from (${dayString(from)}) is after querystring.to (${dayString(to)})`,
    );
  }
  const days = to - from + 1;
  if (days > MAX_REPORT_DAYS) {
    throw new BadRequestError(
      `a report covers at most ${MAX_REPORT_DAYS} days; from..to spans ${days}: ask for it in pieces`,
    );
  }
  return { from, to };
}

function dayParam(name: string, text: string): number {
  const ms = /^\d{4}-\d{2}-\d{2}$/.test(text) ? parseDate(text) : null;
  if (ms === null) throw new BadRequestError(`querystring.${name} must be a date YYYY-MM-DD, got '${text}'`);
  return Math.floor(ms / DAY_MS);
}
