import type { Channel } from '../domain/channel.js';
import type { Arm, FeedbackEvent, FeedbackType, FeedbackVerdict } from './feedback-event.js';

/**
 * Which events count, and for which decision. Pure: the embedded log calls judge() directly; the
 * Redis intake script (redis-feedback-log.ts) applies the same rules in the same order inside
 * Redis, and feedback-log.contract.int.test.ts runs one table of cases through both.
 */
export interface AttributionWindows {
  /** Impressions, clicks, accepts, rejects and dismissals count up to this long after the decision. */
  readonly reactionMs: number;
  /** Conversions count up to this long after the decision. */
  readonly conversionMs: number;
}

/** Channels' clocks are not ours: an event may look this much earlier or later than it was. */
export const CLOCK_SKEW_MS = 5 * 60_000;

/** Reactions that answer an offer once and for all; two different ones contradict each other. */
export const TERMINAL: ReadonlySet<FeedbackType> = new Set(['accept', 'reject', 'dismiss']);

/** An offer of a decision, as attribution sees it. */
export interface OfferFacts {
  readonly campaignId: string;
  readonly segmentId: string | null;
  /** Withheld because the customer is in the campaign's control group. */
  readonly heldOut: boolean;
  /** The champion/challenger arm of the decision; absent when no test ran. */
  readonly arm?: Arm;
}

/** What attribution needs of a decision: who it was for, when, and what it showed or withheld. */
export interface DecisionFacts {
  readonly customerId: string;
  readonly channel: Channel;
  readonly at: number;
  readonly offers: ReadonlyMap<string, OfferFacts>;
}

/** What was recorded for a decision so far. */
export interface ReactionState {
  /** The event id was accepted before. */
  readonly seen: boolean;
  /** The terminal reaction (accept, reject, dismiss) already recorded for the event's offer. */
  readonly terminal: FeedbackType | null;
  /** A non-terminal event of the same type (impression, click, convert) was recorded for the offer. */
  readonly repeated: boolean;
}

export const ACCEPTED: FeedbackVerdict = Object.freeze({ status: 'accepted', reason: null });

const verdict = (status: FeedbackVerdict['status'], reason: string): FeedbackVerdict => ({ status, reason });

/** The verdict on one event; `receivedAt` is when the server got it. The order of checks is the contract. */
export function judge(
  event: FeedbackEvent,
  decision: DecisionFacts | null,
  state: ReactionState,
  windows: AttributionWindows,
  receivedAt: number,
): FeedbackVerdict {
  if (state.seen) return verdict('duplicate', `event ${event.eventId} was recorded before`);
  if (decision === null) {
    return verdict('unknown_decision', 'no such decision, or it is older than the attribution window');
  }
  if (decision.customerId !== event.customerId) {
    return verdict('conflict', 'customerId is not the customer of the decision');
  }
  const offer = decision.offers.get(event.offerId);
  if (offer === undefined)
    return verdict('unknown_offer', 'the decision neither showed nor held out this offer');
  if (event.at < decision.at - CLOCK_SKEW_MS) return verdict('conflict', 'timestamp is before the decision');
  if (event.at > receivedAt + CLOCK_SKEW_MS) return verdict('conflict', 'timestamp is in the future');
  const window = event.type === 'convert' ? windows.conversionMs : windows.reactionMs;
  if (event.at > decision.at + window) {
    return verdict('too_late', `${event.type} came after the attribution window of ${window / 3_600_000} h`);
  }
  if (offer.heldOut && event.type !== 'convert') {
    return verdict('conflict', 'the offer was held out (control group) and never shown');
  }
  if (TERMINAL.has(event.type)) {
    if (state.terminal === event.type)
      return verdict('duplicate', `the offer was already ${pastTense(event.type)}`);
    if (state.terminal !== null)
      return verdict('conflict', `the offer was already ${pastTense(state.terminal)}`);
  } else if (state.repeated) {
    return verdict('duplicate', `a ${event.type} of this offer was already recorded`);
  }
  return ACCEPTED;
}

function pastTense(type: FeedbackType): string {
  return type === 'dismiss' ? 'dismissed' : `${type}ed`;
}
