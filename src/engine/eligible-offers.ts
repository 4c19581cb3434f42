import { channelIndex } from '../domain/channel.js';
import { stableHash32 } from '../domain/stable-hash.js';
import { GLOBAL_HOLDOUT_SALT, inControlGroup } from '../learning/control-group.js';
import type { CompiledOffer } from '../ruleset/snapshot.js';
import { candidateListFor, modelFor } from './candidates.js';
import { channelTerms } from './channel-terms.js';
import { contactRoom, offerSuppressions } from './contact-policy.js';
import { DecisionScope } from './decision-scope.js';
import type { DecisionInput } from './decision-types.js';
import { priorOf, segmentPropensity } from './propensity.js';
import { screen } from './screen.js';

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
  const scope = new DecisionScope().reset(profile, request.context, now, snapshot.segments.length);
  const { fit, cost, careIntensity } = channelTerms(snapshot, policy, ch, request.channel, profile, scope);
  const consented = !policy.requiresConsent || profile.consent[request.channel] === true;
  if (!consented || contactRoom(input, policy, snapshot.globalPolicy, careIntensity) <= 0) return [];
  const suppressions = offerSuppressions(
    input.history,
    policy,
    snapshot.globalPolicy,
    now,
    snapshot.offerById,
  );
  const hash = stableHash32(profile.id);
  if (inControlGroup(hash, GLOBAL_HOLDOUT_SALT, snapshot.globalHoldout)) return [];
  const out: CompiledOffer[] = [];
  for (const offer of candidateListFor(model, ch, request.placement).byStaticScore) {
    const prior = priorOf(offer, profile, scope);
    const propensity = segmentPropensity(model, ch, offer, prior, scope);
    const score = propensity * offer.worth * fit - cost;
    if (screen(offer, score, cost, input, scope, suppressions, []) !== null) continue;
    if (!withHeldOut && inControlGroup(hash, offer.campaign.salt, offer.campaign.controlShare)) continue;
    out.push(offer);
  }
  return out;
}
