/**
 * The closed loop in a test tube: a synthetic population whose true response to every offer is
 * known, run through the real engine, the real feedback log (attribution and counters) and the real
 * learning refresh, side by side with three reference policies on the same interactions:
 * - learning: learned propensities with ε-greedy exploration, refreshed as the server refreshes;
 * - static: the precomputed affinities only (what the engine does without feedback);
 * - random: a uniformly chosen eligible offer;
 * - oracle: the eligible offer with the highest true accept probability.
 * Campaign control groups are held out as in production. Purchases are reported as outcome events
 * (by customer and product, no decision), credited by the customer loop to the customer's latest
 * touch, shown or held out alike (feedback/customer-attribution.ts); each campaign's measured uplift
 * per customer episode, as its report computes it, is reported next to the true one.
 *
 * The truth is related to, but not equal to, the affinities: per offer × channel and per offer ×
 * target segment the odds are off by a factor the analysts did not know, and every customer × offer
 * pair has some noise of its own that no model here can learn (what keeps learning below the oracle).
 *
 * In process and without I/O (`onLog` hands each log entry out, e.g. to write the decision log for
 * `offerloop evaluate`).
 */
import pino from 'pino';
import { CHANNELS, type Channel } from '../domain/channel.js';
import { NO_USAGE } from '../domain/contact.js';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { Rng, type Seed } from '../domain/random.js';
import { stableHash32 } from '../domain/stable-hash.js';
import { decide } from '../engine/decide.js';
import { segmentsOf } from '../engine/decision-scope.js';
import { eligibleOffers } from '../engine/eligible-offers.js';
import { campaignsReport, type DayRange, daysOf } from '../evaluation/campaign-report.js';
import type { Interval } from '../evaluation/uplift.js';
import { episodesOpened } from '../feedback/customer-attribution.js';
import { dayOf } from '../feedback/feedback-effects.js';
import type {
  DecisionLogEntry,
  FeedbackEvent,
  LogEntry,
  OutcomeEvent,
  SubmittedEvent,
} from '../feedback/feedback-event.js';
import { isOutcome } from '../feedback/feedback-event.js';
import { MemoryFeedbackLog } from '../feedback/log/memory-feedback-log.js';
import { MemoryStatsReader } from '../feedback/stats-reader.js';
import { inControlGroup } from '../learning/control-group.js';
import type { LearnedModel } from '../learning/learned-model.js';
import { calibrated } from '../learning/response-rate.js';
import { buildRuleset } from '../ruleset/load.js';
import type { CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';
import type { CampaignSource, OfferSource, RulesFile } from '../ruleset/source.js';
import { DAY_MS } from '../ruleset/time.js';
import { CustomerLoopService } from '../service/customer-loop-service.js';
import { logEntryOf } from '../service/decision-result.js';
import { LearningService } from '../service/learning-service.js';
import { CONTACT_EVENTS_KEPT, MemoryContactHistoryStore } from '../store/contact-history-store.js';
import { MemoryLearnedFactsStore } from '../store/learned-facts-store.js';
import { MemoryProfileStore } from '../store/memory-profile-store.js';
import { catalogProducts, generateRuleset, rulesFileTexts } from './catalog.js';
import { generatePopulation } from './population.js';

export interface SimulationOptions {
  readonly customers: number;
  readonly interactions: number;
  readonly seed: Seed;
  /** Offers in the synthetic catalog; default 40. */
  readonly offers?: number;
  /** Campaigns the offers are spread over; default 8. */
  readonly campaigns?: number;
  /** Control-group share of every campaign; default 0.1. */
  readonly controlShare?: number;
  /** ε of the learning policy; default 0.05. */
  readonly exploration?: number;
  /** Interactions between two refreshes of the learned model; default 1,000. */
  readonly refreshEvery?: number;
  /** Prior strength of learning (impressions the affinities are worth); default 50. */
  readonly priorStrength?: number;
  /** Channels interactions come in on; default call_center, web, mobile. */
  readonly channels?: readonly Channel[];
  /** Called with every entry of the learning policy's feedback log, in order. */
  readonly onLog?: ((entry: LogEntry) => void) | undefined;
  /** Called (and awaited) at every refresh with the interactions done so far, and at the end. */
  readonly onProgress?: ((done: number) => Promise<void> | void) | undefined;
  /**
   * A world of one's own for purchases: the chance that a touch (an offer shown, or held out by a
   * control group) is followed by a purchase of its product. Default: the world's (an accept turns
   * into a purchase half the time, and customers buy on their own at the offer's organic rate).
   */
  readonly purchaseRate?: ((touch: Touched) => number) | undefined;
}

/** A touch of a customer by the learning policy: `customer` indexes the world's profiles. */
export interface Touched {
  readonly customer: number;
  readonly offer: CompiledOffer;
  readonly channel: Channel;
  readonly shown: boolean;
}

export interface PolicyRates {
  readonly learning: number;
  readonly static: number;
  readonly random: number;
  readonly oracle: number;
}

/** A campaign's uplift per customer episode (see feedback/customer-attribution.ts), measured and true. */
export interface CampaignUplift {
  readonly campaignId: string;
  /** Conversion rate of treated episodes minus that of control episodes: its report's customerUplift. */
  readonly measured: number | null;
  /** Newcombe's 95% interval of `measured`. */
  readonly ci95: Interval | null;
  /**
   * The mean true uplift over the same episodes, treated and control: P(the episode converts if
   * its offers are shown) − P(it converts if they are held out), from the world's probabilities.
   */
  readonly truth: number | null;
  /** Customer episodes opened, treated and control. */
  readonly treated: number;
  readonly control: number;
  /** Of those, the episodes that converted. */
  readonly treatedConversions: number;
  readonly controlConversions: number;
}

export interface SimulationResult {
  readonly customers: number;
  readonly interactions: number;
  readonly seed: Seed;
  readonly offers: number;
  readonly exploration: number;
  readonly acceptRate: PolicyRates;
  readonly lastQuarterAcceptRate: PolicyRates;
  /** Accept rates per tenth of the run. */
  readonly overTime: readonly ({ readonly from: number; readonly to: number } & PolicyRates)[];
  readonly uplift: readonly CampaignUplift[];
}

/** A synthetic world: ruleset, customers and the truth about them. */
export interface SimulatedWorld {
  readonly snapshot: RulesetSnapshot;
  /** The rules files, as `offerloop evaluate` and the server would read them. */
  readonly rulesFiles: Record<string, RulesFile>;
  readonly profiles: readonly CustomerProfile[];
  /** True accept probability of `offer` for customer `c` (index into profiles) on a channel. */
  acceptProbability(c: number, offer: CompiledOffer, channel: Channel): number;
  /** Probability that the customer buys the offer's product without being shown it. */
  organicRate(offer: CompiledOffer): number;
}

/** Affinities rank customers well but overstate rates: true odds are e^-1.5 ≈ 0.22 times theirs. */
const LEVEL_SHIFT = -1.5;
/** Share of accepts that turn into a purchase (a conversion) within the attribution window. */
export const CONVERSION_AFTER_ACCEPT = 0.5;
const START = Date.UTC(2026, 10, 1);
/** The run spans four weeks: long enough for day counters, inside the learning window. */
const SPAN_MS = 28 * DAY_MS;
const WINDOWS = { reactionMs: DAY_MS, conversionMs: 7 * DAY_MS } as const;

/** Builds the world of a seed: a catalog where every offer is worth the same, so score ∝ propensity. */
export function simulatedWorld(
  opts: Pick<SimulationOptions, 'customers' | 'seed' | 'offers' | 'campaigns' | 'controlShare'>,
): SimulatedWorld {
  const rulesFiles = simulationRules(opts);
  const sources = rulesFileTexts(rulesFiles).map(({ name, text }) => ({ name, text }));
  const snapshot = buildRuleset(sources, START);
  const products = catalogProducts(rulesFiles);
  const profiles: CustomerProfile[] = [];
  for (const record of generatePopulation(opts.customers, products, { seed: opts.seed, affinities: 20 })) {
    profiles.push(profileFromRecord(record));
  }

  const rng = new Rng(opts.seed, 'truth');
  const CH = CHANNELS.length;
  // What the analysts got wrong, as log odds ratios: overall (affinities are scores, not rates), per
  // offer × channel, and per offer × segment.
  const channelShift = Float64Array.from(
    { length: snapshot.offers.length * CH },
    () => LEVEL_SHIFT + rng.normal(0, 0.9),
  );
  const segmentShift = Float64Array.from({ length: snapshot.offers.length * snapshot.segments.length }, () =>
    rng.normal(0, 0.4),
  );
  const organic = Float64Array.from(snapshot.offers, () => rng.float(0.01, 0.04));
  // Which target segment each customer qualifies through, per campaign (as the engine finds it).
  const segmentOf = profiles.map((p) => {
    const mine = new Set(segmentsOf(snapshot.segments, p, {}, START).map((s) => s.ordinal));
    return snapshot.campaigns.map((c) => c.segments.find((s) => mine.has(s.ordinal))?.ordinal ?? -1);
  });
  const hashes = Int32Array.from(profiles, (p) => stableHash32(p.id));

  return {
    snapshot,
    rulesFiles,
    profiles,
    acceptProbability(c, offer, channel) {
      const profile = profiles[c]!;
      const prior = profile.affinities.get(offer.productId) ?? offer.basePropensity;
      const segment = segmentOf[c]![offer.campaign.ordinal]!;
      const shift =
        channelShift[offer.ordinal * CH + CHANNELS.indexOf(channel)]! +
        (segment >= 0 ? segmentShift[offer.ordinal * snapshot.segments.length + segment]! : 0) +
        pairNoise(hashes[c]!, offer.ordinal);
      return calibrated(prior, Math.exp(shift));
    },
    organicRate: (offer) => organic[offer.ordinal]!,
  };
}

/** Noise of one customer × offer pair, about N(0, 0.3²), the same on every call. */
function pairNoise(customerHash: number, offer: number): number {
  let h = (customerHash ^ Math.imul(offer + 1, 0x9e3779b1)) >>> 0;
  let sum = 0;
  // Irwin–Hall: four uniforms from one 32-bit hash, 8 bits each, sum ≈ normal.
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  for (let i = 0; i < 4; i++) sum += ((h >>> (8 * i)) & 0xff) / 255;
  return (sum - 2) * 0.3 * Math.sqrt(3);
}

/**
 * The simulation's ruleset: the synthetic catalog with value, weight and priority 1 and no channel
 * cost, so that every policy maximises the same thing, the accept rate; no contact limits, so that
 * interactions are independent; every campaign with a control group.
 */
export function simulationRules(
  opts: Pick<SimulationOptions, 'seed' | 'offers' | 'campaigns' | 'controlShare'>,
): Record<string, RulesFile> {
  const generated = generateRuleset({ offers: opts.offers ?? 40, seed: opts.seed });
  const template = generated['campaigns.yaml']!.campaigns!;
  const campaignCount = opts.campaigns ?? 8;
  const campaigns: CampaignSource[] = [];
  for (let c = 0; c < campaignCount; c++) {
    const like = template[c % template.length]!;
    campaigns.push({
      ...like,
      id: `camp-${String(c + 1).padStart(4, '0')}`,
      name: `Campaign ${c + 1}`,
      controlGroup: opts.controlShare ?? 0.1,
      priority: 1,
      ...(like.segments ? { segments: like.segments } : {}),
    });
    delete campaigns[c]!.budget;
    if (c % 2 === 1 && !like.segments)
      campaigns[c]!.segments = ['seg-high-value', 'seg-young-digital', 'seg-families'];
    if (c % 2 === 0) delete campaigns[c]!.segments;
  }
  const offers: OfferSource[] = generated['offers.yaml']!.offers!.map((o, i) => ({
    ...o,
    campaign: campaigns[i % campaignCount]!.id,
    value: 1,
    weight: 1,
  }));
  return {
    'segments.yaml': generated['segments.yaml']!,
    'campaigns.yaml': { campaigns },
    'offers.yaml': { offers },
  };
}

/** Runs the four policies over the same interactions. */
export async function simulate(opts: SimulationOptions): Promise<SimulationResult> {
  const world = simulatedWorld(opts);
  const { snapshot, profiles } = world;
  const n = opts.interactions;
  const share = opts.exploration ?? 0.05;
  const refreshEvery = opts.refreshEvery ?? 1000;
  const channels = opts.channels ?? (['call_center', 'web', 'mobile'] as const);
  const traffic = new Rng(opts.seed, 'interactions');
  const explorer = new Rng(opts.seed, 'exploration');
  const chooser = new Rng(opts.seed, 'random-policy');

  let now = START;
  const clock = () => now;
  // The customer loop credits purchases to touches as the embedded server does (services.ts). The
  // profiles it teaches are its own copies: decisions read the world's, so that every policy
  // meets the same customers.
  // Sized to the population: the default (a million customers) costs more to allocate than a small run.
  const history = new MemoryContactHistoryStore({
    maxCustomers: profiles.length,
    maxEventsPerCustomer: CONTACT_EVENTS_KEPT,
  });
  const loop = new CustomerLoopService({
    rules: { current: snapshot },
    history,
    profiles: new MemoryProfileStore(profiles),
    learned: new MemoryLearnedFactsStore(),
    windows: WINDOWS,
    clock,
    announceProfileChange: () => Promise.resolve(),
  });
  const log = new MemoryFeedbackLog(history, {
    windows: WINDOWS,
    maxDecisions: 10_000,
    maxEntries: 1,
    clock,
    loop,
  });
  const truth = new EpisodeTruth(snapshot.campaigns.length);
  const learning = new LearningService({
    rules: { current: snapshot },
    stats: new MemoryStatsReader(log.stats),
    config: {
      enabled: true,
      refreshMs: 1,
      days: 400,
      priorStrength: opts.priorStrength ?? 50,
      minSegmentImpressions: 500,
      exploration: share,
    },
    log: pino({ level: 'silent' }),
    clock,
  });
  const exploration = { share, random: () => explorer.next() };

  const policies = ['learning', 'static', 'random', 'oracle'] as const;
  type Policy = (typeof policies)[number];
  const tenths = Array.from({ length: 10 }, () => ({ learning: 0, static: 0, random: 0, oracle: 0 }));
  const total: Record<Policy, number> = { learning: 0, static: 0, random: 0, oracle: 0 };
  const lastQuarter: Record<Policy, number> = { learning: 0, static: 0, random: 0, oracle: 0 };
  const quarterStart = Math.floor(n * 0.75);
  let events = 0;

  for (let t = 0; t < n; t++) {
    now = START + Math.floor((t * SPAN_MS) / n);
    if (t % refreshEvery === 0) {
      await learning.refresh();
      await opts.onProgress?.(t);
    }
    const c = traffic.int(0, profiles.length - 1);
    const channel = traffic.pick(channels);
    const uAccept = traffic.next();
    const uConvert = traffic.next();
    const uOrganic = traffic.next();
    const profile = profiles[c]!;
    const request = { channel, placement: null, limit: 1, context: {}, explain: false } as const;
    const base = { snapshot, profile, history: [], usage: NO_USAGE, now } as const;

    const accepted = (offer: CompiledOffer | undefined) =>
      offer !== undefined && uAccept < world.acceptProbability(c, offer, channel);
    const outcomes: Record<Policy, boolean> = {
      learning: false,
      static: false,
      random: false,
      oracle: false,
    };

    // learning: the real loop, feedback and all
    const learned: LearnedModel | undefined = learning.model(snapshot);
    const decision = decide({ ...base, request, learned, exploration });
    const touches: Touched[] = [
      ...decision.offers.map((o) => ({ customer: c, offer: o.offer, channel, shown: true })),
      ...decision.heldOut.map((h) => ({ customer: c, offer: h.offer, channel, shown: false })),
    ];
    const opens = await recordTouches(history, profile.id, touches, now);
    const entry = logEntryOf(
      {
        decisionId: `sim-${t}`,
        customerId: profile.id,
        customerKnown: true,
        channel,
        placement: null,
        rulesetVersion: snapshot.version,
        decidedAt: now,
        degraded: false,
        preview: false,
        engine: decision,
      },
      opens,
    );
    log.recordDecision(entry);
    opts.onLog?.({ kind: 'decision', decision: entry });
    const feedback: SubmittedEvent[] = [];
    const shown = decision.offers[0]?.offer;
    outcomes.learning = accepted(shown);
    if (shown !== undefined) {
      const type = outcomes.learning ? 'accept' : 'reject';
      feedback.push(event(entry, shown.id, type, events++, now));
    }
    // Purchases come from the order system, by customer and product, treated and control alike.
    for (const touch of touches) {
      const { offer } = touch;
      const acceptP = world.acceptProbability(c, offer, channel);
      const organic = world.organicRate(offer);
      const own = opts.purchaseRate;
      const buys =
        own !== undefined
          ? uOrganic < own(touch)
          : (touch.shown && uAccept < acceptP && uConvert < CONVERSION_AFTER_ACCEPT) || uOrganic < organic;
      if (buys) feedback.push(purchase(profile.id, offer.productId, events++, now));
      const ifShown =
        own?.({ ...touch, shown: true }) ?? 1 - (1 - acceptP * CONVERSION_AFTER_ACCEPT) * (1 - organic);
      const ifHeldOut = own?.({ ...touch, shown: false }) ?? organic;
      truth.touch(c, offer.campaign.ordinal, opens.has(offer.id), ifShown, ifHeldOut);
    }
    if (feedback.length > 0) {
      const verdicts = await log.submit(feedback, now);
      feedback.forEach((e, i) => {
        if (verdicts[i]!.status !== 'accepted') return;
        opts.onLog?.(
          isOutcome(e)
            ? { kind: 'outcome', event: e }
            : { kind: 'feedback', event: e, attribution: attributionOf(entry, e.offerId) },
        );
      });
    }

    // static: the affinities alone
    outcomes.static = accepted(decide({ ...base, request }).offers[0]?.offer);

    // random and oracle choose among the eligible offers; like the engine's, a choice that a
    // campaign's control group holds out leaves the slot empty.
    const eligible = eligibleOffers({ ...base, request }, true);
    const customerHash = stableHash32(profile.id);
    if (eligible.length > 0) {
      const shown = (offer: CompiledOffer) =>
        !inControlGroup(customerHash, offer.campaign.salt, offer.campaign.controlShare) && accepted(offer);
      outcomes.random = shown(eligible[Math.floor(chooser.next() * eligible.length)]!);
      let best = eligible[0]!;
      let bestP = -1;
      for (const offer of eligible) {
        const p = world.acceptProbability(c, offer, channel);
        if (p > bestP) {
          bestP = p;
          best = offer;
        }
      }
      outcomes.oracle = shown(best);
    }

    const tenth = tenths[Math.min(9, Math.floor((t * 10) / n))]!;
    for (const p of policies) {
      if (!outcomes[p]) continue;
      total[p]++;
      tenth[p]++;
      if (t >= quarterStart) lastQuarter[p]++;
    }
  }
  learning.close();
  await opts.onProgress?.(n);

  const rates = (counts: Record<Policy, number>, of: number): PolicyRates => ({
    learning: counts.learning / of,
    static: counts.static / of,
    random: counts.random / of,
    oracle: counts.oracle / of,
  });
  return {
    customers: profiles.length,
    interactions: n,
    seed: opts.seed,
    offers: snapshot.offers.length,
    exploration: share,
    acceptRate: rates(total, n),
    lastQuarterAcceptRate: rates(lastQuarter, n - quarterStart),
    overTime: tenths.map((counts, i) => {
      const from = Math.floor((i * n) / 10);
      const to = Math.floor(((i + 1) * n) / 10);
      return { from, to, ...rates(counts, Math.max(1, to - from)) };
    }),
    uplift: await measuredUplift(snapshot, log, truth.means()),
  };
}

/**
 * Records the decision's touches in the contact history, as the decision service does, and
 * returns the offers that opened an episode of their campaign (one per campaign, when none was open).
 */
async function recordTouches(
  history: MemoryContactHistoryStore,
  customerId: string,
  touches: readonly Touched[],
  now: number,
): Promise<ReadonlySet<string>> {
  if (touches.length === 0) return new Set();
  const before = (await history.read(customerId)).events;
  const events = touches.map(({ offer, channel, shown }) => ({
    offerId: offer.id,
    campaignId: offer.campaign.id,
    channel,
    outcome: shown ? ('impression' as const) : ('held_out' as const),
    at: now,
  }));
  // As the decision service does: the episodes these touches open, judged on the history before them.
  const opens = episodesOpened(before, events, now, WINDOWS.conversionMs);
  await history.append(customerId, events);
  return opens;
}

/**
 * The true uplift per episode: an episode converts unless none of its touches leads to a purchase,
 * so its chance is 1 − Π(1 − p) over its touches, once with every touch shown and once held out.
 */
class EpisodeTruth {
  /** Customer × campaign → the open episode's chances of no purchase, if shown and if held out. */
  private readonly open = new Map<string, { campaign: number; missShown: number; missHeldOut: number }>();
  private readonly sums: Float64Array;
  private readonly counts: Float64Array;

  constructor(campaigns: number) {
    this.sums = new Float64Array(campaigns);
    this.counts = new Float64Array(campaigns);
  }

  touch(customer: number, campaign: number, opens: boolean, ifShown: number, ifHeldOut: number): void {
    const key = `${customer}|${campaign}`;
    let episode = this.open.get(key);
    if (episode === undefined || opens) {
      if (episode !== undefined) this.close(episode);
      episode = { campaign, missShown: 1, missHeldOut: 1 };
      this.open.set(key, episode);
    }
    episode.missShown *= 1 - ifShown;
    episode.missHeldOut *= 1 - ifHeldOut;
  }

  /** The mean true uplift per campaign (by ordinal); null for a campaign without episodes. */
  means(): (number | null)[] {
    for (const episode of this.open.values()) this.close(episode);
    this.open.clear();
    return Array.from(this.sums, (sum, i) => (this.counts[i]! > 0 ? sum / this.counts[i]! : null));
  }

  private close(e: { campaign: number; missShown: number; missHeldOut: number }): void {
    this.sums[e.campaign]! += e.missHeldOut - e.missShown;
    this.counts[e.campaign]!++;
  }
}

function event(
  entry: DecisionLogEntry,
  offerId: string,
  type: FeedbackEvent['type'],
  n: number,
  at: number,
  value: number | null = null,
): FeedbackEvent {
  return {
    eventId: `sim-e${n}`,
    decisionId: entry.decisionId,
    offerId,
    customerId: entry.customerId,
    type,
    value,
    at,
  };
}

/** A purchase as the order system reports it: by customer and product, no decision. */
function purchase(customerId: string, productId: string, n: number, at: number): OutcomeEvent {
  return {
    eventId: `sim-e${n}`,
    customerId,
    type: 'purchase',
    productId,
    value: 100,
    at,
    channel: null,
    source: 'simulator',
  };
}

function attributionOf(entry: DecisionLogEntry, offerId: string) {
  const shown = entry.offers.find((o) => o.offerId === offerId);
  const o = shown ?? entry.heldOut.find((h) => h.offerId === offerId)!;
  return {
    channel: entry.channel,
    campaignId: o.campaignId,
    segmentId: o.segmentId,
    heldOut: shown === undefined,
  };
}

/** Each campaign's uplift per customer episode, as its report computes it from the counters. */
async function measuredUplift(
  snapshot: RulesetSnapshot,
  log: MemoryFeedbackLog,
  truth: readonly (number | null)[],
): Promise<CampaignUplift[]> {
  const range: DayRange = { from: dayOf(START), to: dayOf(START + SPAN_MS) };
  const counters = await new MemoryStatsReader(log.stats).read(daysOf(range));
  const report = campaignsReport({ snapshot, counters, range });
  return report.campaigns.map((c, i) => {
    const u = c.totals.customerUplift;
    return {
      campaignId: c.id,
      measured: u.uplift,
      ci95: u.ci95,
      truth: truth[i] ?? null,
      treated: u.treated.customers,
      control: u.control.customers,
      treatedConversions: u.treated.conversions,
      controlConversions: u.control.conversions,
    };
  });
}
