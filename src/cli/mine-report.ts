import { profileRecordSchema } from '../domain/profile-schema.js';
import { formatCount } from './progress.js';

/** What `offerloop mine` did, printed as text or as one JSON line (--json). */
export interface MineSummary {
  readonly input: {
    readonly file: string;
    readonly bytes: number;
    readonly layout: 'long' | 'baskets';
    readonly lines: number;
    readonly rows: number;
    readonly transactions: number;
    readonly items: number;
    readonly customers: number;
  };
  readonly minSupport: number;
  readonly minCount: number;
  readonly itemsets: { readonly total: number; readonly byLength: readonly number[] };
  readonly rules: { readonly file: string; readonly count: number };
  readonly affinities: AffinitiesSummary | null;
  readonly profiles: ProfilesSummary | null;
  readonly seconds: {
    readonly read: number;
    readonly mine: number;
    readonly rules: number;
    readonly affinities: number;
    readonly total: number;
  };
  readonly memory: {
    readonly peakRssMB: number;
    readonly peakHeapMB: number;
    readonly peakArrayBuffersMB: number;
  };
}

export interface AffinitiesSummary {
  readonly file: string;
  readonly customers: number;
  readonly withAffinities: number;
  readonly affinities: number;
  readonly skippedIds: number;
}

export interface ProfilesSummary {
  readonly file: string;
  readonly profiles: number;
  readonly merged: number;
  readonly appended: number;
}

/** The thresholds the report quotes. */
export interface ReportedThresholds {
  readonly minSupport: number;
  readonly minConfidence: number;
  readonly minLift?: number;
}

const MAX_ID = profileRecordSchema.properties.id.maxLength;

/** The summary as lines of text for a person. */
export function formatMineSummary(s: MineSummary, o: ReportedThresholds): string {
  const lines = [
    `read ${s.input.file} (${s.input.layout} format, ${(s.input.bytes / 1e6).toFixed(1)} MB): ` +
      `${formatCount(s.input.transactions)} transactions, ${formatCount(s.input.rows)} items of ` +
      `${formatCount(s.input.items)} products` +
      (s.input.customers > 0 ? `, ${formatCount(s.input.customers)} customers` : '') +
      ` in ${s.seconds.read.toFixed(1)} s`,
    `minimum support ${o.minSupport} = ${formatCount(s.minCount)} transactions: ${formatCount(s.itemsets.total)} ` +
      `frequent itemsets (${s.itemsets.byLength.map((n, i) => `${i + 1}: ${formatCount(n)}`).join(', ') || 'none'}) ` +
      `in ${s.seconds.mine.toFixed(1)} s`,
    `wrote ${s.rules.file}: ${formatCount(s.rules.count)} rules (confidence ≥ ${o.minConfidence}` +
      `${o.minLift ? `, lift ≥ ${o.minLift}` : ''}) in ${s.seconds.rules.toFixed(1)} s`,
  ];
  if (s.affinities !== null) {
    lines.push(
      `wrote ${s.affinities.file}: ${formatCount(s.affinities.customers)} customers, ` +
        `${formatCount(s.affinities.withAffinities)} with affinities (${formatCount(s.affinities.affinities)} in all)` +
        (s.affinities.skippedIds > 0
          ? `; ${formatCount(s.affinities.skippedIds)} customer ids longer than ${MAX_ID} characters skipped`
          : '') +
        ` in ${s.seconds.affinities.toFixed(1)} s`,
    );
  } else {
    lines.push('no customer ids in the input: no affinities written');
  }
  if (s.profiles !== null) {
    lines.push(
      `wrote ${s.profiles.file}: ${formatCount(s.profiles.profiles)} profiles, ${formatCount(s.profiles.merged)} ` +
        `with mined affinities merged, ${formatCount(s.profiles.appended)} appended for customers the profiles lacked`,
    );
  }
  lines.push(
    `total ${s.seconds.total.toFixed(1)} s; peak RSS ${s.memory.peakRssMB} MB, heap ${s.memory.peakHeapMB} MB ` +
      `(sampled between phases)`,
    '',
  );
  return lines.join('\n');
}
