/**
 * The demo's world: when customers come, on which channel, and how they truly respond to what they
 * are shown. Made up, seeded and known, so that the history the demo starts with (demo-history.ts)
 * has effects a reader can check: every campaign of the example rules lifts conversions by a known
 * amount except `go-digital`, whose takers would have gone digital anyway.
 *
 * Pure: the player does the I/O.
 */
import type { Channel } from '../domain/channel.js';
import { Rng, type Seed } from '../domain/random.js';
import { calibrated } from '../learning/response-rate.js';
import { DAY_MS } from '../ruleset/time.js';

/**
 * `cust-1` … `cust-100` take no part in the history: no contacts, no reactions, so that the
 * README's tour meets them as the rules alone would.
 */
export const UNTOUCHED_CUSTOMERS = 100;
/** The customers after those who come often (a share of all interactions), so that dossiers have a past. */
export const REGULAR_CUSTOMERS = 500;
const REGULARS_SHARE = 0.1;
/** A small population gets a history to match: at most this many decisions per customer. */
const MAX_DECISIONS_PER_CUSTOMER = 3;

/** How the customers of one campaign respond, unknown to the engine. */
export interface CampaignTruth {
  /** Odds ratio of the true accept rate to the affinity: affinities rank well but overstate rates. */
  readonly acceptOdds: number;
  /** Share of accepts that become a purchase the customer would not have made otherwise. */
  readonly convertAfterAccept: number;
  /** Chance that a customer with an affinity of 0.5 buys within a week without the offer (both groups). */
  readonly organic: number;
}

/** The example rules' campaigns (rules/campaigns.yaml); others get DEFAULT_TRUTH. */
export const DEMO_TRUTH: Readonly<Record<string, CampaignTruth>> = {
  'cards-upgrade': { acceptOdds: 0.35, convertAfterAccept: 0.65, organic: 0.015 },
  'lending-2026': { acceptOdds: 0.1, convertAfterAccept: 0.5, organic: 0.02 },
  'protect-your-home': { acceptOdds: 0.12, convertAfterAccept: 0.65, organic: 0.02 },
  'everyday-cover': { acceptOdds: 0.1, convertAfterAccept: 0.6, organic: 0.02 },
  'grow-your-savings': { acceptOdds: 0.1, convertAfterAccept: 0.65, organic: 0.02 },
  'stay-with-us': { acceptOdds: 0.35, convertAfterAccept: 0.6, organic: 0.03 },
  // Customers take the app up as often whether or not they were asked: accepts, and no uplift.
  'go-digital': { acceptOdds: 0.15, convertAfterAccept: 0, organic: 0.05 },
  'student-starter': { acceptOdds: 0.2, convertAfterAccept: 0.6, organic: 0.02 },
};
const DEFAULT_TRUTH: CampaignTruth = { acceptOdds: 0.15, convertAfterAccept: 0.5, organic: 0.02 };

function truthOf(campaignId: string): CampaignTruth {
  return DEMO_TRUTH[campaignId] ?? DEFAULT_TRUTH;
}

/** A pitch by an agent or an adviser is taken up more often than a banner. */
const CHANNEL_ODDS: Readonly<Record<Channel, number>> = {
  call_center: 2,
  sales_force: 2.5,
  web: 0.6,
  mobile: 0.8,
  email: 0.5,
};

/** One interaction of the history: somebody comes on a channel and a decision is asked for. */
export interface DemoInteraction {
  readonly at: number;
  readonly customerId: string;
  readonly channel: Channel;
  readonly placement: string | null;
  readonly limit: number;
}

export interface DemoTrafficOptions {
  /** The history's span, [start, end). */
  readonly start: number;
  readonly end: number;
  /** Decisions asked for (see demoDecisions). */
  readonly decisions: number;
  /** The population is `cust-1` … `cust-<customers>`. */
  readonly customers: number;
  /** The placements the rules name per channel; a web or mobile interaction asks for one of them. */
  readonly placements: Readonly<Partial<Record<Channel, readonly string[]>>>;
}

const CHANNEL_MIX: readonly (readonly [Channel, number])[] = [
  ['web', 0.38],
  ['mobile', 0.24],
  ['call_center', 0.3],
  ['sales_force', 0.05],
  ['email', 0.03],
];
const CHANNEL_WEIGHTS = CHANNEL_MIX.map(([, w]) => w);
/**
 * Offers asked for per decision: an agent's screen shows three (the example rules let an agent
 * pitch one a week), a banner or an in-app card one, a sidebar two, the app's offers tab three.
 */
const LIMIT: Readonly<Record<Channel, number>> = {
  web: 2,
  mobile: 1,
  email: 1,
  call_center: 3,
  sales_force: 2,
};
const PLACEMENT_LIMIT: ReadonlyMap<string, number> = new Map([
  ['home-hero', 1],
  ['offers-tab', 3],
]);

/** How many interactions the history of a population has: as asked, within a few per customer. */
export function demoDecisions(asked: number, customers: number): number {
  return Math.max(0, Math.min(asked, (customers - UNTOUCHED_CUSTOMERS) * MAX_DECISIONS_PER_CUSTOMER));
}

/**
 * The history's interactions, in time order: busier in office hours and on weekdays, and growing
 * over the span (the campaigns pick up), from customers `cust-101` on; none when there are none.
 * Who comes on which channel, in which order, depends on the seed and the population only, not on
 * the span: whatever day the demo starts, the same customers have a past.
 */
export function demoTraffic(seed: Seed, opts: DemoTrafficOptions): DemoInteraction[] {
  const first = UNTOUCHED_CUSTOMERS + 1;
  const decisions = demoDecisions(opts.decisions, opts.customers);
  if (decisions === 0 || opts.end <= opts.start) return [];
  const regulars = Math.min(REGULAR_CUSTOMERS, opts.customers - UNTOUCHED_CUSTOMERS);
  const clock = new Rng(seed, 'demo-times');
  const times: number[] = [];
  while (times.length < decisions) {
    const at = Math.floor(clock.float(opts.start, opts.end));
    if (clock.next() < busyness(at, opts.start, opts.end)) times.push(at);
  }
  times.sort((a, b) => a - b);
  const rng = new Rng(seed, 'demo-visitors');
  return times.map((at) => {
    const n = rng.chance(REGULARS_SHARE)
      ? rng.int(first, first + regulars - 1)
      : rng.int(first, opts.customers);
    const channel = CHANNEL_MIX[rng.weightedIndex(CHANNEL_WEIGHTS)]![0];
    const placements = opts.placements[channel] ?? [];
    const placement =
      placements.length > 0 && (channel === 'web' || channel === 'mobile') ? rng.pick(placements) : null;
    return {
      at,
      customerId: `cust-${n}`,
      channel,
      placement,
      limit: (placement === null ? undefined : PLACEMENT_LIMIT.get(placement)) ?? LIMIT[channel],
    };
  });
}

/** Relative traffic at a time, in (0, 1]: office hours (UTC), weekdays, and a rise over the span. */
function busyness(at: number, start: number, end: number): number {
  const hour = Math.floor((at % DAY_MS) / 3_600_000);
  const hourly = hour >= 8 && hour < 20 ? 1 : hour >= 7 && hour < 23 ? 0.4 : 0.05;
  // 1 January 1970 was a Thursday: day 2 is a Saturday.
  const weekday = (Math.floor(at / DAY_MS) + 4) % 7;
  const daily = weekday === 6 ? 0.6 : weekday === 0 ? 0.45 : 1;
  const growth = 0.75 + 0.25 * ((at - start) / (end - start));
  return hourly * daily * growth;
}

/**
 * What a customer does about an offer, `afterMs` after the decision: a reaction the channel sends,
 * or a `purchase` of the offer's product, which the order system reports by customer (an outcome).
 */
export interface DemoReaction {
  readonly type: 'impression' | 'click' | 'accept' | 'reject' | 'dismiss' | 'purchase';
  readonly afterMs: number;
}

/** What a customer does with an offer shown to them, and how much the showing changed their buying. */
export interface DemoResponse {
  readonly reactions: readonly DemoReaction[];
  /** The true uplift of this showing: P(purchase | shown) − P(purchase | not shown). */
  readonly trueUplift: number;
}

const MINUTE = 60_000;
const HOUR = 3_600_000;
const DIGITAL: ReadonlySet<Channel> = new Set(['web', 'mobile', 'email']);
const BANNER_SEEN = 0.85;
const EMAIL_OPENED = 0.45;

/** A week's chance of buying anyway, higher for customers with a higher affinity. */
function organicRate(truth: CampaignTruth, prior: number): number {
  return Math.min(0.5, truth.organic * (0.5 + prior));
}

/**
 * When a purchase happens: from an hour to three days after the decision, inside the attribution
 * window. The purchases of the history's last days are still to come when it ends, so the reports
 * measure a little less than the true uplift.
 */
function purchaseDelay(rng: Rng): number {
  return Math.floor(rng.float(HOUR, 3 * DAY_MS));
}

/**
 * How a customer responds to an offer shown on a channel, `prior` being their affinity (the
 * engine's propensity before learning). Websites and apps report that the banner was seen and
 * clicked; agents and advisers record a yes or a no; a purchase comes later, caused by the offer
 * or made anyway.
 */
export function respond(rng: Rng, campaignId: string, prior: number, channel: Channel): DemoResponse {
  const truth = truthOf(campaignId);
  const accept = calibrated(prior, truth.acceptOdds * CHANNEL_ODDS[channel]);
  const organic = organicRate(truth, prior);
  const reactions: DemoReaction[] = [];
  const accepted = rng.chance(accept);
  // Email "impressions" are opens; a banner or a card is seen at once, or scrolled past; only
  // what is seen can be taken up.
  const seenShare = channel === 'email' ? EMAIL_OPENED : DIGITAL.has(channel) ? BANNER_SEEN : 1;
  let t = 0;
  if (DIGITAL.has(channel)) {
    const seen = rng.chance(seenShare);
    t = channel === 'email' ? Math.floor(rng.float(10 * MINUTE, 8 * HOUR)) : 2000;
    if (seen) reactions.push({ type: 'impression', afterMs: t });
    if ((seen && accepted) || (seen && rng.chance(Math.min(0.5, accept * 1.5)))) {
      t += Math.floor(rng.float(5000, 2 * MINUTE));
      reactions.push({ type: 'click', afterMs: t });
      if (accepted)
        reactions.push({ type: 'accept', afterMs: t + Math.floor(rng.float(30_000, 10 * MINUTE)) });
    } else if (seen && channel !== 'email' && rng.chance(0.04)) {
      reactions.push({ type: 'dismiss', afterMs: t + Math.floor(rng.float(1000, 30_000)) });
    }
  } else {
    // The agent records the answer during the conversation (most of the time).
    t = Math.floor(rng.float(MINUTE, 8 * MINUTE));
    if (accepted) reactions.push({ type: 'accept', afterMs: t });
    else if (rng.chance(0.8)) reactions.push({ type: 'reject', afterMs: t });
  }
  const taken = reactions.some((r) => r.type === 'accept');
  const caused = taken && rng.chance(truth.convertAfterAccept);
  if (caused || rng.chance(organic)) reactions.push({ type: 'purchase', afterMs: t + purchaseDelay(rng) });
  return { reactions, trueUplift: (1 - organic) * seenShare * accept * truth.convertAfterAccept };
}

/** Whether a customer in a campaign's control group buys anyway, and when; null: not within the window. */
export function controlConversion(rng: Rng, campaignId: string, prior: number): number | null {
  return rng.chance(organicRate(truthOf(campaignId), prior)) ? purchaseDelay(rng) : null;
}
