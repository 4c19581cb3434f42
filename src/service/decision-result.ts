import type { Channel } from '../domain/channel.js';
import type { EngineDecision } from '../engine/decide.js';
import type { DecisionLogEntry } from '../feedback/feedback-event.js';

/** A decision as the service answers it: the engine's choice with who, where, when and on which rules. */
export interface DecisionResult {
  readonly decisionId: string;
  readonly customerId: string;
  readonly customerKnown: boolean;
  readonly channel: Channel;
  readonly placement: string | null;
  readonly rulesetVersion: string;
  readonly decidedAt: number;
  readonly degraded: boolean;
  readonly engine: EngineDecision;
}

const NOTHING_OPENED: ReadonlySet<string> = new Set();

/** What the decision log keeps of a decision; `opens`: the offers that opened an episode of their campaign. */
export function logEntryOf(
  d: DecisionResult,
  opens: ReadonlySet<string> = NOTHING_OPENED,
  stage: string | null = null,
): DecisionLogEntry {
  return {
    decisionId: d.decisionId,
    customerId: d.customerId,
    channel: d.channel,
    placement: d.placement,
    rulesetVersion: d.rulesetVersion,
    at: d.decidedAt,
    limit: d.engine.limit,
    explored: d.engine.explored,
    ...(stage === null ? {} : { stage }),
    offers: d.engine.offers.map((c) => ({
      offerId: c.offer.id,
      campaignId: c.offer.campaign.id,
      segmentId: c.segmentId,
      score: c.score,
      propensity: c.propensity,
      prior: c.prior,
      probability: c.probability,
      ...(opens.has(c.offer.id) ? { opens: true as const } : {}),
    })),
    heldOut: d.engine.heldOut.map((h) => ({
      offerId: h.offer.id,
      campaignId: h.offer.campaign.id,
      segmentId: h.segmentId,
      score: h.score,
      propensity: h.propensity,
      prior: h.prior,
      probability: 0,
      ...(opens.has(h.offer.id) ? { opens: true as const } : {}),
    })),
  };
}
