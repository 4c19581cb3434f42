import type { CompiledOffer, CompiledSegment } from '../ruleset/snapshot.js';
import type { DecisionInput } from './decision-types.js';

/** Why a shown offer was chosen: its campaign, segment, rules and propensity source, as reason codes. */
export function reasonsFor(
  input: DecisionInput,
  offer: CompiledOffer,
  segment: CompiledSegment | null,
  hasAffinity: boolean,
  preferred: boolean,
): string[] {
  const reasons = [offer.campaign.reason];
  if (segment !== null) reasons.push(segment.reason);
  if (offer.when !== null) reasons.push('eligibility_rule');
  if (offer.propensity !== null) {
    reasons.push('propensity_rule');
    // What the customer holds makes a mined rule fire for this product: the dossier lists it.
    if (input.snapshot.associations.best(offer.productId, input.profile.holdings) !== undefined)
      reasons.push(offer.associationReason);
  } else {
    reasons.push(hasAffinity ? offer.affinityReason : 'base_propensity');
  }
  if (preferred) reasons.push('preferred_channel');
  return reasons;
}
