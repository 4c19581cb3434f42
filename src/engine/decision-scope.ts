import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import type { CompiledSegment, EvalContext } from '../ruleset/snapshot.js';

// 0: not evaluated yet
const IN = 1;
const OUT = 2;
const EVALUATING = 3;

/**
 * What conditions see during one decision. Segment membership is evaluated on first use and
 * remembered, so a segment shared by many offers costs one evaluation per decision.
 */
export class DecisionScope implements EvalContext {
  readonly customer: Readonly<Record<string, AttributeValue>>;
  readonly holdings: ReadonlySet<string>;
  readonly affinities: ReadonlyMap<string, number>;
  private memo: Uint8Array | null = null;

  constructor(
    profile: CustomerProfile,
    readonly context: Readonly<Record<string, AttributeValue>>,
    readonly now: number,
    private readonly segmentCount: number,
  ) {
    this.customer = profile.attributes;
    this.holdings = profile.holdings;
    this.affinities = profile.affinities;
  }

  inSegment(segment: CompiledSegment): boolean {
    if (segment.ordinal < 0) return false;
    this.memo ??= new Uint8Array(this.segmentCount);
    const state = this.memo[segment.ordinal];
    if (state === IN) return true;
    if (state === OUT || state === EVALUATING) return false; // cycles are rejected at compile time
    this.memo[segment.ordinal] = EVALUATING;
    const result = segment.when(this);
    this.memo[segment.ordinal] = result ? IN : OUT;
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
  const scope = new DecisionScope(profile, context, now, segments.length);
  return segments.filter((s) => scope.inSegment(s));
}
