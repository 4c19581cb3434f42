import type { Channel } from '../domain/channel.js';
import type { ChosenOffer, EngineDecision } from '../engine/decide.js';
import type { Arm, DecisionLogEntry, LoggedOffer } from '../feedback/feedback-event.js';

/** A decision as the service answers it: the engine's choice with who, where, when and on which rules. */
export interface DecisionResult {
  /** Empty for a preview, which is not logged and so cannot be referred to. */
  readonly decisionId: string;
  readonly customerId: string;
  readonly customerKnown: boolean;
  readonly channel: Channel;
  readonly placement: string | null;
  /** The version of the ruleset decided on: the one in force, or a challenger's or a candidate's. */
  readonly rulesetVersion: string;
  /** The arm of a champion/challenger test the customer is in; absent when no test runs. */
  readonly arm?: Arm;
  readonly decidedAt: number;
  readonly degraded: boolean;
  /** What the customer would get, with nothing recorded (DecideCommand.preview). */
  readonly preview: boolean;
  readonly engine: EngineDecision;
}

const NOTHING_OPENED: ReadonlySet<string> = new Set();

/** What the decision log keeps of a decision; `opens`: the offers that opened an episode of their campaign. */
export function logEntryOf(
  d: DecisionResult,
  opens: ReadonlySet<string> = NOTHING_OPENED,
  stage: string | null = null,
): DecisionLogEntry {
  const entry: Mutable<DecisionLogEntry> = {
    decisionId: d.decisionId,
    customerId: d.customerId,
    channel: d.channel,
    placement: d.placement,
    rulesetVersion: d.rulesetVersion,
    at: d.decidedAt,
    limit: d.engine.limit,
    explored: d.engine.explored,
    offers: d.engine.offers.map((c) => loggedOffer(c, c.probability, opens)),
    heldOut: d.engine.heldOut.map((h) => loggedOffer(h, 0, opens)),
  };
  if (stage !== null) entry.stage = stage;
  if (d.arm !== undefined) entry.arm = d.arm;
  return entry;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** An offer as logged; `opens` only where it opened an episode (most offers do not carry the field). */
function loggedOffer(
  c: Pick<ChosenOffer, 'offer' | 'segmentId' | 'score' | 'propensity' | 'prior'>,
  probability: number,
  opens: ReadonlySet<string>,
): LoggedOffer {
  const logged: Mutable<LoggedOffer> = {
    offerId: c.offer.id,
    campaignId: c.offer.campaign.id,
    segmentId: c.segmentId,
    score: c.score,
    propensity: c.propensity,
    prior: c.prior,
    probability,
  };
  if (opens.has(c.offer.id)) logged.opens = true;
  return logged;
}
