import { channelIndex } from '../domain/channel.js';
import { stableHash32 } from '../domain/stable-hash.js';
import { GLOBAL_HOLDOUT_SALT, inControlGroup } from '../learning/control-group.js';
import { cellOf } from '../learning/learned-model.js';
import type { CompiledOffer } from '../ruleset/snapshot.js';
import { AffinityQueue } from './affinity-queue.js';
import { candidateListFor, modelFor } from './candidates.js';
import { channelTerms } from './channel-terms.js';
import { contactRoom, offerSuppressions } from './contact-policy.js';
import { DecisionScope } from './decision-scope.js';
import type {
  ChosenOffer,
  DecisionInput,
  EngineDecision,
  HeldOutOffer,
  Suppression,
  WhyNot,
} from './decision-types.js';
import { explore, type GreedyWalk } from './exploration.js';
import { segmentPropensity } from './propensity.js';
import { reasonsFor } from './reasons.js';
import { screen } from './screen.js';

export type {
  ChosenOffer,
  DecisionInput,
  DecisionRequest,
  EngineDecision,
  Exploration,
  HeldOutOffer,
  Suppression,
  WhyNot,
} from './decision-types.js';

// decide() is synchronous and never re-entered, so one queue and one scope serve every decision.
const affinityQueue = new AffinityQueue();
const decisionScope = new DecisionScope();

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
  // 1. The model that scores and the candidates of the channel and placement.
  const ch = channelIndex(request.channel);
  const policy = snapshot.policies[ch]!;
  const model = modelFor(snapshot, input.learned);
  const candidates = candidateListFor(model, ch, request.placement, request.campaign ?? null);
  const explain = request.explain;
  const suppressed: Suppression[] | null = explain ? [] : null;

  // 2. The channel's terms for this customer (fit, contact cost, care intensity: the policy's, or
  // a segment's economics), consent and contact limits. Limits count impressions, so a decision
  // shows no more offers than the limits have room for.
  const scope = decisionScope.reset(profile, request.context, now, snapshot.segments.length);
  const terms = channelTerms(snapshot, policy, ch, request.channel, profile, scope);
  const { preferred, fit, cost } = terms;
  const consented = !policy.requiresConsent || profile.consent[request.channel] === true;
  const room = contactRoom(input, policy, snapshot.globalPolicy, terms.careIntensity);
  const limit = Math.min(request.limit, room);
  const blocked: WhyNot | null = !consented ? 'no_consent' : limit <= 0 ? 'contact_cap' : null;
  if (blocked !== null) {
    if (suppressed) for (const offer of candidates.byStaticScore) suppressed.push({ offer, code: blocked });
    return { offers: [], heldOut: [], suppressed, limit: Math.max(0, limit), explored: false, cost };
  }

  // 3. What holds for every candidate: suppressions, the global holdout.
  const suppressions = offerSuppressions(
    input.history,
    policy,
    snapshot.globalPolicy,
    now,
    snapshot.offerById,
  );

  // The customer's hash only when a holdout or a control group asks: most decisions need neither.
  let customerHash = -1;
  let holdout = false;
  if (snapshot.globalHoldout > 0) {
    customerHash = stableHash32(profile.id);
    holdout = inControlGroup(customerHash, GLOBAL_HOLDOUT_SALT, snapshot.globalHoldout);
  }
  // 4. The greedy walk, best score first: screen each candidate, hold out the control groups'
  // offers, stop at the limit.
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
      const exactPropensity = segmentPropensity(model, ch, offer, prior, scope);
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
  // 5. Exploration: the last slot, sometimes, goes to a uniformly drawn candidate.
  const share = input.exploration?.share ?? 0;
  if (share <= 0 || holdout || limit <= 0 || others.length === 0) {
    return { offers, heldOut, suppressed, limit, explored: false, cost };
  }
  const explored = input.exploration!.random() < share;
  const walk: GreedyWalk = { model, ch, fit, cost, preferred, scope, suppressions };
  return explore(input, walk, explored, share, offers, heldOut, heldOutSlots, suppressed, limit, others);
}
