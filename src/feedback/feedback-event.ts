import type { Channel } from '../domain/channel.js';

/** What a channel reports about an offer it showed. */
export const FEEDBACK_TYPES = ['impression', 'click', 'accept', 'reject', 'convert', 'dismiss'] as const;
export type FeedbackType = (typeof FEEDBACK_TYPES)[number];

/**
 * One reaction to one offer of one decision, as the log keeps it: `eventId` is the client's
 * idempotency key, `at` the time it happened (epoch ms; the receipt time when the client sent none).
 */
export interface FeedbackEvent {
  readonly eventId: string;
  readonly decisionId: string;
  readonly offerId: string;
  readonly customerId: string;
  readonly type: FeedbackType;
  /** Revenue of a conversion, or any number the channel attaches; null when absent. */
  readonly value: number | null;
  readonly at: number;
}

/** An offer a decision showed (or withheld), as the decision log keeps it. */
export interface LoggedOffer {
  readonly offerId: string;
  readonly campaignId: string;
  /** The campaign's target segment through which the customer qualified; null: untargeted campaign. */
  readonly segmentId: string | null;
  readonly score: number;
  readonly propensity: number;
  /**
   * The propensity before learning: the customer's affinity for the product, or the offer's base
   * propensity. Learning compares responses with it (see learning/learned-model.ts). Absent in
   * entries written before learning existed.
   */
  readonly prior?: number;
  /**
   * μ(a|x): the probability with which the policy showed this offer in this decision, exploration
   * included (see engine/exploration.ts); 0 for a held-out offer. Off-policy evaluation divides by it.
   */
  readonly probability: number;
  /**
   * This offer's decision began an episode of its campaign for the customer (no episode open:
   * see customer-attribution.ts): the customer is counted once for the campaign from here.
   */
  readonly opens?: true;
}

/**
 * A business outcome an order system, a branch or the web shop reports about a customer and a
 * product, with no decision: `purchase` (the customer now holds the product), `cancel` (no longer
 * does) and `lead` (a form or a call-back request: the person, maybe still anonymous, is a lead,
 * interested in the product if it names one). Attributed to the customer's recent decisions by
 * customer-attribution.ts.
 */
export const OUTCOME_TYPES = ['purchase', 'cancel', 'lead'] as const;
export type OutcomeType = (typeof OUTCOME_TYPES)[number];

export interface OutcomeEvent {
  readonly eventId: string;
  readonly customerId: string;
  readonly type: OutcomeType;
  /** The product; null only for a lead that names no product of interest. */
  readonly productId: string | null;
  /** Revenue of a purchase (or what a cancel loses); null when absent. */
  readonly value: number | null;
  readonly at: number;
  /** The channel it happened on, when it is one of ours; null: elsewhere (see `source`). */
  readonly channel: Channel | null;
  /** The reporting system, e.g. `order-system`, `branch`; null when not given. */
  readonly source: string | null;
}

/** What a client submits to the log: a reaction to an offer, or an outcome. */
export type SubmittedEvent = FeedbackEvent | OutcomeEvent;

const OUTCOME_TYPE_SET: ReadonlySet<string> = new Set(OUTCOME_TYPES);
export const isOutcome = (e: SubmittedEvent): e is OutcomeEvent => OUTCOME_TYPE_SET.has(e.type);

/**
 * The arm of a champion/challenger test (service/challenger-service.ts): the ruleset in force
 * (`champion`) or the challenger candidate, for a stable share of customers.
 */
export const ARMS = ['champion', 'challenger'] as const;
export type Arm = (typeof ARMS)[number];

/** Every decision, as the decision log keeps it: what was shown, what was held out, under which rules. */
export interface DecisionLogEntry {
  readonly decisionId: string;
  readonly customerId: string;
  readonly channel: Channel;
  readonly placement: string | null;
  readonly rulesetVersion: string;
  /** Epoch ms. */
  readonly at: number;
  /** How many offers the decision could show (the request's limit within the contact limits). */
  readonly limit?: number;
  /**
   * The customer's lifecycle stage, when the decision opened an episode of a campaign (for the
   * lifecycle mix of the customers a campaign reached).
   */
  readonly stage?: string;
  /** True when this decision explored (one slot shows a uniformly drawn candidate). */
  readonly explored?: boolean;
  /** The arm of a champion/challenger test the decision was made in; absent when no test runs. */
  readonly arm?: Arm;
  readonly offers: readonly LoggedOffer[];
  /** Offers withheld because the customer is in the campaign's control group (probability 0). */
  readonly heldOut: readonly LoggedOffer[];
}

/**
 * What became of one submitted event:
 * - `accepted`: new, and durable in the log;
 * - `queued`: durable in this node's spool while Redis is unreachable; judged when replayed;
 * - `duplicate`: its eventId (or the same reaction to the same offer) was recorded before;
 * - `unknown_decision`, `unknown_offer`: it refers to nothing this log knows;
 * - `too_late`: it happened after the attribution window of its decision;
 * - `conflict`: it contradicts the decision or an earlier reaction (e.g. reject after accept), or
 *   its timestamp is in the future;
 * - `unknown_product`, `unknown_customer`: an outcome for a product or a customer nobody knows;
 * - `erased`: the customer was erased (GDPR Art. 17): nothing is recorded about them.
 */
export const FEEDBACK_STATUSES = [
  'accepted',
  'queued',
  'duplicate',
  'unknown_decision',
  'unknown_offer',
  'too_late',
  'conflict',
  'unknown_product',
  'unknown_customer',
  'erased',
] as const;
export type FeedbackStatus = (typeof FEEDBACK_STATUSES)[number];

export interface FeedbackVerdict {
  readonly status: FeedbackStatus;
  /** Why, for every status but accepted and queued. */
  readonly reason: string | null;
}

/** The campaign and segment an event is attributed to, copied from its decision into the log. */
export interface Attribution {
  readonly channel: Channel;
  readonly campaignId: string;
  readonly segmentId: string | null;
  /** The offer was held out (control group): only a conversion can be attributed to it. */
  readonly heldOut: boolean;
  /** The champion/challenger arm of the decision; absent when no test ran. */
  readonly arm?: Arm;
}

/** One entry of the feedback log (a stream entry in Redis). */
export type LogEntry =
  | { readonly kind: 'decision'; readonly decision: DecisionLogEntry }
  | { readonly kind: 'feedback'; readonly event: FeedbackEvent; readonly attribution: Attribution }
  | { readonly kind: 'outcome'; readonly event: OutcomeEvent };
