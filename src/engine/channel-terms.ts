import type { Channel } from '../domain/channel.js';
import type { CustomerProfile } from '../domain/profile.js';
import type { ChannelPolicy, RulesetSnapshot, SegmentEconomics } from '../ruleset/snapshot.js';
import type { DecisionScope } from './decision-scope.js';

/** The terms of contacting one customer on one channel, as decide() and eligibleOffers() score them. */
export interface ChannelTerms {
  /** The channel is the customer's preferred one (a reason, and the better fit). */
  preferred: boolean;
  /** The channel policy's fit for preferred or other channels. */
  fit: number;
  /** What one contact costs. */
  cost: number;
  /** Contact limits × this. */
  careIntensity: number;
}

// Reused: the engine is synchronous and never re-entered.
const terms: ChannelTerms = { preferred: false, fit: 1, cost: 0, careIntensity: 1 };

/**
 * The channel policy's terms, or those of the first segment with channel economics the customer
 * is in (its preferred channel, contact cost and care intensity). Segments are evaluated only when
 * some segment has economics; the answer is overwritten by the next call.
 */
export function channelTerms(
  snapshot: RulesetSnapshot,
  policy: ChannelPolicy,
  ch: number,
  channel: Channel,
  profile: CustomerProfile,
  scope: DecisionScope,
): ChannelTerms {
  const economics = snapshot.economicSegments.length === 0 ? null : economicsOf(snapshot, scope);
  const preferredChannel = economics?.preferredChannel ?? profile.attributes.preferredChannel;
  terms.preferred = preferredChannel === channel;
  terms.fit = terms.preferred ? policy.preferredFit : policy.otherFit;
  terms.cost = economics?.cost[ch] ?? policy.cost;
  terms.careIntensity = economics?.careIntensity ?? 1;
  return terms;
}

function economicsOf(snapshot: RulesetSnapshot, scope: DecisionScope): SegmentEconomics | null {
  for (const segment of snapshot.economicSegments) if (scope.inSegment(segment)) return segment.economics;
  return null;
}
