/**
 * Off-policy evaluation against the truth. The simulator logs decisions of the real engine (learning,
 * ε-greedy exploration with ε = 0.2, control groups) on a synthetic population whose true accept
 * probabilities are known; a candidate ruleset is then evaluated on that log as
 * `offerloop evaluate` does, and each estimate is compared with the candidate's true accept rate
 * on the same logged requests: the mean over logged decisions of Σ_a π(a|x) p(x, a), with π
 * computed by the very CandidatePolicy the estimators use.
 *
 * Figures with this seed (100,000 decisions; logged accept rate 0.184): truth, then IPS / SNIPS / DR
 *   logging rules, greedy    0.2206   0.2192 / 0.2177 / 0.2183   ESS 14,718   match 0.87
 *   candidate                0.1734   0.1690 / 0.1715 / 0.1742   ESS  2,912   match 0.52
 *   candidate, ε 0.1         0.1594   0.1554 / 0.1577 / 0.1601   ESS  3,090
 *   candidate, no learning   0.1599   0.1554 / 0.1582 / 0.1659   ESS  2,607   (r̂ alone: 0.2814)
 * every 95 % interval holding the truth, the intervals ±2–7 %. Over six seeds (ope-1, a … e) the
 * largest error was 6.2 % and no interval missed; a different seed should pass as well.
 */
import { beforeAll, describe, expect, it } from 'vitest';
import { Rng, round } from '../src/domain/random.js';
import {
  CandidatePolicy,
  evaluatePolicy,
  LogCounters,
  type LoggedDecision,
  loggedDecisions,
  loggedLimit,
  type PolicyEvaluation,
} from '../src/evaluation/policy-evaluation.js';
import type { DecisionLogEntry, LogEntry } from '../src/feedback/feedback-event.js';
import { buildRuleset } from '../src/ruleset/load.js';
import type { RulesetSnapshot } from '../src/ruleset/snapshot.js';
import type { OfferSource, RulesFile } from '../src/ruleset/source.js';
import { rulesFileTexts } from '../src/sim/catalog.js';
import { type SimulatedWorld, simulate, simulatedWorld, simulationRules } from '../src/sim/simulation.js';

const SEED = 'ope-1';
const CUSTOMERS = 5000;
const INTERACTIONS = 100_000;
const EXPLORATION = 0.2;
const LOADED_AT = Date.UTC(2026, 10, 1);

/** The simulator's rules with every offer's weight redrawn from [0.3, 3] and a fifth of the offers removed. */
function candidateRules(): Record<string, RulesFile> {
  const files = simulationRules({ seed: SEED });
  const rng = new Rng(SEED, 'candidate');
  const offers: OfferSource[] = [];
  for (const o of files['offers.yaml']!.offers!) {
    if (rng.chance(0.2)) continue;
    offers.push({ ...o, weight: round(rng.float(0.3, 3), 2) });
  }
  return { ...files, 'offers.yaml': { offers } };
}

function compile(files: Record<string, RulesFile>): RulesetSnapshot {
  return buildRuleset(rulesFileTexts(files), LOADED_AT);
}

/** The candidate's true accept rate on the logged requests. */
function trueValue(world: SimulatedWorld, policy: CandidatePolicy, decisions: readonly DecisionLogEntry[]) {
  let sum = 0;
  for (const d of decisions) {
    const c = Number(d.customerId.slice('cust-'.length)) - 1;
    const actions = policy.actions({
      profile: world.profiles[c]!,
      channel: d.channel,
      placement: d.placement,
      limit: loggedLimit(d),
      at: d.at,
    });
    for (const a of actions) {
      // The world knows its own offers: ordinals in the candidate's snapshot may differ.
      sum += a.probability * world.acceptProbability(c, world.snapshot.offerById.get(a.offer.id)!, d.channel);
    }
  }
  return sum / decisions.length;
}

interface Outcome {
  readonly truth: number;
  readonly result: PolicyEvaluation;
}

describe('off-policy evaluation on a simulated log', { timeout: 30_000 }, () => {
  const world = simulatedWorld({ customers: CUSTOMERS, seed: SEED });
  const profiles = new Map(world.profiles.map((p) => [p.id, p]));
  let logged: LoggedDecision[] = [];
  let counters: LogCounters;
  let loggingRules: Outcome;

  function evaluate(snapshot: RulesetSnapshot, options: { exploration?: number; learning?: boolean } = {}) {
    const learned = options.learning === false ? undefined : counters.model(snapshot);
    const policy = new CandidatePolicy(snapshot, { learned, exploration: options.exploration ?? 0 });
    const result = evaluatePolicy(policy, (id) => profiles.get(id), logged);
    const truth = trueValue(
      world,
      policy,
      logged.map((l) => l.decision),
    );
    return { truth, result };
  }

  /** Each estimate within 10 % of the truth, and the truth inside each 95 % interval. */
  function expectClose({ truth, result }: Outcome) {
    for (const name of ['ips', 'snips', 'doublyRobust'] as const) {
      const e = result[name]!;
      const error = Math.abs(e.estimate - truth) / truth;
      expect(error, `${name} ${e.estimate} vs truth ${truth}`).toBeLessThan(0.1);
      expect(e.ci95[0], `${name} interval low`).toBeLessThanOrEqual(truth);
      expect(e.ci95[1], `${name} interval high`).toBeGreaterThanOrEqual(truth);
    }
  }

  beforeAll(async () => {
    const entries: LogEntry[] = [];
    await simulate({
      customers: CUSTOMERS,
      interactions: INTERACTIONS,
      seed: SEED,
      exploration: EXPLORATION,
      onLog: (entry) => entries.push(entry),
    });
    counters = new LogCounters();
    for (const e of entries) counters.add(e);
    logged = loggedDecisions(entries);
    loggingRules = evaluate(world.snapshot);
  }, 60_000);

  it('the logging rules themselves, greedy on what the log taught', () => {
    const { result } = loggingRules;
    expect(result.logged.decisions).toBe(INTERACTIONS);
    expect(result.skipped).toEqual({ unknownCustomer: 0, noProbability: 0 });
    expectClose(loggingRules);
  });

  it('a candidate that differs materially: reweighted offers, a fifth of them removed', () => {
    const outcome = evaluate(compile(candidateRules()));
    // The candidate is not the logging rules in disguise, so the test could fail.
    expect(outcome.result.candidate.matchRate!).toBeLessThan(0.8);
    expect(Math.abs(outcome.truth - loggingRules.truth) / loggingRules.truth).toBeGreaterThan(0.1);
    expectClose(outcome);
  });

  it('the candidate with ε-greedy exploration of its own', () => {
    expectClose(evaluate(compile(candidateRules()), { exploration: 0.1 }));
  });

  it('the candidate on affinities alone: a poor reward model (rates overstated), DR still close', () => {
    const outcome = evaluate(compile(candidateRules()), { learning: false });
    expect(outcome.result.candidate.modelEstimate! / outcome.truth).toBeGreaterThan(1.3);
    expectClose(outcome);
  });
});
