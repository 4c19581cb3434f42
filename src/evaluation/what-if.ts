/**
 * What-if on the real population: a candidate ruleset and the live one, each run by the real engine
 * (decide()) over the same customers of a channel, side by side. Pure: the caller streams the
 * profiles in (from memory or Redis) and gives the snapshots, the learned models, the cap and budget
 * counters to start from, and `now`.
 *
 * What it models: every sampled customer is contacted once on the channel at `now` (no placement,
 * no request context, the given limit), greedily (no exploration: the expectation of what the
 * ruleset chooses), in the order the population is streamed. Caps and budgets count as the run
 * goes, from the given counters, and so bind part-way through; since every contact is at `now`,
 * a daily cap counts the whole volume as one day. Expected accepts are the sum of the propensities
 * of the offers shown (held-out offers are counted apart and expect nothing); expected value is the
 * sum of propensity × the offer's value.
 *
 * What it does not model: contact histories (each customer decides with an empty one: contact
 * limits and suppressions after accepts and rejects do not apply; reading a million histories
 * would cost a million Redis reads), the customer's reaction changing their next decision,
 * exploration, and traffic arriving over days.
 */
import type { Channel } from '../domain/channel.js';
import type { CapUsage } from '../domain/contact.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import { stableHash32 } from '../domain/stable-hash.js';
import { decide } from '../engine/decide.js';
import type { DecisionRequest } from '../engine/decision-types.js';
import { controlDraw } from '../learning/control-group.js';
import type { LearnedModel } from '../learning/learned-model.js';
import type { CompiledCampaign, CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';

/** One side of a what-if: a ruleset and what feedback taught about it. */
export interface WhatIfRuleset {
  /** What the report calls it: "live", or the candidate's name. */
  readonly name: string;
  readonly snapshot: RulesetSnapshot;
  /** Built for `snapshot`; without it every propensity is the prior (affinity or base propensity). */
  readonly learned?: LearnedModel | undefined;
}

export interface WhatIfOptions {
  readonly live: WhatIfRuleset;
  /** Null: the live ruleset alone (no difference). */
  readonly candidate: WhatIfRuleset | null;
  readonly channel: Channel;
  /** Offers per contact: the decision's limit. */
  readonly limit: number;
  /** Epoch ms: when every contact happens. */
  readonly now: number;
  /** The cap and budget counters the run starts from (the live server's); each side counts its own on top. */
  readonly usage: CapUsage;
}

/** Where a cap or budget ran out: the decision (1-based, in run order) after which it could take no more. */
export type Binding = 'cap_total' | 'cap_per_day' | 'budget';

export interface OfferLine {
  readonly id: string;
  readonly campaignId: string;
  readonly shown: number;
  readonly heldOut: number;
  readonly expectedAccepts: number;
  readonly expectedValue: number;
  /** Null: uncapped. */
  readonly capTotal: number | null;
  readonly capPerDay: number | null;
  /** Shown in total once the run ended, counters included. */
  readonly capUsed: number;
  readonly boundBy: Binding | null;
  readonly boundAtDecision: number | null;
}

export interface CampaignLine {
  readonly id: string;
  readonly shown: number;
  readonly heldOut: number;
  readonly expectedAccepts: number;
  readonly expectedValue: number;
  /** Channel cost spent by this run's contacts. */
  readonly spend: number;
  /** Null: no budget. */
  readonly budget: number | null;
  /** Share of the budget spent once the run ended, counters included; null without a budget. */
  readonly budgetUse: number | null;
  readonly capTotal: number | null;
  readonly capPerDay: number | null;
  readonly capUsed: number;
  readonly boundBy: Binding | null;
  readonly boundAtDecision: number | null;
}

/** Offers shown through a target segment; segmentId null: campaigns that target everybody. */
export interface SegmentLine {
  readonly segmentId: string | null;
  readonly customers: number;
  readonly shown: number;
  readonly expectedAccepts: number;
  readonly expectedValue: number;
}

export interface WhatIfTotals {
  readonly decisions: number;
  readonly customersWithOffer: number;
  readonly offersShown: number;
  readonly heldOut: number;
  readonly expectedAccepts: number;
  readonly expectedValue: number;
  readonly spend: number;
  readonly offersReached: number;
  readonly campaignsReached: number;
  readonly segmentsReached: number;
  /** Caps and budgets that ran out during the run. */
  readonly bound: number;
}

export interface WhatIfSide {
  readonly name: string;
  readonly rulesetVersion: string;
  readonly learned: boolean;
  readonly totals: WhatIfTotals;
  /** Offers, campaigns and segments reached (shown or held out), most shown first. */
  readonly offers: readonly OfferLine[];
  readonly campaigns: readonly CampaignLine[];
  readonly segments: readonly SegmentLine[];
}

/** Candidate − live, for each number both sides have. */
export interface DifferenceLine {
  readonly id: string | null;
  readonly shown: number;
  readonly expectedAccepts: number;
  readonly expectedValue: number;
}

export interface WhatIfDifference {
  readonly totals: { readonly [K in keyof WhatIfTotals]: number };
  readonly offers: readonly DifferenceLine[];
  readonly campaigns: readonly DifferenceLine[];
  readonly segments: readonly DifferenceLine[];
}

export interface WhatIfReport {
  readonly channel: Channel;
  readonly limit: number;
  readonly now: string;
  readonly live: WhatIfSide;
  readonly candidate: WhatIfSide | null;
  readonly difference: WhatIfDifference | null;
}

const NO_CONTEXT: Readonly<Record<string, AttributeValue>> = Object.freeze({});
const NO_HISTORY = Object.freeze([]) as readonly never[];

/**
 * A what-if in progress: `add()` each customer of the sample, in order, then `report()`. Both
 * sides decide each customer before the next, so a run can stop (or report progress) anywhere.
 */
export class WhatIfRun {
  private readonly live: SideRun;
  private readonly candidate: SideRun | null;
  private readonly request: DecisionRequest;

  constructor(private readonly options: WhatIfOptions) {
    const { live, candidate, channel, limit, now, usage } = options;
    if (!Number.isInteger(limit) || limit < 1)
      throw new RangeError(`limit must be a positive integer, got ${limit}`);
    for (const side of candidate === null ? [live] : [live, candidate]) {
      if (side.learned !== undefined && side.learned.snapshot !== side.snapshot)
        throw new RangeError(`the learned model of '${side.name}' was built for another snapshot`);
    }
    this.request = { channel, placement: null, limit, context: NO_CONTEXT, explain: false };
    this.live = new SideRun(live, usage, now);
    this.candidate = candidate === null ? null : new SideRun(candidate, usage, now);
  }

  /** Decides one customer on both sides. */
  add(profile: CustomerProfile): void {
    this.live.decide(profile, this.request);
    this.candidate?.decide(profile, this.request);
  }

  get decisions(): number {
    return this.live.decisions;
  }

  report(): WhatIfReport {
    const live = this.live.report();
    const candidate = this.candidate?.report() ?? null;
    return {
      channel: this.options.channel,
      limit: this.options.limit,
      now: new Date(this.options.now).toISOString(),
      live,
      candidate,
      difference: candidate === null ? null : difference(candidate, live),
    };
  }
}

/** Runs a whole population (or sample) at once: for tests and small populations. */
export function whatIf(profiles: Iterable<CustomerProfile>, options: WhatIfOptions): WhatIfReport {
  const run = new WhatIfRun(options);
  for (const p of profiles) run.add(p);
  return run.report();
}

/** Mixed with the customer hash so that the sample is independent of control groups and buckets. */
const SAMPLE_SALT = stableHash32('offerloop:what-if-sample');

/**
 * The share of the population to decide for a volume: each customer is in the sample when a
 * stable draw from their id falls below it, so the same population gives the same sample, and a
 * larger volume's sample contains a smaller one's. The sample's size is the volume on average
 * (binomial, ±2√volume); a volume at or above the population takes everybody, once.
 */
export function sampleShare(volume: number, population: number): number {
  if (population <= 0 || volume >= population) return 1;
  return Math.max(0, volume) / population;
}

export function inSample(customerId: string, share: number): boolean {
  return share >= 1 || controlDraw(stableHash32(customerId), SAMPLE_SALT) < share;
}

// --- one side's counts ---

interface Tally {
  shown: number;
  heldOut: number;
  accepts: number;
  value: number;
  spend: number;
  boundBy: Binding | null;
  boundAt: number;
}

const tallies = (n: number): Tally[] =>
  Array.from({ length: n }, () => ({
    shown: 0,
    heldOut: 0,
    accepts: 0,
    value: 0,
    spend: 0,
    boundBy: null,
    boundAt: 0,
  }));

interface SegmentTally {
  customers: number;
  shown: number;
  accepts: number;
  value: number;
}

/** The counters the run started from plus what this side has shown: what its decisions screen against. */
class RunUsage implements CapUsage {
  constructor(
    private readonly base: CapUsage,
    private readonly snapshot: RulesetSnapshot,
    private readonly offers: readonly Tally[],
    private readonly campaigns: readonly Tally[],
  ) {}
  private offer(id: string): Tally | undefined {
    const o = this.snapshot.offerById.get(id);
    return o === undefined ? undefined : this.offers[o.ordinal];
  }
  private campaign(id: string): Tally | undefined {
    const c = this.snapshot.campaignById.get(id);
    return c === undefined ? undefined : this.campaigns[c.ordinal];
  }
  offerTotal(id: string): number {
    return this.base.offerTotal(id) + (this.offer(id)?.shown ?? 0);
  }
  offerToday(id: string, now: number): number {
    return this.base.offerToday(id, now) + (this.offer(id)?.shown ?? 0);
  }
  campaignTotal(id: string): number {
    return this.base.campaignTotal(id) + (this.campaign(id)?.shown ?? 0);
  }
  campaignToday(id: string, now: number): number {
    return this.base.campaignToday(id, now) + (this.campaign(id)?.shown ?? 0);
  }
  campaignSpend(id: string): number {
    return this.base.campaignSpend(id) + (this.campaign(id)?.spend ?? 0);
  }
}

class SideRun {
  decisions = 0;
  private withOffer = 0;
  private readonly offers: Tally[];
  private readonly campaigns: Tally[];
  /** By segment ordinal; the last one: untargeted campaigns. */
  private readonly segments: SegmentTally[];
  private readonly usage: RunUsage;
  private readonly reached: Uint8Array;

  constructor(
    private readonly side: WhatIfRuleset,
    base: CapUsage,
    private readonly now: number,
  ) {
    const { snapshot } = side;
    this.offers = tallies(snapshot.offers.length);
    this.campaigns = tallies(snapshot.campaigns.length);
    this.segments = Array.from({ length: snapshot.segments.length + 1 }, () => ({
      customers: 0,
      shown: 0,
      accepts: 0,
      value: 0,
    }));
    this.reached = new Uint8Array(snapshot.segments.length + 1);
    this.usage = new RunUsage(base, snapshot, this.offers, this.campaigns);
  }

  decide(profile: CustomerProfile, request: DecisionRequest): void {
    const { snapshot, learned } = this.side;
    const d = decide({
      snapshot,
      profile,
      history: NO_HISTORY,
      usage: this.usage,
      request,
      now: this.now,
      learned,
    });
    this.decisions++;
    if (d.offers.length > 0) this.withOffer++;
    const untargeted = snapshot.segments.length;
    this.reached.fill(0);
    for (const chosen of d.offers) {
      const { offer, propensity } = chosen;
      const value = propensity * offer.value;
      const o = this.offers[offer.ordinal]!;
      const c = this.campaigns[offer.campaign.ordinal]!;
      o.shown++;
      o.accepts += propensity;
      o.value += value;
      c.shown++;
      c.accepts += propensity;
      c.value += value;
      c.spend += d.cost;
      const s = chosen.segmentId === null ? untargeted : snapshot.segmentById.get(chosen.segmentId)!.ordinal;
      const seg = this.segments[s]!;
      seg.shown++;
      seg.accepts += propensity;
      seg.value += value;
      if (this.reached[s] === 0) {
        this.reached[s] = 1;
        seg.customers++;
      }
      this.checkBinding(offer, d.cost);
    }
    for (const h of d.heldOut) {
      this.offers[h.offer.ordinal]!.heldOut++;
      this.campaigns[h.offer.campaign.ordinal]!.heldOut++;
    }
  }

  /** Notes the decision after which an offer's or campaign's cap or budget can take no more contacts. */
  private checkBinding(offer: CompiledOffer, cost: number): void {
    const o = this.offers[offer.ordinal]!;
    if (o.boundBy === null) {
      const bound = capBinding(
        offer.capTotal,
        offer.capPerDay,
        this.usage.offerTotal(offer.id),
        this.usage.offerToday(offer.id, this.now),
      );
      if (bound !== null) {
        o.boundBy = bound;
        o.boundAt = this.decisions;
      }
    }
    const campaign: CompiledCampaign = offer.campaign;
    const c = this.campaigns[campaign.ordinal]!;
    if (c.boundBy !== null) return;
    let bound = capBinding(
      campaign.capTotal,
      campaign.capPerDay,
      this.usage.campaignTotal(campaign.id),
      this.usage.campaignToday(campaign.id, this.now),
    );
    // A budget binds when what is left cannot pay for another contact like this one.
    if (bound === null && campaign.budget !== null && cost > 0) {
      if (campaign.budget - this.usage.campaignSpend(campaign.id) < cost) bound = 'budget';
    }
    if (bound !== null) {
      c.boundBy = bound;
      c.boundAt = this.decisions;
    }
  }

  report(): WhatIfSide {
    const { snapshot } = this.side;
    const offers: OfferLine[] = [];
    snapshot.offers.forEach((offer, i) => {
      const t = this.offers[i]!;
      if (t.shown === 0 && t.heldOut === 0 && t.boundBy === null) return;
      offers.push({
        id: offer.id,
        campaignId: offer.campaign.id,
        shown: t.shown,
        heldOut: t.heldOut,
        expectedAccepts: t.accepts,
        expectedValue: t.value,
        capTotal: finite(offer.capTotal),
        capPerDay: finite(offer.capPerDay),
        capUsed: this.usage.offerTotal(offer.id),
        boundBy: t.boundBy,
        boundAtDecision: t.boundBy === null ? null : t.boundAt,
      });
    });
    const campaigns: CampaignLine[] = [];
    snapshot.campaigns.forEach((campaign, i) => {
      const t = this.campaigns[i]!;
      if (t.shown === 0 && t.heldOut === 0 && t.boundBy === null) return;
      const spent = this.usage.campaignSpend(campaign.id);
      campaigns.push({
        id: campaign.id,
        shown: t.shown,
        heldOut: t.heldOut,
        expectedAccepts: t.accepts,
        expectedValue: t.value,
        spend: t.spend,
        budget: campaign.budget,
        budgetUse: campaign.budget === null || campaign.budget <= 0 ? null : spent / campaign.budget,
        capTotal: finite(campaign.capTotal),
        capPerDay: finite(campaign.capPerDay),
        capUsed: this.usage.campaignTotal(campaign.id),
        boundBy: t.boundBy,
        boundAtDecision: t.boundBy === null ? null : t.boundAt,
      });
    });
    const segments: SegmentLine[] = [];
    this.segments.forEach((t, i) => {
      if (t.shown === 0) return;
      segments.push({
        segmentId: i < snapshot.segments.length ? snapshot.segments[i]!.id : null,
        customers: t.customers,
        shown: t.shown,
        expectedAccepts: t.accepts,
        expectedValue: t.value,
      });
    });
    const byShown = (a: { shown: number }, b: { shown: number }) => b.shown - a.shown;
    offers.sort(byShown);
    campaigns.sort(byShown);
    segments.sort(byShown);
    const sum = (lines: readonly CampaignLine[], f: (l: CampaignLine) => number) =>
      lines.reduce((s, l) => s + f(l), 0);
    return {
      name: this.side.name,
      rulesetVersion: snapshot.version,
      learned: this.side.learned !== undefined,
      totals: {
        decisions: this.decisions,
        customersWithOffer: this.withOffer,
        offersShown: sum(campaigns, (c) => c.shown),
        heldOut: sum(campaigns, (c) => c.heldOut),
        expectedAccepts: sum(campaigns, (c) => c.expectedAccepts),
        expectedValue: sum(campaigns, (c) => c.expectedValue),
        spend: sum(campaigns, (c) => c.spend),
        offersReached: offers.filter((o) => o.shown > 0).length,
        campaignsReached: campaigns.filter((c) => c.shown > 0).length,
        segmentsReached: segments.filter((s) => s.segmentId !== null).length,
        bound:
          offers.filter((o) => o.boundBy !== null).length +
          campaigns.filter((c) => c.boundBy !== null).length,
      },
      offers,
      campaigns,
      segments,
    };
  }
}

function capBinding(capTotal: number, capPerDay: number, total: number, today: number): Binding | null {
  if (total >= capTotal) return 'cap_total';
  if (today >= capPerDay) return 'cap_per_day';
  return null;
}

const finite = (n: number): number | null => (Number.isFinite(n) ? n : null);

// --- the difference ---

interface Numbers {
  shown: number;
  expectedAccepts: number;
  expectedValue: number;
}

function difference(candidate: WhatIfSide, live: WhatIfSide): WhatIfDifference {
  const totals = {} as { -readonly [K in keyof WhatIfTotals]: number };
  for (const key of Object.keys(live.totals) as (keyof WhatIfTotals)[])
    totals[key] = candidate.totals[key] - live.totals[key];
  return {
    totals,
    offers: linesDiff(candidate.offers, live.offers, (l) => l.id),
    campaigns: linesDiff(candidate.campaigns, live.campaigns, (l) => l.id),
    segments: linesDiff(candidate.segments, live.segments, (l) => l.segmentId),
  };
}

/** Per id, candidate − live (an id one side lacks counts zero there), largest change in shown first. */
function linesDiff<L extends Numbers>(
  candidate: readonly L[],
  live: readonly L[],
  idOf: (line: L) => string | null,
): DifferenceLine[] {
  const out = new Map<string | null, DifferenceLine & Numbers>();
  const add = (lines: readonly L[], sign: number) => {
    for (const l of lines) {
      const id = idOf(l);
      const d = out.get(id) ?? { id, shown: 0, expectedAccepts: 0, expectedValue: 0 };
      d.shown += sign * l.shown;
      d.expectedAccepts += sign * l.expectedAccepts;
      d.expectedValue += sign * l.expectedValue;
      out.set(id, d);
    }
  };
  add(candidate, 1);
  add(live, -1);
  return [...out.values()].sort((a, b) => Math.abs(b.shown) - Math.abs(a.shown));
}
