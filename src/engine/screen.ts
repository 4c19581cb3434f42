import type { CompiledOffer } from '../ruleset/snapshot.js';
import { type SuppressionMap, suppressionOf } from './contact-policy.js';
import type { DecisionScope } from './decision-scope.js';
import type { DecisionInput, WhyNot } from './decision-types.js';

/**
 * The per-offer checks, cheapest first; the offer's own condition runs last. Null: the offer may be
 * shown. `groups`: the groups of the offers already in the slate (one offer per group).
 */
export function screen(
  offer: CompiledOffer,
  score: number,
  cost: number,
  input: DecisionInput,
  scope: DecisionScope,
  suppressions: SuppressionMap,
  groups: readonly string[],
): WhyNot | null {
  const now = input.now;
  const campaign = offer.campaign;
  if (score <= 0) return 'unprofitable';
  if (now < offer.validFrom) return 'not_yet_valid';
  if (now > offer.validTo) return 'expired';
  if (now < campaign.start || now > campaign.end) return 'campaign_not_active';
  if (input.profile.holdings.has(offer.productId)) return 'holds_product';
  if (groups.includes(offer.group)) return 'duplicate_group';
  if (suppressions !== null) {
    const code = suppressionOf(suppressions, offer);
    if (code !== undefined) return code;
  }
  const usage = input.usage;
  if (offer.capTotal !== Number.POSITIVE_INFINITY && usage.offerTotal(offer.id) >= offer.capTotal)
    return 'offer_cap';
  if (offer.capPerDay !== Number.POSITIVE_INFINITY && usage.offerToday(offer.id, now) >= offer.capPerDay)
    return 'offer_cap';
  if (
    campaign.capTotal !== Number.POSITIVE_INFINITY &&
    usage.campaignTotal(campaign.id) >= campaign.capTotal
  ) {
    return 'campaign_cap';
  }
  if (
    campaign.capPerDay !== Number.POSITIVE_INFINITY &&
    usage.campaignToday(campaign.id, now) >= campaign.capPerDay
  ) {
    return 'campaign_cap';
  }
  if (campaign.budget !== null && usage.campaignSpend(campaign.id) + cost > campaign.budget)
    return 'budget_exhausted';
  if (campaign.segments.length > 0 && scope.firstSegmentOf(campaign.segments) === null)
    return 'not_in_target_segment';
  if (offer.when !== null && !offer.when(scope)) return 'not_eligible';
  return null;
}
