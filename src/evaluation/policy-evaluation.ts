/**
 * Off-policy evaluation of a candidate ruleset on logged decisions: how many offers per decision
 * would have been accepted had the candidate decided instead of the policy that ran (the logging
 * policy μ), estimated from the log alone (IPS, self-normalised IPS, doubly robust; see
 * off-policy.ts for what each trades). `offerloop evaluate` streams a log through it.
 *
 * The candidate policy π re-decides each logged decision with the real engine: the candidate
 * snapshot, the customer's current profile, the logged channel, placement, limit and time, and a
 * learned model. The log keeps neither the customer's contact history nor the request context,
 * so the candidate decides without them (empty history, no cap usage, empty context): it is the
 * policy "these rules, on these requests, ignoring contact policy".
 *
 * Slates. A decision may show several offers; the value of a policy is the expected number of
 * accepts per decision, Σ over the offers it shows. Each logged offer carries its marginal
 * inclusion probability μ(a|x), so by linearity
 *   V(π) = E_x Σ_a π(a|x) r(x, a) = E_x Σ_{a shown} (π(a|x) / μ(a|x)) r(x, a),
 * and every estimate here is a mean over decisions of one term per decision (IPS: Σ_shown w·r;
 * DR: r̂_π(x) + Σ_shown w·(r − r̂)), with a CLT interval over decisions. Treating the decision, not
 * the offer, as the unit keeps the interval honest when offers of one decision are correlated, and
 * counts decisions that showed nothing (an exploring slot drew an ineligible offer) at their true
 * weight: for DR they still contribute r̂_π(x). SNIPS normalises by the weights' mean, whose
 * expectation is the candidate's expected slate size Σ_a π(a|x), known exactly per decision:
 *   V̂ = (Σ_x Σ_shown w·r / Σ_x Σ_shown w) · mean_x Σ_a π(a|x),
 * which is plain SNIPS when the candidate always shows one offer. Its interval is the delta-method
 * (ratio) one over decisions. Guarded by policy-evaluation.test.ts "exact figures".
 *
 * Pure: no I/O, no clock. The caller reads the log and the profiles.
 */
import type { Channel } from '../domain/channel.js';
import { channelIndex } from '../domain/channel.js';
import { NO_USAGE } from '../domain/contact.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import { type DecisionInput, decide } from '../engine/decide.js';
import { DecisionScope } from '../engine/decision-scope.js';
import { eligibleOffers } from '../engine/eligible-offers.js';
import { countersOf } from '../feedback/feedback-effects.js';
import type { DecisionLogEntry, LogEntry } from '../feedback/feedback-event.js';
import { cellOf, LearnedModel, type LearningSettings } from '../learning/learned-model.js';
import { calibrated } from '../learning/response-rate.js';
import type { CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';
import type { OffPolicyEstimate } from './off-policy.js';
import { type Interval, Z95 } from './uplift.js';

/** What the server learns with by default (config LEARNING_*): the model evaluation re-creates. */
export const EVALUATION_LEARNING: LearningSettings = { priorStrength: 50, minSegmentImpressions: 500 };

/**
 * The feedback counters a log adds up to (field → amount, all days together), as the worker would
 * have counted them; `model()` is what the server would have learned from this log.
 */
export class LogCounters {
  readonly counters = new Map<string, number>();

  add(entry: LogEntry): void {
    for (const { field, amount } of countersOf(entry))
      this.counters.set(field, (this.counters.get(field) ?? 0) + amount);
  }

  /** The learned model for `snapshot` (builtAt 0: evaluation has no clock). */
  model(snapshot: RulesetSnapshot, settings: LearningSettings = EVALUATION_LEARNING): LearnedModel {
    return LearnedModel.build(snapshot, this.counters, settings, 0);
  }
}

/** One logged request, as the candidate re-decides it. */
export interface Situation {
  readonly profile: CustomerProfile;
  readonly channel: Channel;
  readonly placement: string | null;
  readonly limit: number;
  /** Epoch ms: the logged decision's time. */
  readonly at: number;
}

/** An offer the candidate shows with probability > 0 in a situation. */
export interface CandidateAction {
  readonly offer: CompiledOffer;
  /** π(a|x), the marginal probability that the candidate shows the offer, in (0, 1]. */
  readonly probability: number;
  /** r̂(x, a): the propensity the candidate engine computes (the reward model of DR). */
  readonly predictedReward: number;
}

export interface CandidateOptions {
  /** What feedback has taught; must be built for the same snapshot. Without it: affinities only. */
  readonly learned?: LearnedModel | undefined;
  /** ε of the candidate's ε-greedy exploration, in [0, 1]; 0 (default): greedy. */
  readonly exploration?: number;
}

const NO_CONTEXT: Readonly<Record<string, AttributeValue>> = Object.freeze({});

/**
 * A candidate ruleset as a policy: for a situation, every offer it may show with its marginal
 * probability. Exported so that a simulation computes the candidate's true value with exactly
 * the policy the estimators evaluate (test/off-policy-evaluation.test.ts).
 */
export class CandidatePolicy {
  private readonly model: LearnedModel;
  private readonly learned: LearnedModel | undefined;
  private readonly exploration: number;
  private readonly scope = new DecisionScope();

  constructor(
    readonly snapshot: RulesetSnapshot,
    options: CandidateOptions = {},
  ) {
    const { learned, exploration = 0 } = options;
    if (learned !== undefined && learned.snapshot !== snapshot)
      throw new RangeError('the learned model was built for another snapshot');
    if (!(exploration >= 0 && exploration <= 1))
      throw new RangeError(`exploration must be in [0, 1], got ${exploration}`);
    this.learned = learned;
    this.model = learned ?? LearnedModel.identity(snapshot);
    this.exploration = exploration;
  }

  /**
   * The offers the candidate shows here with probability > 0. Greedy: the engine's offers, each
   * with probability 1. With exploration ε, the marginals of the engine's ε-greedy policy (see
   * Exploration in engine/decide.ts), computed exactly from one non-exploring decision: 1 for the
   * offers before the last slot, 1 − ε + ε/K for the offer in the last slot (the engine reports
   * both), and ε/K for every other candidate the exploring slot could show: eligible, not in its
   * campaign's control group, and not in the group of an offer kept or held out in another slot.
   * Guarded by policy-evaluation.test.ts "enumerated exactly", which checks this against every
   * draw of the engine's exploring slot: a change of the engine's exploration must change this.
   */
  actions(situation: Situation): CandidateAction[] {
    const { profile, channel, placement, limit, at } = situation;
    const share = this.exploration;
    const input: DecisionInput = {
      snapshot: this.snapshot,
      profile,
      history: [],
      usage: NO_USAGE,
      request: { channel, placement, limit, context: NO_CONTEXT, explain: false },
      now: at,
      learned: this.learned,
      // A draw of exactly ε never explores, but marks the offer of the last slot with its probability.
      exploration: share > 0 ? { share, random: () => share } : undefined,
    };
    const greedy = decide(input);
    this.scope.reset(profile, NO_CONTEXT, at, this.snapshot.segments.length);
    const ch = channelIndex(channel);
    const out = greedy.offers.map(
      (c): CandidateAction => ({
        offer: c.offer,
        probability: c.probability,
        predictedReward: this.predictedReward(c.offer, ch, profile),
      }),
    );
    if (share <= 0 || greedy.limit <= 0 || greedy.explored) return out;
    // Empty when decide() does not explore (no consent, no contact room, global holdout).
    const eligible = eligibleOffers(input);
    if (eligible.length === 0) return out;
    const k = this.candidateCount(ch, placement);
    // Held-out offers (control groups) keep their slots. When the last slot is one of them (the
    // slate is full and no shown offer has the last slot's probability), an exploring decision
    // gives that slot, and so its group, to the draw.
    const shown = greedy.offers;
    const full = shown.length + greedy.heldOut.length >= greedy.limit;
    const lastIsHeldOut = full && greedy.heldOut.length > 0 && shown.every((c) => c.probability === 1);
    const blocked = new Set(shown.filter((c) => c.probability === 1).map((c) => c.offer.group));
    const heldOut = lastIsHeldOut ? greedy.heldOut.slice(0, -1) : greedy.heldOut;
    for (const h of heldOut) blocked.add(h.offer.group);
    for (const offer of eligible) {
      if (blocked.has(offer.group) || shown.some((c) => c.offer === offer)) continue;
      out.push({ offer, probability: share / k, predictedReward: this.predictedReward(offer, ch, profile) });
    }
    return out;
  }

  /**
   * r̂(x, a): the customer's affinity for the offer's product (or the offer's base propensity)
   * moved by the learned odds ratio of the offer × channel × their target segment, the propensity
   * decide() scores with. Needs `scope` reset for the customer.
   */
  private predictedReward(offer: CompiledOffer, ch: number, profile: CustomerProfile): number {
    const prior = profile.affinities.get(offer.productId) ?? offer.basePropensity;
    const segments = offer.campaign.segments;
    const segment = segments.length === 0 ? null : this.scope.firstSegmentOf(segments);
    return calibrated(prior, this.model.ratio(cellOf(offer, ch), segment === null ? -1 : segment.ordinal));
  }

  /** K of the exploring slot: the static candidates of the channel and placement (as decide() draws). */
  private candidateCount(ch: number, placement: string | null): number {
    const index = this.snapshot.channels[ch]!;
    const list = placement === null ? index.all : (index.byPlacement.get(placement) ?? index.unlisted);
    return list.byStaticScore.length;
  }
}

/** The limit a logged decision had; entries from before `limit` was logged: what it showed or held out. */
export function loggedLimit(decision: DecisionLogEntry): number {
  if (typeof decision.limit === 'number' && Number.isFinite(decision.limit)) return decision.limit;
  return Math.max(1, decision.offers.length + decision.heldOut.length);
}

export interface PolicyEvaluation {
  /** Accepts per decision the candidate would have had. Null when no decision was evaluated. */
  readonly ips: OffPolicyEstimate | null;
  /** Null also when the candidate gives probability 0 to every logged offer (no overlap). */
  readonly snips: OffPolicyEstimate | null;
  readonly doublyRobust: OffPolicyEstimate | null;
  readonly logged: {
    /** Decisions evaluated (the n of every estimate). */
    readonly decisions: number;
    readonly offers: number;
    readonly accepts: number;
    /** Accepts per decision under the logging policy, with a CLT interval over decisions. */
    readonly acceptRate: number | null;
    readonly ci95: Interval | null;
  };
  readonly candidate: {
    /** Mean over logged shown offers of π(a|x): the share of them the candidate would also show. */
    readonly matchRate: number | null;
    /** Mean over decisions of Σ_a π(a|x): how many offers the candidate shows per decision. */
    readonly offersPerDecision: number | null;
    /** Mean over decisions of r̂_π(x): the reward model's own estimate (DR's baseline, biased). */
    readonly modelEstimate: number | null;
  };
  readonly skipped: {
    /** Decisions of customers the profile lookup does not know. */
    readonly unknownCustomer: number;
    /** Decisions with a shown offer whose logged probability is missing or outside (0, 1]. */
    readonly noProbability: number;
  };
}

/** Running mean and variance (Welford), for terms computed one decision at a time. */
class RunningMean {
  n = 0;
  mean = 0;
  private m2 = 0;

  add(x: number): void {
    this.n++;
    const d = x - this.mean;
    this.mean += d / this.n;
    this.m2 += d * (x - this.mean);
  }

  interval(z: number): Interval {
    if (this.n < 2) return [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY];
    const half = z * Math.sqrt(this.m2 / (this.n - 1) / this.n);
    return [this.mean - half, this.mean + half];
  }
}

export type AddOutcome = 'evaluated' | 'unknown_customer' | 'no_probability';

/**
 * Evaluates a candidate on logged decisions one at a time, in constant memory, so that a log of
 * any size can stream through: add() each decision with the ids of its offers that were accepted,
 * then result().
 */
export class PolicyEvaluator {
  private readonly ipsTerms = new RunningMean();
  private readonly drTerms = new RunningMean();
  private readonly acceptTerms = new RunningMean();
  private readonly model = new RunningMean();
  private readonly slate = new RunningMean();
  // SNIPS as a ratio of per-decision sums A = Σ w·r and B = Σ w, with the sums its variance needs.
  private sumA = 0;
  private sumB = 0;
  private sumAA = 0;
  private sumAB = 0;
  private sumBB = 0;
  private shown = 0;
  private matched = 0;
  private accepts = 0;
  private unknownCustomer = 0;
  private noProbability = 0;

  constructor(
    private readonly policy: CandidatePolicy,
    private readonly profileOf: (customerId: string) => CustomerProfile | undefined,
    private readonly z = Z95,
  ) {
    if (!(Number.isFinite(z) && z > 0)) throw new RangeError(`z must be a positive number, got ${z}`);
  }

  /** Evaluates one logged decision; `accepted` holds the ids of its shown offers that were accepted. */
  add(decision: DecisionLogEntry, accepted: ReadonlySet<string>): AddOutcome {
    for (const o of decision.offers) {
      const p = o.probability;
      if (!(typeof p === 'number' && p > 0 && p <= 1)) {
        this.noProbability++;
        return 'no_probability';
      }
    }
    const profile = this.profileOf(decision.customerId);
    if (profile === undefined) {
      this.unknownCustomer++;
      return 'unknown_customer';
    }
    const actions = this.policy.actions({
      profile,
      channel: decision.channel,
      placement: decision.placement,
      limit: loggedLimit(decision),
      at: decision.at,
    });
    let targetValue = 0;
    let slateSize = 0;
    for (const a of actions) {
      targetValue += a.probability * a.predictedReward;
      slateSize += a.probability;
    }
    let weighted = 0;
    let weights = 0;
    let residuals = 0;
    let rewards = 0;
    for (const o of decision.offers) {
      const reward = accepted.has(o.offerId) ? 1 : 0;
      rewards += reward;
      const a = actions.find((c) => c.offer.id === o.offerId);
      this.shown++;
      if (a === undefined) continue; // π = 0: weight 0, whatever r̂ would say
      this.matched += a.probability;
      const w = a.probability / o.probability;
      weighted += w * reward;
      weights += w;
      residuals += w * (reward - a.predictedReward);
    }
    this.accepts += rewards;
    this.acceptTerms.add(rewards);
    this.ipsTerms.add(weighted);
    this.drTerms.add(targetValue + residuals);
    this.model.add(targetValue);
    this.slate.add(slateSize);
    this.sumA += weighted;
    this.sumB += weights;
    this.sumAA += weighted * weighted;
    this.sumAB += weighted * weights;
    this.sumBB += weights * weights;
    return 'evaluated';
  }

  result(): PolicyEvaluation {
    const n = this.ipsTerms.n;
    const z = this.z;
    // Kish's effective sample size of the per-decision weights B = Σ_shown w.
    const ess = this.sumBB > 0 ? (this.sumB * this.sumB) / this.sumBB : 0;
    const estimate = (m: RunningMean): OffPolicyEstimate | null =>
      n === 0 ? null : { estimate: m.mean, ci95: m.interval(z), n, effectiveSampleSize: ess };
    return {
      ips: estimate(this.ipsTerms),
      snips: this.snips(ess),
      doublyRobust: estimate(this.drTerms),
      logged: {
        decisions: n,
        offers: this.shown,
        accepts: this.accepts,
        acceptRate: n === 0 ? null : this.acceptTerms.mean,
        ci95: n === 0 ? null : this.acceptTerms.interval(z),
      },
      candidate: {
        matchRate: this.shown === 0 ? null : this.matched / this.shown,
        offersPerDecision: n === 0 ? null : this.slate.mean,
        modelEstimate: n === 0 ? null : this.model.mean,
      },
      skipped: { unknownCustomer: this.unknownCustomer, noProbability: this.noProbability },
    };
  }

  private snips(ess: number): OffPolicyEstimate | null {
    const n = this.ipsTerms.n;
    if (n === 0 || !(this.sumB > 0)) return null;
    const ratio = this.sumA / this.sumB;
    const size = this.slate.mean;
    const estimate = ratio * size;
    if (n < 2) {
      return {
        estimate,
        ci95: [Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY],
        n,
        effectiveSampleSize: ess,
      };
    }
    // Σ (A − R·B)², expanded so that it needs no second pass; rounding can take it just below 0.
    const residuals = Math.max(0, this.sumAA - 2 * ratio * this.sumAB + ratio * ratio * this.sumBB);
    const half = this.z * size * Math.sqrt(((residuals / (this.sumB * this.sumB)) * n) / (n - 1));
    return { estimate, ci95: [estimate - half, estimate + half], n, effectiveSampleSize: ess };
  }
}

/** One logged decision and the ids of its shown offers that were accepted. */
export interface LoggedDecision {
  readonly decision: DecisionLogEntry;
  readonly accepted: ReadonlySet<string>;
}

/** Evaluates `policy` on a whole log in memory (see PolicyEvaluator for streaming). */
export function evaluatePolicy(
  policy: CandidatePolicy,
  profileOf: (customerId: string) => CustomerProfile | undefined,
  decisions: Iterable<LoggedDecision>,
  z = Z95,
): PolicyEvaluation {
  const evaluator = new PolicyEvaluator(policy, profileOf, z);
  for (const { decision, accepted } of decisions) evaluator.add(decision, accepted);
  return evaluator.result();
}

/**
 * The decisions of a log with their accepts: an accept counts for the shown offer of its decision
 * (by decisionId and offerId), whichever order the entries come in.
 */
export function loggedDecisions(entries: Iterable<LogEntry>): LoggedDecision[] {
  const decisions: DecisionLogEntry[] = [];
  const accepted = new Map<string, Set<string>>();
  for (const entry of entries) {
    if (entry.kind === 'decision') decisions.push(entry.decision);
    else if (entry.kind === 'feedback' && entry.event.type === 'accept' && !entry.attribution.heldOut) {
      let set = accepted.get(entry.event.decisionId);
      if (set === undefined) {
        set = new Set();
        accepted.set(entry.event.decisionId, set);
      }
      set.add(entry.event.offerId);
    }
  }
  const none: ReadonlySet<string> = new Set();
  return decisions.map((decision) => ({ decision, accepted: accepted.get(decision.decisionId) ?? none }));
}
