import type { Channel } from '../domain/channel.js';
import type { CapUsage, ContactEvent } from '../domain/contact.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import type { LearnedModel } from '../learning/learned-model.js';
import type { CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';
import type { Creative } from '../ruleset/source.js';

// The decision's input and output: the engine's contract with the service, and the words its
// steps (contact-policy, screen, exploration, reasons) share without importing decide.ts.

export interface DecisionRequest {
  readonly channel: Channel;
  /** Null: any placement of the channel. */
  readonly placement: string | null;
  readonly limit: number;
  readonly context: Readonly<Record<string, AttributeValue>>;
  /** Also report every candidate that was not chosen, with why. Costs a full walk of the catalog. */
  readonly explain: boolean;
  /** Only this campaign's offers are candidates (an outbound selection); absent or null: every campaign's. */
  readonly campaign?: string | null | undefined;
}

export interface DecisionInput {
  readonly snapshot: RulesetSnapshot;
  readonly profile: CustomerProfile;
  /** The customer's recent contacts, newest last or in any order. */
  readonly history: readonly ContactEvent[];
  readonly usage: CapUsage;
  readonly request: DecisionRequest;
  /** Epoch ms. The engine never reads the clock itself. */
  readonly now: number;
  /**
   * What feedback has taught (see learning/learned-model.ts); ignored unless it was built for
   * `snapshot`. Without it every propensity is the customer's affinity or the offer's base propensity.
   */
  readonly learned?: LearnedModel | undefined;
  /** Without it, or with share 0, the decision is greedy. */
  readonly exploration?: Exploration | undefined;
}

/**
 * ε-greedy exploration. With probability `share` a decision explores: its last slot shows an offer
 * drawn uniformly from the K candidates of the channel and placement instead of the greedy choice,
 * if that offer is eligible (otherwise the slot stays empty). Drawing from the static candidate list,
 * not from the eligible offers, is what makes every shown offer's probability exact and cheap:
 * 1 for the greedy offers before the last slot, 1 − ε + ε/K for the last greedy offer, ε/K for an
 * explored one. Knowing the eligible set would need every candidate screened on every decision.
 */
export interface Exploration {
  /** ε in [0, 1]. */
  readonly share: number;
  /** Uniform in [0, 1). */
  readonly random: () => number;
}

/** Why an offer was not shown. Outcomes are data, not exceptions. */
export type WhyNot =
  | 'no_consent'
  | 'contact_cap'
  | 'unprofitable'
  | 'not_yet_valid'
  | 'expired'
  | 'campaign_not_active'
  | 'holds_product'
  | 'duplicate_group'
  | 'suppressed_after_reject'
  | 'suppressed_after_accept'
  | 'suppressed_after_purchase'
  | 'offer_cap'
  | 'campaign_cap'
  | 'budget_exhausted'
  | 'not_in_target_segment'
  | 'not_eligible'
  | 'control_group'
  | 'global_holdout'
  | 'ranked_out';

export interface ChosenOffer {
  readonly offer: CompiledOffer;
  readonly rank: number;
  readonly score: number;
  readonly propensity: number;
  /** The propensity before learning: the customer's affinity, or the offer's base propensity. */
  readonly prior: number;
  /** μ(a|x): the probability with which this policy shows the offer here (see Exploration). */
  readonly probability: number;
  /** The campaign's target segment the customer qualified through; null for an untargeted campaign. */
  readonly segmentId: string | null;
  readonly reasons: readonly string[];
  readonly creative: Creative;
}

/** An offer the customer would have got, withheld because they are in the campaign's control group. */
export interface HeldOutOffer {
  readonly offer: CompiledOffer;
  readonly score: number;
  readonly propensity: number;
  readonly prior: number;
  readonly segmentId: string | null;
}

export interface Suppression {
  readonly offer: CompiledOffer;
  readonly code: WhyNot;
}

export interface EngineDecision {
  /** The offers shown, best first; an explored offer is last. */
  readonly offers: readonly ChosenOffer[];
  readonly heldOut: readonly HeldOutOffer[];
  /** Only with `explain`: every other candidate of the channel and placement, with why not. */
  readonly suppressed: readonly Suppression[] | null;
  /** How many offers the decision could show: the request's limit within the contact limits. */
  readonly limit: number;
  /** True when this decision explored. */
  readonly explored: boolean;
  /** What one contact costs on the channel for this customer: what each offer shown spends of its campaign's budget. */
  readonly cost: number;
}
