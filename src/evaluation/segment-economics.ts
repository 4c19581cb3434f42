import { CHANNELS, type Channel, channelIndex } from '../domain/channel.js';
import { parseCounterField } from '../feedback/feedback-effects.js';
import type { CompiledSegment, RulesetSnapshot } from '../ruleset/snapshot.js';
import { type DayRange, dayString } from './campaign-report.js';

/** One segment on one channel over a range of days: what contacting it cost and what came of it. */
export interface SegmentChannelRow {
  /** The segment counters are kept by (the one through which a campaign reached the customer); null: none. */
  readonly segmentId: string | null;
  readonly channel: Channel;
  readonly impressions: number;
  readonly accepts: number;
  readonly conversions: number;
  readonly revenue: number;
  /** Accepts per impression; null without impressions. */
  readonly acceptRate: number | null;
  /** What one contact costs this segment on the channel: its economics, else the channel policy's. */
  readonly costPerContact: number;
  readonly contactCost: number;
  /** Contact cost per accept; null without accepts. */
  readonly costPerAccept: number | null;
  /** Revenue less contact cost. */
  readonly net: number;
}

export interface SegmentEconomicsReport {
  readonly from: string;
  readonly to: string;
  readonly rulesetVersion: string;
  /** Each segment's declared economics (null: the channel policies apply). */
  readonly segments: readonly {
    readonly id: string;
    readonly preferredChannel: Channel | null;
    readonly careIntensity: number;
    readonly contactCost: Partial<Record<Channel, number>>;
  }[];
  /** A row per segment and channel with any impression, by segment then channel. */
  readonly rows: readonly SegmentChannelRow[];
}

const TRACKED = new Set(['impressions', 'accepts', 'conversions', 'revenue']);

/**
 * Channel economics per segment, from the feedback counters of a range of days: contacts, accepts,
 * conversions and revenue per segment × channel, priced at what a contact costs that segment on
 * that channel. Counters of segments no longer in the ruleset are priced at the channel's cost.
 */
export function segmentEconomicsReport(input: {
  readonly snapshot: RulesetSnapshot;
  readonly counters: ReadonlyMap<number, ReadonlyMap<string, number>>;
  readonly range: DayRange;
}): SegmentEconomicsReport {
  const { snapshot, counters, range } = input;
  const sums = new Map<
    string,
    { segmentId: string | null; channel: Channel; amounts: Map<string, number> }
  >();
  for (const day of counters.values()) {
    for (const [field, amount] of day) {
      const parsed = parseCounterField(field);
      if (
        parsed === null ||
        !TRACKED.has(parsed.metric) ||
        !(CHANNELS as readonly string[]).includes(parsed.channel)
      )
        continue;
      const key = `${parsed.segmentId ?? '-'}|${parsed.channel}`;
      let sum = sums.get(key);
      if (sum === undefined) {
        sum = { segmentId: parsed.segmentId, channel: parsed.channel as Channel, amounts: new Map() };
        sums.set(key, sum);
      }
      sum.amounts.set(parsed.metric, (sum.amounts.get(parsed.metric) ?? 0) + amount);
    }
  }
  const rows: SegmentChannelRow[] = [];
  for (const { segmentId, channel, amounts } of sums.values()) {
    const impressions = amounts.get('impressions') ?? 0;
    if (impressions === 0) continue;
    const accepts = amounts.get('accepts') ?? 0;
    const revenue = amounts.get('revenue') ?? 0;
    const segment = segmentId === null ? undefined : snapshot.segmentById.get(segmentId);
    const costPerContact = costOf(snapshot, segment, channel);
    const contactCost = impressions * costPerContact;
    rows.push({
      segmentId,
      channel,
      impressions,
      accepts,
      conversions: amounts.get('conversions') ?? 0,
      revenue,
      acceptRate: accepts / impressions,
      costPerContact,
      contactCost,
      costPerAccept: accepts === 0 ? null : contactCost / accepts,
      net: revenue - contactCost,
    });
  }
  rows.sort(
    (a, b) =>
      (a.segmentId ?? '').localeCompare(b.segmentId ?? '') ||
      channelIndex(a.channel) - channelIndex(b.channel),
  );
  return {
    from: dayString(range.from),
    to: dayString(range.to),
    rulesetVersion: snapshot.version,
    segments: snapshot.segments.map((s) => ({
      id: s.id,
      preferredChannel: s.economics?.preferredChannel ?? null,
      careIntensity: s.economics?.careIntensity ?? 1,
      contactCost: Object.fromEntries(
        CHANNELS.flatMap((channel, ch) => {
          const cost = s.economics?.cost[ch];
          return cost === null || cost === undefined ? [] : [[channel, cost]];
        }),
      ),
    })),
    rows,
  };
}

function costOf(snapshot: RulesetSnapshot, segment: CompiledSegment | undefined, channel: Channel): number {
  const ch = channelIndex(channel);
  return segment?.economics?.cost[ch] ?? snapshot.policies[ch]!.cost;
}
