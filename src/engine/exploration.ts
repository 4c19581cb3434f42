import { stableHash32 } from '../domain/stable-hash.js';
import { inControlGroup } from '../learning/control-group.js';
import type { LearnedModel } from '../learning/learned-model.js';
import type { CompiledOffer } from '../ruleset/snapshot.js';
import type { SuppressionMap } from './contact-policy.js';
import type { DecisionScope } from './decision-scope.js';
import type {
  ChosenOffer,
  DecisionInput,
  EngineDecision,
  HeldOutOffer,
  Suppression,
  WhyNot,
} from './decision-types.js';
import { priorOf, segmentPropensity } from './propensity.js';
import { reasonsFor } from './reasons.js';
import { screen } from './screen.js';

/** What the exploring slot needs of the greedy walk. */
export interface GreedyWalk {
  readonly model: LearnedModel;
  readonly ch: number;
  readonly fit: number;
  /** What one contact costs (the channel's terms for this customer). */
  readonly cost: number;
  readonly preferred: boolean;
  readonly scope: DecisionScope;
  readonly suppressions: SuppressionMap;
}

/**
 * The exploring slot (see Exploration in decide.ts): the greedy offers keep their places but the
 * last, which an exploring decision replaces with a uniformly drawn candidate if that one is
 * eligible. Every decision, exploring or not, logs the probabilities of the same policy.
 */
export function explore(
  input: DecisionInput,
  walk: GreedyWalk,
  explored: boolean,
  share: number,
  greedy: ChosenOffer[],
  heldOut: HeldOutOffer[],
  heldOutSlots: readonly number[],
  suppressed: Suppression[] | null,
  limit: number,
  candidates: readonly CompiledOffer[],
): EngineDecision {
  const k = candidates.length;
  const full = greedy.length + heldOut.length >= limit;
  // The last slot holds a shown offer or a held-out one (control group); exploration takes it over.
  const lastHeldOut = full ? heldOutSlots.indexOf(limit - 1) : -1;
  const last = full && lastHeldOut < 0 ? greedy[greedy.length - 1]! : null;
  const kept = last !== null ? greedy.slice(0, -1) : greedy;
  const lastProbability = 1 - share + share / k;
  if (!explored) {
    if (last !== null) greedy[greedy.length - 1] = { ...last, probability: lastProbability };
    return { offers: greedy, heldOut, suppressed, limit, explored: false, cost: walk.cost };
  }
  const drawn = candidates[Math.min(k - 1, Math.floor(input.exploration!.random() * k))]!;
  if (last !== null && drawn === last.offer) {
    kept.push({ ...last, probability: lastProbability });
    return { offers: kept, heldOut, suppressed, limit, explored: true, cost: walk.cost };
  }
  if (lastHeldOut >= 0 && drawn === heldOut[lastHeldOut]!.offer) {
    return { offers: kept, heldOut, suppressed, limit, explored: true, cost: walk.cost };
  }
  if (last !== null) suppressed?.push({ offer: last.offer, code: 'ranked_out' });
  // Not shown to the treated either: the slot now belongs to the draw.
  if (lastHeldOut >= 0) heldOut.splice(lastHeldOut, 1);
  if (kept.some((c) => c.offer === drawn) || heldOut.some((h) => h.offer === drawn))
    return { offers: kept, heldOut, suppressed, limit, explored: true, cost: walk.cost };

  const { model, ch, fit, cost, scope } = walk;
  const affinity = input.profile.affinities.get(drawn.productId);
  const prior = priorOf(drawn, input.profile, scope);
  const propensity = segmentPropensity(model, ch, drawn, prior, scope);
  const score = propensity * drawn.worth * fit - cost;
  const groups = [...kept.map((c) => c.offer.group), ...heldOut.map((h) => h.offer.group)];
  const code = screen(drawn, score, cost, input, scope, walk.suppressions, groups);
  if (code !== null) return { offers: kept, heldOut, suppressed, limit, explored: true, cost: walk.cost };
  const campaign = drawn.campaign;
  const segment = campaign.segments.length > 0 ? scope.firstSegmentOf(campaign.segments) : null;
  const segmentId = segment === null ? null : segment.id;
  if (inControlGroup(stableHash32(input.profile.id), campaign.salt, campaign.controlShare)) {
    heldOut.push({ offer: drawn, score, propensity, prior, segmentId });
    resuppress(suppressed, drawn, 'control_group');
    return { offers: kept, heldOut, suppressed, limit, explored: true, cost: walk.cost };
  }
  resuppress(suppressed, drawn, null);
  const reasons = reasonsFor(input, drawn, segment, affinity !== undefined, walk.preferred);
  reasons.push('exploration');
  kept.push({
    offer: drawn,
    rank: kept.length + 1,
    score,
    propensity,
    prior,
    probability: share / k,
    segmentId,
    reasons,
    creative: drawn.creatives[ch]!,
  });
  return { offers: kept, heldOut, suppressed, limit, explored: true, cost: walk.cost };
}

/**
 * With explain, the greedy walk already gave the drawn offer a reason it was not shown (ranked out,
 * or in the group of the offer it now replaces): it is shown now (code null), or held out.
 * Guarded by exploration.test.ts "with explain, accounts for every candidate exactly once".
 */
function resuppress(suppressed: Suppression[] | null, drawn: CompiledOffer, code: WhyNot | null): void {
  if (suppressed === null) return;
  const i = suppressed.findIndex((s) => s.offer === drawn);
  if (code === null) {
    if (i >= 0) suppressed.splice(i, 1);
  } else if (i >= 0) suppressed[i] = { offer: drawn, code };
  else suppressed.push({ offer: drawn, code });
}
