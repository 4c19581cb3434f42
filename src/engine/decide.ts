import { type Channel, channelIndex } from '../domain/channel.js';
import type { CapUsage, ContactEvent } from '../domain/contact.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import { GLOBAL_HOLDOUT_SALT, inControlGroup, stableHash32 } from '../learning/control-group.js';
import { cellOf, LearnedModel } from '../learning/learned-model.js';
import { calibrated } from '../learning/response-rate.js';
import type {
  CandidateList,
  ChannelPolicy,
  CompiledOffer,
  CompiledSegment,
  RulesetSnapshot,
} from '../ruleset/snapshot.js';
import type { Creative } from '../ruleset/source.js';
import { AffinityQueue, expressionPropensity } from './affinity-queue.js';
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
  const model = modelFor(snapshot, input.learned);
  const candidates = candidateList(model, ch, request.placement);
  const explain = request.explain;
  const suppressed: Suppression[] | null = explain ? [] : null;

  // Contact limits count impressions, so a decision shows no more offers than the limits have room for.
  const consented = !policy.requiresConsent || profile.consent[request.channel] === true;
  const limit = Math.min(request.limit, contactRoom(input, policy, snapshot.globalPolicy));
  const blocked: WhyNot | null = !consented ? 'no_consent' : limit <= 0 ? 'contact_cap' : null;
  if (blocked !== null) {
    if (suppressed) for (const offer of candidates.byStaticScore) suppressed.push({ offer, code: blocked });
    return { offers: [], heldOut: [], suppressed, limit: Math.max(0, limit), explored: false };
  }

  const preferred = profile.attributes.preferredChannel === request.channel;
  const fit = preferred ? policy.preferredFit : policy.otherFit;
  const cost = policy.cost;
  const suppressions = offerSuppressions(input.history, policy, snapshot.globalPolicy, now);
  const scope = decisionScope.reset(profile, request.context, now, snapshot.segments.length);

  // The customer's hash only when a holdout or a control group asks: most decisions need neither.
  let customerHash = -1;
  let holdout = false;
  if (snapshot.globalHoldout > 0) {
    customerHash = stableHash32(profile.id);
    holdout = inControlGroup(customerHash, GLOBAL_HOLDOUT_SALT, snapshot.globalHoldout);
  }
  const boosted = affinityQueue;
  boosted.fill(candidates, profile.affinities, fit, cost, model, ch, scope);
  const others = candidates.byStaticScore;
  const staticPropensity = model.staticPropensity;
  let s = 0;
  const offers: ChosenOffer[] = [];
  const heldOut: HeldOutOffer[] = [];
  // Each held-out offer's place in the slate the customer would have seen (see explore()).
  const heldOutSlots: number[] = [];
  const groups: string[] = [];

  for (;;) {
    while (s < others.length && boosted.queued(others[s]!)) s++;
    const nextOther = s < others.length ? others[s]! : null;
    const otherScore = nextOther
      ? staticPropensity[cellOf(nextOther, ch)]! * nextOther.worth * fit - cost
      : 0;
    let offer: CompiledOffer;
    let prior: number;
    let propensity: number;
    let score: number;
    let exact: boolean;
    const b = boosted.best();
    const fromBoosted =
      b >= 0 &&
      (nextOther === null ||
        boosted.score(b) > otherScore ||
        (boosted.score(b) === otherScore && boosted.offer(b).ordinal < nextOther.ordinal));
    if (fromBoosted) {
      offer = boosted.offer(b);
      prior = boosted.prior(b);
      propensity = boosted.propensity(b);
      score = boosted.score(b);
      exact = boosted.exact(b);
      boosted.remove(b);
    } else if (nextOther !== null) {
      offer = nextOther;
      prior = nextOther.basePropensity;
      propensity = staticPropensity[cellOf(nextOther, ch)]!;
      score = otherScore;
      exact = model.bySegment[cellOf(nextOther, ch)] == null;
      s++;
    } else {
      break;
    }

    // The walk is in score order: past the limit, or below zero, nothing better can follow.
    // Held-out offers keep their slots: the control group's slate is the treated's with holes.
    const taken = offers.length + heldOut.length;
    if (!explain && (taken >= limit || score <= 0)) break;
    if (!exact) {
      // Scored with the best ratio of any of its segments (an upper bound, to keep the walk in
      // order): now with the ratio of the customer's segment, and back into the queue.
      const exactPropensity = calibrated(prior, model.ratio(cellOf(offer, ch), segmentOrdinal(offer, scope)));
      boosted.push(offer, prior, exactPropensity, exactPropensity * offer.worth * fit - cost, true);
      continue;
    }
    const code = screen(offer, score, cost, input, scope, suppressions, groups);
    if (code !== null) {
      if (suppressed) suppressed.push({ offer, code });
      continue;
    }
    if (taken >= limit) {
      suppressed?.push({ offer, code: taken >= request.limit ? 'ranked_out' : 'contact_cap' });
      continue;
    }
    const campaign = offer.campaign;
    // Memoised in the scope: screen() evaluated the campaign's segments already.
    const segment = campaign.segments.length > 0 ? scope.firstSegmentOf(campaign.segments) : null;
    const segmentId = segment === null ? null : segment.id;
    let withheld: WhyNot | null = holdout ? 'global_holdout' : null;
    if (withheld === null && campaign.controlShare > 0) {
      if (customerHash < 0) customerHash = stableHash32(profile.id);
      if (inControlGroup(customerHash, campaign.salt, campaign.controlShare)) withheld = 'control_group';
    }
    if (withheld !== null) {
      // Logged in its slot but not shown, and not replaced: the baseline uplift is measured against.
      // A next-best offer in its place would be shown only to control groups, and would make every
      // other campaign's treated group a mix of first and second choices (its control group holds
      // first choices only); the simulator measured that bias before this rule.
      heldOutSlots.push(taken);
      heldOut.push({ offer, score, propensity, prior, segmentId });
      suppressed?.push({ offer, code: withheld });
      groups.push(offer.group);
      continue;
    }
    groups.push(offer.group);
    offers.push({
      offer,
      rank: offers.length + 1,
      score,
      propensity,
      prior,
      probability: 1,
      segmentId,
      // Not fromBoosted alone: an offer without an affinity, rescored for the customer's segment,
      // comes back through the queue. Guarded by decide-learned.test.ts "the ratio of their segment".
      reasons: reasonsFor(
        input,
        offer,
        segment,
        fromBoosted && profile.affinities.has(offer.productId),
        preferred,
      ),
      creative: offer.creatives[ch]!,
    });
  }
  const share = input.exploration?.share ?? 0;
  if (share <= 0 || holdout || limit <= 0 || others.length === 0) {
    return { offers, heldOut, suppressed, limit, explored: false };
  }
  const explored = input.exploration!.random() < share;
  const walk: Walk = { model, ch, fit, preferred, scope, suppressions };
  return explore(input, walk, explored, share, offers, heldOut, heldOutSlots, suppressed, limit, others);
}

/**
 * The exploring slot (see Exploration): the greedy offers keep their places but the last, which an
 * exploring decision replaces with a uniformly drawn candidate if that one is eligible. Every
 * decision, exploring or not, logs the probabilities of the same policy.
 */
function explore(
  input: DecisionInput,
  walk: Walk,
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
    return { offers: greedy, heldOut, suppressed, limit, explored: false };
  }
  const drawn = candidates[Math.min(k - 1, Math.floor(input.exploration!.random() * k))]!;
  if (last !== null && drawn === last.offer) {
    kept.push({ ...last, probability: lastProbability });
    return { offers: kept, heldOut, suppressed, limit, explored: true };
  }
  if (lastHeldOut >= 0 && drawn === heldOut[lastHeldOut]!.offer) {
    return { offers: kept, heldOut, suppressed, limit, explored: true };
  }
  if (last !== null) suppressed?.push({ offer: last.offer, code: 'ranked_out' });
  // Not shown to the treated either: the slot now belongs to the draw.
  if (lastHeldOut >= 0) heldOut.splice(lastHeldOut, 1);
  if (kept.some((c) => c.offer === drawn) || heldOut.some((h) => h.offer === drawn))
    return { offers: kept, heldOut, suppressed, limit, explored: true };

  const { model, ch, fit, scope } = walk;
  const cost = input.snapshot.policies[ch]!.cost;
  const affinity = input.profile.affinities.get(drawn.productId);
  const prior = priorOf(drawn, input.profile, scope);
  const propensity = calibrated(prior, model.ratio(cellOf(drawn, ch), segmentOrdinal(drawn, scope)));
  const score = propensity * drawn.worth * fit - cost;
  const groups = [...kept.map((c) => c.offer.group), ...heldOut.map((h) => h.offer.group)];
  const code = screen(drawn, score, cost, input, scope, walk.suppressions, groups);
  if (code !== null) return { offers: kept, heldOut, suppressed, limit, explored: true };
  const campaign = drawn.campaign;
  const segment = campaign.segments.length > 0 ? scope.firstSegmentOf(campaign.segments) : null;
  const segmentId = segment === null ? null : segment.id;
  if (inControlGroup(stableHash32(input.profile.id), campaign.salt, campaign.controlShare)) {
    heldOut.push({ offer: drawn, score, propensity, prior, segmentId });
    resuppress(suppressed, drawn, 'control_group');
    return { offers: kept, heldOut, suppressed, limit, explored: true };
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
  return { offers: kept, heldOut, suppressed, limit, explored: true };
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

/**
 * Every candidate the customer could be shown on their own: screened like a decision's offers but
 * without the one-per-group rule, and without the offers the campaigns' control groups hold out
 * (unless `withHeldOut`: a policy that picks one of those shows nothing in its slot, as the engine
 * does). For reference policies (random choice, the oracle) in simulation and evaluation, not for
 * the hot path.
 */
export function eligibleOffers(input: DecisionInput, withHeldOut = false): CompiledOffer[] {
  const { snapshot, profile, request, now } = input;
  const ch = channelIndex(request.channel);
  const policy = snapshot.policies[ch]!;
  const model = modelFor(snapshot, input.learned);
  const consented = !policy.requiresConsent || profile.consent[request.channel] === true;
  if (!consented || contactRoom(input, policy, snapshot.globalPolicy) <= 0) return [];
  const fit = profile.attributes.preferredChannel === request.channel ? policy.preferredFit : policy.otherFit;
  const suppressions = offerSuppressions(input.history, policy, snapshot.globalPolicy, now);
  const scope = new DecisionScope().reset(profile, request.context, now, snapshot.segments.length);
  const hash = stableHash32(profile.id);
  if (inControlGroup(hash, GLOBAL_HOLDOUT_SALT, snapshot.globalHoldout)) return [];
  const out: CompiledOffer[] = [];
  for (const offer of candidateList(model, ch, request.placement).byStaticScore) {
    const prior = priorOf(offer, profile, scope);
    const propensity = calibrated(prior, model.ratio(cellOf(offer, ch), segmentOrdinal(offer, scope)));
    const score = propensity * offer.worth * fit - policy.cost;
    if (screen(offer, score, policy.cost, input, scope, suppressions, []) !== null) continue;
    if (!withHeldOut && inControlGroup(hash, offer.campaign.salt, offer.campaign.controlShare)) continue;
    out.push(offer);
  }
  return out;
}

/** What the exploring slot needs of the greedy walk. */
interface Walk {
  readonly model: LearnedModel;
  readonly ch: number;
  readonly fit: number;
  readonly preferred: boolean;
  readonly scope: DecisionScope;
  readonly suppressions: SuppressionMap;
}

/** The ordinal of the campaign segment the customer qualifies through, -1 for none. */
function segmentOrdinal(offer: CompiledOffer, scope: DecisionScope): number {
  const segments = offer.campaign.segments;
  if (segments.length === 0) return -1;
  const segment = scope.firstSegmentOf(segments);
  return segment === null ? -1 : segment.ordinal;
}

// The model that learned nothing, one per snapshot, for decisions without a learned model.
const identities = new WeakMap<RulesetSnapshot, LearnedModel>();

function modelFor(snapshot: RulesetSnapshot, learned: LearnedModel | undefined): LearnedModel {
  if (learned !== undefined && learned.snapshot === snapshot) return learned;
  let identity = identities.get(snapshot);
  if (identity === undefined) {
    identity = LearnedModel.identity(snapshot);
    identities.set(snapshot, identity);
  }
  return identity;
}

function candidateList(model: LearnedModel, ch: number, placement: string | null): CandidateList {
  const index = model.channels[ch]!;
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

/** The propensity before learning: the offer's expression, the affinity, or the base propensity. */
function priorOf(offer: CompiledOffer, profile: CustomerProfile, scope: DecisionScope): number {
  if (offer.propensity !== null) return expressionPropensity(offer, scope);
  return profile.affinities.get(offer.productId) ?? offer.basePropensity;
}
