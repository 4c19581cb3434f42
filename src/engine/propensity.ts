import type { CustomerProfile } from '../domain/profile.js';
import { cellOf, type LearnedModel } from '../learning/learned-model.js';
import { calibrated } from '../learning/response-rate.js';
import type { CompiledOffer } from '../ruleset/snapshot.js';
import { expressionPropensity } from './affinity-queue.js';
import type { DecisionScope } from './decision-scope.js';

/** The propensity before learning: the offer's expression, the affinity, or the base propensity. */
export function priorOf(offer: CompiledOffer, profile: CustomerProfile, scope: DecisionScope): number {
  if (offer.propensity !== null) return expressionPropensity(offer, scope);
  return profile.affinities.get(offer.productId) ?? offer.basePropensity;
}

/** The prior calibrated with what the model learned for the offer on `ch` in the customer's segment. */
export function segmentPropensity(
  model: LearnedModel,
  ch: number,
  offer: CompiledOffer,
  prior: number,
  scope: DecisionScope,
): number {
  return calibrated(prior, model.ratio(cellOf(offer, ch), segmentOrdinal(offer, scope)));
}

/** The ordinal of the campaign segment the customer qualifies through, -1 for none. */
function segmentOrdinal(offer: CompiledOffer, scope: DecisionScope): number {
  const segments = offer.campaign.segments;
  if (segments.length === 0) return -1;
  const segment = scope.firstSegmentOf(segments);
  return segment === null ? -1 : segment.ordinal;
}
