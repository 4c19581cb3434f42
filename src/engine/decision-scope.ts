import type { AffinityTable } from '../domain/affinity-table.js';
import { type AttributeValue, anonymousProfile, type CustomerProfile } from '../domain/profile.js';
import type { CompiledSegment, EvalContext } from '../ruleset/snapshot.js';

// Segment memo states; 0 is "not evaluated yet".
const IN = 1;
const OUT = 2;
const EVALUATING = 3;

const NOBODY = anonymousProfile('');

/**
 * What conditions see during one decision. Segment membership is evaluated on first use and
 * remembered, so a segment shared by many offers costs one evaluation per decision. reset()
 * readies it for the next decision, so the engine can reuse one scope instead of allocating.
 */
export class DecisionScope implements EvalContext {
  customer: Readonly<Record<string, AttributeValue>> = NOBODY.attributes;
  context: Readonly<Record<string, AttributeValue>> = NOBODY.attributes;
  holdings: ReadonlySet<string> = NOBODY.holdings;
  affinities: AffinityTable = NOBODY.affinities;
  now = 0;
  private memo = new Uint8Array(16);

  reset(
    profile: CustomerProfile,
    context: Readonly<Record<string, AttributeValue>>,
    now: number,
    segmentCount: number,
  ): this {
    this.customer = profile.attributes;
    this.context = context;
    this.holdings = profile.holdings;
    this.affinities = profile.affinities;
    this.now = now;
    if (this.memo.length < segmentCount) this.memo = new Uint8Array(segmentCount * 2);
    else this.memo.fill(0, 0, segmentCount);
    return this;
  }

  inSegment(segment: CompiledSegment): boolean {
    const i = segment.ordinal;
    if (i < 0 || i >= this.memo.length) return false;
    const state = this.memo[i];
    if (state === IN) return true;
    if (state === OUT || state === EVALUATING) return false; // cycles are rejected at compile time
    this.memo[i] = EVALUATING;
    const result = segment.when(this);
    this.memo[i] = result ? IN : OUT;
    return result;
  }

  /** The first of `segments` the customer belongs to, or null. */
  firstSegmentOf(segments: readonly CompiledSegment[]): CompiledSegment | null {
    for (const s of segments) if (this.inSegment(s)) return s;
    return null;
  }
}

/** Every segment of the snapshot the customer is in, for the dossier. */
export function segmentsOf(
  segments: readonly CompiledSegment[],
  profile: CustomerProfile,
  context: Readonly<Record<string, AttributeValue>>,
  now: number,
): CompiledSegment[] {
  const scope = new DecisionScope().reset(profile, context, now, segments.length);
  return segments.filter((s) => scope.inSegment(s));
}
