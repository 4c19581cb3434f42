import type { Channel } from '../domain/channel.js';
import type { Associations } from './associations.js';
import type { Condition, Evaluator } from './expr/index.js';
import type { CampaignObjective, Creative, KpiMetric, WebCreative } from './source.js';

// A compiled, immutable ruleset. Requests read only the current snapshot; a reload builds a new one
// and swaps it in one assignment (see ruleset-holder.ts), so no request sees half a ruleset.

export interface CompiledSegment {
  readonly ordinal: number;
  readonly id: string;
  readonly name: string;
  readonly when: Condition<EvalContext>;
  /** Precomputed reason code, so a decision allocates no strings for it. */
  readonly reason: string;
  /** Its channel economics; null: the channel policies apply to its customers. */
  readonly economics: SegmentEconomics | null;
  /** What the analysts believe about its behaviour, for the segment report; null: nothing stated. */
  readonly assumption: SegmentAssumption | null;
}

/**
 * A segment's assumed behaviour (rules' `assumption`), checked against the feedback counters by
 * evaluation/segment-assumptions.ts. Read by reports only: no decision depends on it.
 */
export interface SegmentAssumption {
  /** Accepts per impression expected; null: not stated. */
  readonly acceptRate: number | null;
  /** The channel it is believed to respond to best; null: not stated. */
  readonly bestChannel: Channel | null;
  /** Campaign ids (each targeting the segment) it is believed to respond to at least as well as the rest. */
  readonly respondsTo: readonly string[];
}

/** What contacting a segment's customers costs and how much care they get (engine/channel-terms.ts). */
export interface SegmentEconomics {
  readonly preferredChannel: Channel | null;
  /** Contact limits × this. */
  readonly careIntensity: number;
  /** Contact cost by channel index; null: the channel policy's. */
  readonly cost: readonly (number | null)[];
}

export interface CompiledLifecycleStage {
  readonly id: string;
  readonly name: string;
  /** Where the stage sits in the funnel: prospect, lead or customer. */
  readonly funnel: 'prospect' | 'lead' | 'customer';
  readonly when: Condition<EvalContext>;
}

export interface Kpi {
  readonly metric: KpiMetric;
  readonly target: number;
}

/** A business goal of the plan: measured over the campaigns serving its factors, within its period. */
export interface CompiledGoal {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly objective: string;
  readonly target: { readonly metric: KpiMetric; readonly value: number };
  /** Epoch ms, inclusive; `end` is the last millisecond of its day, +Infinity when open. */
  readonly start: number;
  readonly end: number;
  /** Its critical success factors, in ruleset order. */
  readonly factors: readonly CompiledFactor[];
}

/** A critical success factor: a metric and target over the campaigns that serve it. */
export interface CompiledFactor {
  readonly id: string;
  readonly name: string;
  readonly description: string | null;
  readonly goalId: string;
  readonly metric: KpiMetric;
  readonly target: number;
  /** The campaigns whose `serves` name it, in ruleset order. */
  readonly campaigns: readonly CompiledCampaign[];
}

export interface CompiledCampaign {
  readonly ordinal: number;
  readonly id: string;
  readonly name: string;
  readonly objective: CampaignObjective;
  /** Its headline KPI: the first of `kpis`; null without any. */
  readonly kpi: Kpi | null;
  /** What it is measured by (`kpis`, or the older single `kpi`). */
  readonly kpis: readonly Kpi[];
  /** Ids of the critical success factors it serves. */
  readonly serves: readonly string[];
  /** Target segments (any of); empty: everybody. */
  readonly segments: readonly CompiledSegment[];
  readonly start: number;
  readonly end: number;
  readonly controlShare: number;
  /** Mixed with the customer hash for a stable control-group draw per campaign. */
  readonly salt: number;
  readonly priority: number;
  readonly budget: number | null;
  readonly capTotal: number;
  readonly capPerDay: number;
  readonly reason: string;
}

export interface CompiledOffer {
  readonly ordinal: number;
  readonly id: string;
  readonly name: string;
  readonly campaign: CompiledCampaign;
  readonly productId: string;
  readonly group: string;
  /** An accept adds the product to the customer's holdings. */
  readonly holdsOnAccept: boolean;
  readonly channels: readonly Channel[];
  readonly value: number;
  readonly weight: number;
  readonly basePropensity: number;
  /** value × weight × campaign priority: the customer-independent part of the score. */
  readonly worth: number;
  readonly validFrom: number;
  readonly validTo: number;
  readonly when: Condition<EvalContext> | null;
  /**
   * The analysts' own propensity for a customer (e.g. `max(affinity('x'), association('x'))`),
   * used instead of the affinity; null: the affinity, or basePropensity without one.
   */
  readonly propensity: Evaluator<EvalContext> | null;
  readonly capTotal: number;
  readonly capPerDay: number;
  /** Creative per channel index (see CHANNELS); null where the offer is not on that channel. */
  readonly creatives: readonly (Creative | null)[];
  readonly affinityReason: string;
  /** `association:<product>`: a mined association fired for the product (see Associations). */
  readonly associationReason: string;
}

export interface ChannelPolicy {
  readonly channel: Channel | 'all';
  readonly limits: readonly { readonly max: number; readonly windowMs: number }[];
  readonly suppressAfterRejectMs: number;
  readonly suppressAfterAcceptMs: number;
  readonly suppressGroupAfterAccept: boolean;
  readonly cost: number;
  readonly preferredFit: number;
  readonly otherFit: number;
  readonly requiresConsent: boolean;
}

/** Offers that may appear in one channel (and placement), best customer-independent score first. */
export interface CandidateList {
  readonly byStaticScore: readonly CompiledOffer[];
  /** Offers with a propensity expression: scored per customer, like those with an affinity. */
  readonly byExpression: readonly CompiledOffer[];
  /** Offers by product, indexed by the product id's idIndex() (domain/intern.ts). */
  readonly byProduct: readonly (readonly CompiledOffer[] | undefined)[];
}

export interface ChannelIndex {
  /** Requests without a placement. */
  readonly all: CandidateList;
  readonly byPlacement: ReadonlyMap<string, CandidateList>;
  /** A placement no offer names: only offers open to every placement. */
  readonly unlisted: CandidateList;
}

export interface RulesetSnapshot {
  /** Content hash of the source files: equal sources, equal version. */
  readonly version: string;
  readonly loadedAt: number;
  readonly files: readonly string[];
  readonly segments: readonly CompiledSegment[];
  /** The segments with channel economics, in ruleset order: a customer gets the first one's. */
  readonly economicSegments: readonly CompiledSegment[];
  readonly campaigns: readonly CompiledCampaign[];
  readonly offers: readonly CompiledOffer[];
  readonly segmentById: ReadonlyMap<string, CompiledSegment>;
  readonly campaignById: ReadonlyMap<string, CompiledCampaign>;
  readonly offerById: ReadonlyMap<string, CompiledOffer>;
  /** Indexed by channel index (see CHANNELS). */
  readonly policies: readonly ChannelPolicy[];
  readonly globalPolicy: ChannelPolicy;
  /** How far back the policies look; contacts older than that no longer matter. */
  readonly lookback: ContactLookback;
  readonly channels: readonly ChannelIndex[];
  /** Mined product associations (associations.ndjson), for association() and the dossier. */
  readonly associations: Associations;
  /** Share of customers who see no offer at all (their would-be offers are logged as held out). */
  readonly globalHoldout: number;
  /** Lifecycle stages in order: the first whose condition holds is the stage (see learning/profile-learning.ts). */
  readonly lifecycle: readonly CompiledLifecycleStage[];
  /** Default banner per web placement, `*` for the rest; see DefaultBannerSource. */
  readonly defaultBanners: ReadonlyMap<string, WebCreative>;
  /** The plan: goals in ruleset order, each with its factors and their campaigns. */
  readonly goals: readonly CompiledGoal[];
  /** Real-time triggers by event type, in ruleset order: the first whose condition holds fires. */
  readonly triggers: ReadonlyMap<string, readonly CompiledTrigger[]>;
}

/** A trigger (rules' `triggers`): an event type and condition, the channel decided on, who is told. */
export interface CompiledTrigger {
  readonly id: string;
  readonly on: string;
  /** Over `customer` and `event` (read as the scope's context); null: always. */
  readonly when: Condition<EvalContext> | null;
  readonly channel: Channel;
  readonly placement: string | null;
  /** Offers in the decision pushed. */
  readonly limit: number;
  readonly subscribers: boolean;
  readonly adviser: boolean;
  /** Webhook names (their URLs and secrets are configuration). */
  readonly webhooks: readonly string[];
}

/** The longest limit window (impressions) and the longest suppression (accepts, rejects), a day at least. */
export interface ContactLookback {
  readonly impressionsMs: number;
  readonly reactionsMs: number;
}

/**
 * What compiled conditions read. Built once per decision by the engine; segment results are
 * memoised in it so that a segment used by many offers is evaluated once.
 */
export interface EvalContext {
  readonly customer: Readonly<Record<string, unknown>>;
  readonly context: Readonly<Record<string, unknown>>;
  readonly holdings: ReadonlySet<string>;
  readonly affinities: ReadonlyMap<string, number>;
  readonly now: number;
  inSegment(segment: CompiledSegment): boolean;
}
