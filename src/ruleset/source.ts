import type { Channel } from '../domain/channel.js';

/**
 * The shapes analysts write in `rules/*.yaml`, as validated by `rules/schema/ruleset.schema.json`.
 * Any file may hold any of the top-level sections; the loader merges all files of a directory.
 */
export interface RulesFile {
  segments?: SegmentSource[];
  campaigns?: CampaignSource[];
  offers?: OfferSource[];
  contactPolicies?: ContactPolicySource[];
  banners?: DefaultBannerSource[];
  /** Share of customers shown no offer at all, on any channel (see the schema). */
  globalHoldout?: number;
  /** Lifecycle stages, in order: the first whose condition holds is the customer's stage. */
  lifecycle?: LifecycleStageSource[];
  /** The plan: business goals, and the critical success factors that serve them (see the schema). */
  goals?: GoalSource[];
  factors?: FactorSource[];
  /** Real-time triggers: an event of a type, a condition, a decision on a channel pushed to whom it names. */
  triggers?: TriggerSource[];
}

/**
 * When an event (`POST /v1/events`) of type `on` arrives for a customer and `when` holds, decide on
 * `channel` and push the result to the customer's subscribers, their adviser and/or webhooks (by
 * name: their URL and secret are configuration, never rules). The first matching trigger of a type wins.
 */
export interface TriggerSource {
  id: string;
  /** The event type, e.g. `cart.abandoned`. */
  on: string;
  /** An expression over `customer` and `event` (its type and attributes); absent: always. */
  when?: string;
  channel: Channel;
  placement?: string;
  /** Offers in the decision pushed; default 1: the next best action. */
  limit?: number;
  /** `subscribers` (the customer's topic), `adviser` (the customer's adviser's topic), `webhook:<name>`. */
  notify: string[];
}

/** What campaigns, factors and goals are measured by (evaluation/kpi.ts says how each is counted). */
export type KpiMetric =
  | 'accept_rate'
  | 'conversion_rate'
  | 'conversions'
  | 'revenue'
  | 'new_customers'
  | 'retention';

export interface KpiSource {
  metric: KpiMetric;
  /** Rates are fractions (0.04 is 4%); counts and revenue are absolute. */
  target: number;
}

/** A business goal over a period, measured by one metric; its factors say how it is reached. */
export interface GoalSource {
  id: string;
  name: string;
  description?: string;
  /** The objective in words, for the people who read the plan. */
  objective: string;
  target: { metric: KpiMetric; value: number };
  period: { start: string; end?: string };
}

/** A critical success factor of a goal: what must go right, measured over the campaigns that serve it. */
export interface FactorSource {
  id: string;
  name: string;
  description?: string;
  goal: string;
  metric: KpiMetric;
  target: number;
}

export type FunnelLevelSource = 'prospect' | 'lead' | 'customer';

export interface LifecycleStageSource {
  id: string;
  name?: string;
  /** Where the stage sits in the funnel (see the schema). */
  funnel: FunnelLevelSource;
  /** An expression over `customer` (docs/expressions.md). */
  when: string;
}

/**
 * The banner a website placement shows when no offer is eligible (an unknown visitor, or everything
 * capped). `placement: '*'` is the default of every placement without its own.
 */
export interface DefaultBannerSource extends WebCreative {
  placement: string;
}

export interface SegmentSource {
  id: string;
  name?: string;
  description?: string;
  /** An expression over `customer` only (segments must not depend on the request); see docs/expressions.md. */
  when: string;
  economics?: SegmentEconomicsSource;
  /** What the analysts believe about the segment's behaviour, checked against the data (see the schema). */
  assumption?: SegmentAssumptionSource;
}

/**
 * A segment's assumed behaviour: beliefs the segment report (evaluation/segment-assumptions.ts)
 * checks against the feedback counters. Unlike economics, nothing here changes a decision.
 */
export interface SegmentAssumptionSource {
  /** Accepts per impression expected of the segment's customers, in [0, 1]. */
  acceptRate?: number;
  /** The channel the segment is believed to respond to best. */
  bestChannel?: Channel;
  /** Campaigns (ids) the segment is believed to respond to at least as well as the rest of their audience. */
  respondsTo?: string[];
}

/** Channel economics of a segment: see the schema's descriptions. */
export interface SegmentEconomicsSource {
  preferredChannel?: Channel;
  careIntensity?: number;
  contactCost?: Partial<Record<Channel, number>>;
}

export type CampaignObjective =
  | 'cross_sell'
  | 'up_sell'
  | 'retention'
  | 'acquisition'
  | 'activation'
  | 'service';

export interface CampaignSource {
  id: string;
  name: string;
  description?: string;
  objective: CampaignObjective;
  /** The older form of one `kpis` entry; still read, normalised into `kpis`. */
  kpi?: KpiSource;
  /** What the campaign is measured by, the first one being its headline KPI. */
  kpis?: KpiSource[];
  /** The critical success factors (ids) the campaign serves: the plan report rolls it up to them. */
  serves?: string[];
  /** Target segments: a customer must be in at least one. Absent or empty: everybody. */
  segments?: string[];
  schedule?: { start?: string; end?: string };
  /** Share of customers held out as the control group, in [0, 0.5]. */
  controlGroup?: number;
  /** Multiplies the score of every offer of the campaign. */
  priority?: number;
  /** Most the campaign may spend on contacts, in the currency of channel costs. */
  budget?: number;
  caps?: CapsSource;
}

export interface CapsSource {
  total?: number;
  perDay?: number;
}

export interface WebCreative {
  headline: string;
  body?: string;
  image: string;
  link: string;
  cta?: string;
}
export interface CallCenterCreative {
  talkTrack: string;
  headline?: string;
}
export interface AppCardCreative {
  title: string;
  body: string;
  image?: string;
  link?: string;
  cta?: string;
}
export interface EmailCreative {
  subject: string;
  body: string;
  link: string;
}
export interface CreativesSource {
  call_center?: CallCenterCreative;
  web?: WebCreative;
  mobile?: AppCardCreative;
  sales_force?: AppCardCreative;
  email?: EmailCreative;
}
export type Creative = CallCenterCreative | WebCreative | AppCardCreative | EmailCreative;

export interface OfferSource {
  id: string;
  name: string;
  description?: string;
  campaign: string;
  product: string;
  /** Diversity group: at most one offer per group in a decision. Defaults to the product. */
  group?: string;
  /** An accept adds the product to the customer's holdings (see the schema). */
  holdsOnAccept?: boolean;
  channels: Channel[];
  /** Placements per channel; a channel without an entry accepts every placement. */
  placements?: Partial<Record<Channel, string[]>>;
  /** Margin of an accepted offer, in the business currency. */
  value: number;
  /** Business weight (levers), multiplies the score. */
  weight?: number;
  /** Response rate assumed when the customer has no precomputed affinity for the product. */
  basePropensity?: number;
  /**
   * An expression for the customer's propensity, in [0, 1], used instead of the affinity, e.g.
   * `max(affinity('loan-car'), association('loan-car'))`.
   */
  propensity?: string;
  validity?: { from?: string; to?: string };
  /** Eligibility expression; absent means always eligible. */
  when?: string;
  caps?: CapsSource;
  creatives: CreativesSource;
}

export interface ContactPolicySource {
  /** A channel, or `all` for limits across every channel. */
  channel: Channel | 'all';
  /** At most `max` impressions per customer within each `window` (e.g. `7d`, `12h`). */
  limits?: { max: number; window: string }[];
  /** The same offer is not shown again for this long after a reject / an accept. */
  suppressAfterReject?: string;
  /** The product (every offer for it) is not offered again for this long after an accept, a conversion or a purchase. */
  suppressAfterAccept?: string;
  /** The offer's whole group is suppressed after an accept too. */
  suppressGroupAfterAccept?: boolean;
  /** Cost of one contact on this channel, subtracted from the score. */
  cost?: number;
  /** Score multiplier when this is the customer's preferred channel (`customer.preferredChannel`). */
  preferredChannelFit?: number;
  /** Multiplier when it is not; defaults to 1. */
  otherChannelFit?: number;
  /** Require the customer's consent for this channel. */
  requiresConsent?: boolean;
}
