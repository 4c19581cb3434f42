import { type Channel, channelIndex } from '../domain/channel.js';
import type { CapUsage, ContactEvent } from '../domain/contact.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import { inControlGroup, stableHash32 } from '../learning/control-group.js';
import type {
  CandidateList,
  ChannelPolicy,
  CompiledOffer,
  CompiledSegment,
  RulesetSnapshot,
} from '../ruleset/snapshot.js';
import type { Creative } from '../ruleset/source.js';
import { AffinityQueue } from './affinity-queue.js';
import { DecisionScope } from './decision-scope.js';

// decide() is synchronous and never re-entered, so one queue and one scope serve every decision.
const affinityQueue = new AffinityQueue();
const decisionScope = new DecisionScope();

export interface DecisionRequest {
  readonly channel: Channel;
  /** Null: any placement of the channel. */
  readonly placement: string | null;
  readonly limit: number;
  readonly context: Readonly<Record<string, AttributeValue>>;
  /** Also report every candidate that was not chosen, with why. Costs a full walk of the catalog. */
  readonly explain: boolean;
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
  | 'offer_cap'
  | 'campaign_cap'
  | 'budget_exhausted'
  | 'not_in_target_segment'
  | 'not_eligible'
  | 'control_group'
  | 'ranked_out';

export interface ChosenOffer {
  readonly offer: CompiledOffer;
  readonly rank: number;
  readonly score: number;
  readonly propensity: number;
  /** Probability with which this policy shows the offer here; 1 while arbitration is greedy. */
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
  readonly segmentId: string | null;
}

export interface Suppression {
  readonly offer: CompiledOffer;
  readonly code: WhyNot;
}

export interface EngineDecision {
  readonly offers: readonly ChosenOffer[];
  readonly heldOut: readonly HeldOutOffer[];
  /** Only with `explain`: every other candidate of the channel and placement, with why not. */
  readonly suppressed: readonly Suppression[] | null;
}

/**
 * The decision pipeline: candidates → eligibility → contact policy → control group → scoring →
 * arbitration. Synchronous and pure: everything it needs is in `input`, it returns data.
 *
 * Candidates are walked best score first, merging two sorted lists: offers for products the
 * customer has an affinity for (scored per customer) and all others (whose order is precomputed
 * per snapshot, since without an affinity the score does not depend on the customer). Without
 * `explain` the walk stops once `limit` offers are chosen, so a decision usually evaluates a
 * handful of conditions however large the catalog is.
 */
export function decide(input: DecisionInput): EngineDecision {
  const { snapshot, profile, request, now } = input;
  const ch = channelIndex(request.channel);
  const policy = snapshot.policies[ch]!;
  const candidates = candidateList(snapshot, ch, request.placement);
  const explain = request.explain;
  const suppressed: Suppression[] | null = explain ? [] : null;

  // Contact limits count impressions, so a decision shows no more offers than the limits have room for.
  const consented = !policy.requiresConsent || profile.consent[request.channel] === true;
  const limit = Math.min(request.limit, contactRoom(input, policy, snapshot.globalPolicy));
  const blocked: WhyNot | null = !consented ? 'no_consent' : limit <= 0 ? 'contact_cap' : null;
  if (blocked !== null) {
    if (suppressed) for (const offer of candidates.byStaticScore) suppressed.push({ offer, code: blocked });
    return { offers: [], heldOut: [], suppressed };
  }

  const preferred = profile.attributes.preferredChannel === request.channel;
  const fit = preferred ? policy.preferredFit : policy.otherFit;
  const cost = policy.cost;
  const suppressions = offerSuppressions(input.history, policy, snapshot.globalPolicy, now);
  const scope = decisionScope.reset(profile, request.context, now, snapshot.segments.length);

  const boosted = affinityQueue;
  boosted.fill(candidates, profile.affinities, fit, cost);
  const others = candidates.byStaticScore;
  let s = 0;
  const offers: ChosenOffer[] = [];
  const heldOut: HeldOutOffer[] = [];
  const groups: string[] = [];
  let customerHash = -1;

  for (;;) {
    while (s < others.length && boosted.queued(others[s]!)) s++;
    const nextOther = s < others.length ? others[s]! : null;
    const otherScore = nextOther ? nextOther.basePropensity * nextOther.worth * fit - cost : 0;
    let offer: CompiledOffer;
    let propensity: number;
    let score: number;
    const b = boosted.best();
    const fromBoosted =
      b >= 0 &&
      (nextOther === null ||
        boosted.score(b) > otherScore ||
        (boosted.score(b) === otherScore && boosted.offer(b).ordinal < nextOther.ordinal));
    if (fromBoosted) {
      offer = boosted.offer(b);
      propensity = boosted.propensity(b);
      score = boosted.score(b);
      boosted.remove(b);
    } else if (nextOther !== null) {
      offer = nextOther;
      propensity = nextOther.basePropensity;
      score = otherScore;
      s++;
    } else {
      break;
    }

    // The walk is in score order: past the limit, or below zero, nothing better can follow.
    if (!explain && (offers.length >= limit || score <= 0)) break;
    const code = screen(offer, score, cost, input, scope, suppressions, groups);
    if (code !== null) {
      if (suppressed) suppressed.push({ offer, code });
      continue;
    }
    if (offers.length >= limit) {
      suppressed?.push({ offer, code: offers.length >= request.limit ? 'ranked_out' : 'contact_cap' });
      continue;
    }
    const campaign = offer.campaign;
    // Memoised in the scope: screen() evaluated the campaign's segments already.
    const segment = campaign.segments.length > 0 ? scope.firstSegmentOf(campaign.segments) : null;
    const segmentId = segment === null ? null : segment.id;
    if (campaign.controlShare > 0) {
      if (customerHash < 0) customerHash = stableHash32(profile.id);
      if (inControlGroup(customerHash, campaign.salt, campaign.controlShare)) {
        heldOut.push({ offer, score, propensity, segmentId });
        suppressed?.push({ offer, code: 'control_group' });
        continue;
      }
    }
    groups.push(offer.group);
    offers.push({
      offer,
      rank: offers.length + 1,
      score,
      propensity,
      probability: 1,
      segmentId,
      reasons: reasonsFor(offer, segment, fromBoosted, preferred),
      creative: offer.creatives[ch]!,
    });
  }
  return { offers, heldOut, suppressed };
}

function candidateList(snapshot: RulesetSnapshot, ch: number, placement: string | null): CandidateList {
  const index = snapshot.channels[ch]!;
  if (placement === null) return index.all;
  return index.byPlacement.get(placement) ?? index.unlisted;
}

/** How many more offers this customer may be shown on the channel now, under the channel's and the global limits. */
function contactRoom(input: DecisionInput, policy: ChannelPolicy, global: ChannelPolicy): number {
  return Math.min(
    roomUnder(input.history, policy, input.request.channel, input.now),
    roomUnder(input.history, global, null, input.now),
  );
}

function roomUnder(
  history: readonly ContactEvent[],
  policy: ChannelPolicy,
  channel: Channel | null,
  now: number,
): number {
  let room = Number.POSITIVE_INFINITY;
  for (const limit of policy.limits) {
    const since = now - limit.windowMs;
    let count = 0;
    for (const e of history) {
      if (
        e.outcome === 'impression' &&
        e.at > since &&
        e.at <= now &&
        (channel === null || e.channel === channel)
      ) {
        count++;
      }
    }
    room = Math.min(room, limit.max - count);
  }
  return room;
}

type SuppressionMap = ReadonlyMap<string, WhyNot> | null;

/** Offers suppressed by a recent reject or accept (on any channel), by offer id. */
function offerSuppressions(
  history: readonly ContactEvent[],
  policy: ChannelPolicy,
  global: ChannelPolicy,
  now: number,
): SuppressionMap {
  if (history.length === 0) return null;
  const afterReject = Math.max(policy.suppressAfterRejectMs, global.suppressAfterRejectMs);
  const afterAccept = Math.max(policy.suppressAfterAcceptMs, global.suppressAfterAcceptMs);
  let map: Map<string, WhyNot> | null = null;
  for (const e of history) {
    const window = e.outcome === 'accept' ? afterAccept : e.outcome === 'reject' ? afterReject : 0;
    if (window > 0 && e.at > now - window && e.at <= now) {
      map ??= new Map();
      // An accept outranks a reject: it explains the suppression better.
      if (e.outcome === 'accept' || !map.has(e.offerId)) {
        map.set(e.offerId, e.outcome === 'accept' ? 'suppressed_after_accept' : 'suppressed_after_reject');
      }
    }
  }
  return map;
}

/** The per-offer checks, cheapest first; the offer's own condition runs last. */
function screen(
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
    const code = suppressions.get(offer.id);
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

function reasonsFor(
  offer: CompiledOffer,
  segment: CompiledSegment | null,
  hasAffinity: boolean,
  preferred: boolean,
): string[] {
  const reasons = [offer.campaign.reason];
  if (segment !== null) reasons.push(segment.reason);
  if (offer.when !== null) reasons.push('eligibility_rule');
  reasons.push(hasAffinity ? offer.affinityReason : 'base_propensity');
  if (preferred) reasons.push('preferred_channel');
  return reasons;
}
