import { describe, expect, it } from 'vitest';
import { learningRules } from '../../test/learning-rules.js';
import type { Channel } from '../domain/channel.js';
import { NO_USAGE } from '../domain/contact.js';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { Rng } from '../domain/random.js';
import { decide } from '../engine/decide.js';
import { counterField } from '../feedback/feedback-effects.js';
import type { DecisionLogEntry, LogEntry, LoggedOffer } from '../feedback/feedback-event.js';
import { LearnedModel } from '../learning/learned-model.js';
import { buildRuleset } from '../ruleset/load.js';
import { doublyRobust, ips, type LoggedSample, snips } from './off-policy.js';
import {
  CandidatePolicy,
  EVALUATION_LEARNING,
  evaluatePolicy,
  LogCounters,
  loggedDecisions,
  loggedLimit,
  PolicyEvaluator,
} from './policy-evaluation.js';
import { Z95 } from './uplift.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');

const RULES = learningRules(
  ['a', 'b'],
  [
    { id: 'open', name: 'Open to all' },
    { id: 'targeted', name: 'Targeted', segments: ['seg_a', 'seg_b'] },
    { id: 'halved', name: 'Half in control', controlGroup: 0.5 },
  ],
  [
    { id: 'a', campaign: 'open', product: 'pa', basePropensity: 0.01 },
    { id: 'b', campaign: 'open', product: 'pb', basePropensity: 0.02 },
    { id: 'c', campaign: 'open', product: 'pc', basePropensity: 0.03 },
    { id: 'c2', campaign: 'open', product: 'pc2', basePropensity: 0.025, extra: '    group: pc\n' },
    { id: 't', campaign: 'targeted', product: 'pt', basePropensity: 0.02 },
    { id: 'h', campaign: 'halved', product: 'ph', basePropensity: 0.015 },
    {
      id: 'n',
      campaign: 'open',
      product: 'pn',
      basePropensity: 0.02,
      extra: "    when: customer.tier == 'b'\n",
    },
  ],
);

const snapshot = buildRuleset([{ name: 'rules.yaml', text: RULES }], NOW);

function profile(id: string, affinities: Record<string, number>, tier = 'x'): CustomerProfile {
  return profileFromRecord({
    id,
    attributes: { tier },
    affinities: Object.entries(affinities).map(([product, score]) => ({ product, score })),
  });
}

function shown(offerId: string, probability: number): LoggedOffer {
  const campaignId = snapshot.offerById.get(offerId)?.campaign.id ?? 'gone';
  return { offerId, campaignId, segmentId: null, score: 1, propensity: 0.1, prior: 0.1, probability };
}

function decision(id: string, customerId: string, offers: LoggedOffer[], limit = 1): DecisionLogEntry {
  return {
    decisionId: id,
    customerId,
    channel: 'web',
    placement: null,
    rulesetVersion: 'logged',
    at: NOW,
    limit,
    explored: false,
    offers,
    heldOut: [],
  };
}

const NONE: ReadonlySet<string> = new Set();
const ACCEPTED = (...ids: string[]): ReadonlySet<string> => new Set(ids);

describe('CandidatePolicy', () => {
  it('greedy: the engine’s offers, each with probability 1, and r̂ = their propensity', () => {
    const policy = new CandidatePolicy(snapshot);
    const p = profile('c1', { pa: 0.4, pb: 0.1 });
    const actions = policy.actions({ profile: p, channel: 'web', placement: null, limit: 2, at: NOW });
    expect(actions.map((a) => [a.offer.id, a.probability, a.predictedReward])).toEqual([
      ['a', 1, 0.4],
      ['b', 1, 0.1],
    ]);
  });

  it('r̂ is the propensity decide() scores with, learned segment ratios included', () => {
    // A learned model with pooled and per-segment cells for the targeted and an open offer.
    const counters = new Map<string, number>();
    const add = (offerId: string, segment: string | null, impressions: number, accepts: number) => {
      for (const [metric, amount] of [
        ['impressions', impressions],
        ['accepts', accepts],
        ['expected', impressions * 0.02],
      ] as const) {
        const field = counterField(offerId, 'web', segment, metric);
        counters.set(field, (counters.get(field) ?? 0) + amount);
      }
    };
    add('t', 'seg_a', 2000, 200);
    add('t', 'seg_b', 2000, 10);
    add('a', null, 3000, 30);
    add('b', null, 3000, 150);
    const learned = LearnedModel.build(snapshot, counters, EVALUATION_LEARNING, 0);
    const policy = new CandidatePolicy(snapshot, { learned });
    const rng = new Rng('r-hat');
    for (let i = 0; i < 200; i++) {
      const p = profile(
        `c${i}`,
        { pa: rng.float(0, 0.2), pb: rng.float(0, 0.2), pt: rng.float(0, 0.2), pc: rng.float(0, 0.05) },
        rng.pick(['a', 'b', 'x']),
      );
      const limit = rng.int(1, 4);
      const engine = decide({
        snapshot,
        profile: p,
        history: [],
        usage: NO_USAGE,
        now: NOW,
        learned,
        request: { channel: 'web', placement: null, limit, context: {}, explain: false },
      });
      const actions = policy.actions({ profile: p, channel: 'web', placement: null, limit, at: NOW });
      expect(actions.map((a) => [a.offer.id, a.predictedReward])).toEqual(
        engine.offers.map((c) => [c.offer.id, c.propensity]),
      );
    }
  });

  it('ε-greedy: the marginals of the engine’s exploring decisions, enumerated exactly', () => {
    const share = 0.3;
    const policy = new CandidatePolicy(snapshot, { exploration: share });
    const k = snapshot.channels[1]!.all.byStaticScore.length; // web
    const rng = new Rng('marginals');
    let heldOutSeen = 0;
    let lastHeldOut = 0;
    for (let i = 0; i < 100; i++) {
      const p = profile(
        `m${i}`,
        { pa: rng.float(0, 0.2), pb: rng.float(0, 0.2), pc: rng.float(0, 0.1), ph: rng.float(0, 0.3) },
        rng.pick(['a', 'b', 'x']),
      );
      const limit = rng.int(1, 3);
      // The engine draws twice when it explores: random() < share, then the candidate index.
      const run = (draws: number[]) => {
        let j = 0;
        return decide({
          snapshot,
          profile: p,
          history: [],
          usage: NO_USAGE,
          now: NOW,
          request: { channel: 'web', placement: null, limit, context: {}, explain: false },
          exploration: { share, random: () => draws[j++]! },
        });
      };
      const expected = new Map<string, number>();
      const count = (offers: readonly { offer: { id: string } }[], weight: number) => {
        for (const o of offers) expected.set(o.offer.id, (expected.get(o.offer.id) ?? 0) + weight);
      };
      const greedy = run([0.999]);
      count(greedy.offers, 1 - share);
      const full = greedy.offers.length + greedy.heldOut.length >= limit;
      if (full && greedy.heldOut.length > 0 && greedy.offers.every((c) => c.probability === 1)) lastHeldOut++;
      for (let d = 0; d < k; d++) {
        const explored = run([0, (d + 0.5) / k]);
        heldOutSeen += explored.heldOut.length;
        count(explored.offers, share / k);
      }
      const actions = policy.actions({ profile: p, channel: 'web', placement: null, limit, at: NOW });
      expect(actions.map((a) => a.offer.id).sort()).toEqual([...expected.keys()].sort());
      for (const a of actions) expect(a.probability).toBeCloseTo(expected.get(a.offer.id)!, 12);
    }
    // The campaign control group (share 0.5) was met: those offers have π = 0 as they must, and
    // some slates had a held-out offer in the last slot, which an exploring decision takes over.
    expect(heldOutSeen).toBeGreaterThan(0);
    expect(lastHeldOut).toBeGreaterThan(0);
  });

  it('rejects a learned model of another snapshot and an ε outside [0, 1]', () => {
    const other = buildRuleset([{ name: 'other.yaml', text: RULES }], NOW);
    expect(() => new CandidatePolicy(snapshot, { learned: LearnedModel.identity(other) })).toThrow(
      /another snapshot/,
    );
    expect(() => new CandidatePolicy(snapshot, { exploration: 1.5 })).toThrow(/exploration/);
  });
});

describe('PolicyEvaluator', () => {
  const profiles = new Map(
    [
      profile('c1', { pa: 0.4, pb: 0.1 }),
      profile('c2', { pb: 0.3 }),
      profile('c3', { pb: 0.2, pa: 0.1 }),
    ].map((p) => [p.id, p]),
  );
  const profileOf = (id: string) => profiles.get(id);

  it('exact figures on a three-decision log', () => {
    // The candidate (greedy, no learning) shows a to c1 and b to c2 and c3, r̂ = the affinity.
    const log = [
      // logged b to c1 (accepted); the candidate shows a: weight 0, DR keeps r̂_π = 0.4
      { decision: decision('d1', 'c1', [shown('b', 0.8)]), accepted: ACCEPTED('b') },
      // explored b to c2 (accepted): weight 1 / 0.1
      { decision: decision('d2', 'c2', [shown('b', 0.1)]), accepted: ACCEPTED('b') },
      // explored b to c3 (not accepted): weight 1 / 0.2
      { decision: decision('d3', 'c3', [shown('b', 0.2)]), accepted: NONE },
    ];
    const r = evaluatePolicy(new CandidatePolicy(snapshot), profileOf, log);
    const ci = (terms: number[]): [number, number] => {
      const mean = terms.reduce((s, t) => s + t, 0) / terms.length;
      const variance = terms.reduce((s, t) => s + (t - mean) ** 2, 0) / (terms.length - 1);
      const half = Z95 * Math.sqrt(variance / terms.length);
      return [mean - half, mean + half];
    };
    expect(r.ips!.estimate).toBeCloseTo(10 / 3, 12);
    expect(r.ips!.ci95[0]).toBeCloseTo(ci([0, 10, 0])[0], 12);
    expect(r.ips!.ci95[1]).toBeCloseTo(ci([0, 10, 0])[1], 12);
    // DR terms: 0.4 + 0; 0.3 + 10·(1 − 0.3); 0.2 + 5·(0 − 0.2)
    expect(r.doublyRobust!.estimate).toBeCloseTo((0.4 + 7.3 - 0.8) / 3, 12);
    expect(r.doublyRobust!.ci95[1]).toBeCloseTo(ci([0.4, 7.3, -0.8])[1], 12);
    // SNIPS: Σ w·r / Σ w = 10 / 15, times one offer per decision
    expect(r.snips!.estimate).toBeCloseTo(2 / 3, 12);
    // delta method: A − R·B = (0, 10 − 10·2/3, −5·2/3), over (Σ B)², times n / (n − 1)
    const residuals = (10 / 3) ** 2 + (10 / 3) ** 2;
    const half = Z95 * Math.sqrt(((residuals / 15 ** 2) * 3) / 2);
    expect(r.snips!.ci95[0]).toBeCloseTo(2 / 3 - half, 12);
    // Kish over the per-decision weights (0, 10, 5)
    expect(r.ips!.effectiveSampleSize).toBeCloseTo(225 / 125, 12);
    expect(r.ips!.n).toBe(3);
    expect(r.logged).toMatchObject({ decisions: 3, offers: 3, accepts: 2 });
    expect(r.logged.acceptRate).toBeCloseTo(2 / 3, 12);
    expect(r.candidate.matchRate).toBeCloseTo(2 / 3, 12);
    expect(r.candidate.offersPerDecision).toBe(1);
    expect(r.candidate.modelEstimate).toBeCloseTo(0.3, 12);
    expect(r.skipped).toEqual({ unknownCustomer: 0, noProbability: 0 });
  });

  it('skips and counts decisions without logged probabilities and of unknown customers', () => {
    const evaluator = new PolicyEvaluator(new CandidatePolicy(snapshot), profileOf);
    const old = { ...shown('a', 1), probability: undefined } as unknown as LoggedOffer;
    expect(evaluator.add(decision('old', 'c1', [old]), NONE)).toBe('no_probability');
    expect(evaluator.add(decision('zero', 'c1', [shown('a', 0)]), NONE)).toBe('no_probability');
    expect(evaluator.add(decision('who', 'c99', [shown('a', 0.8)]), NONE)).toBe('unknown_customer');
    expect(evaluator.add(decision('ok', 'c1', [shown('a', 0.8)]), ACCEPTED('a'))).toBe('evaluated');
    const r = evaluator.result();
    expect(r.skipped).toEqual({ unknownCustomer: 1, noProbability: 2 });
    expect(r.logged.decisions).toBe(1);
    expect(r.ips!.estimate).toBeCloseTo(1.25, 12);
    // One decision: the spread is unknown.
    expect(r.ips!.ci95).toEqual([Number.NEGATIVE_INFINITY, Number.POSITIVE_INFINITY]);
  });

  it('nothing evaluated: no estimates; no overlap: no SNIPS', () => {
    const empty = new PolicyEvaluator(new CandidatePolicy(snapshot), profileOf).result();
    expect(empty.ips).toBeNull();
    expect(empty.snips).toBeNull();
    expect(empty.logged.acceptRate).toBeNull();
    // c1 is shown offers the candidate never shows, and one that is no longer in the rules
    const r = evaluatePolicy(new CandidatePolicy(snapshot), profileOf, [
      { decision: decision('x1', 'c1', [shown('c', 0.5)]), accepted: ACCEPTED('c') },
      { decision: decision('x2', 'c1', [shown('gone', 0.5)]), accepted: NONE },
    ]);
    expect(r.snips).toBeNull();
    expect(r.ips!.estimate).toBe(0);
    expect(r.ips!.effectiveSampleSize).toBe(0);
    expect(r.doublyRobust!.estimate).toBeCloseTo(0.4, 12);
  });

  it('a slate: one term per decision, Σ over its offers', () => {
    // limit 2: the candidate shows a and b to c1; logged a (p 1) and c (p 0.25), a accepted
    const r = evaluatePolicy(new CandidatePolicy(snapshot), profileOf, [
      { decision: decision('s1', 'c1', [shown('a', 1), shown('c', 0.25)], 2), accepted: ACCEPTED('a') },
      { decision: decision('s2', 'c1', [shown('a', 1), shown('b', 0.5)], 2), accepted: ACCEPTED('b') },
    ]);
    // IPS terms: 1·1 + 0 and 1·0 + 2·1
    expect(r.ips!.estimate).toBeCloseTo(1.5, 12);
    // DR terms: r̂_π = 0.4 + 0.1; (0.5 + 1·(1 − 0.4)) and (0.5 + 1·(0 − 0.4) + 2·(1 − 0.1))
    expect(r.doublyRobust!.estimate).toBeCloseTo((1.1 + 1.9) / 2, 12);
    // SNIPS: Σ w·r / Σ w = 3 / 4, times two offers per decision
    expect(r.snips!.estimate).toBeCloseTo(1.5, 12);
    expect(r.candidate.offersPerDecision).toBe(2);
    expect(r.candidate.matchRate).toBeCloseTo(3 / 4, 12);
    // Kish over the per-decision weights (1, 3)
    expect(r.ips!.effectiveSampleSize).toBeCloseTo(16 / 10, 12);
  });

  it('with one offer per decision, equals off-policy.ts on the same samples', () => {
    const rng = new Rng('agree');
    const policy = new CandidatePolicy(snapshot);
    const people = Array.from({ length: 50 }, (_, i) =>
      profile(`p${i}`, { pa: rng.float(0, 0.3), pb: rng.float(0, 0.3), pc: rng.float(0, 0.3) }),
    );
    const byId = new Map(people.map((p) => [p.id, p]));
    const evaluator = new PolicyEvaluator(policy, (id) => byId.get(id));
    const samples: LoggedSample[] = [];
    for (let i = 0; i < 400; i++) {
      const p = rng.pick(people);
      const actions = policy.actions({ profile: p, channel: 'web', placement: null, limit: 1, at: NOW });
      const pick = rng.pick(['a', 'b', 'c']);
      const mu = rng.pick([0.05, 0.3, 0.9]);
      const reward = rng.chance(0.3) ? 1 : 0;
      evaluator.add(decision(`q${i}`, p.id, [shown(pick, mu)]), reward ? ACCEPTED(pick) : NONE);
      const a = actions.find((x) => x.offer.id === pick);
      samples.push({
        propensity: mu,
        reward,
        targetProbability: a?.probability ?? 0,
        predictedReward: a?.predictedReward ?? 0,
        targetExpectedReward: actions.reduce((s, x) => s + x.probability * x.predictedReward, 0),
      });
    }
    const r = evaluator.result();
    for (const [mine, theirs] of [
      [r.ips!, ips(samples)],
      [r.snips!, snips(samples)],
      [r.doublyRobust!, doublyRobust(samples)],
    ] as const) {
      expect(mine.estimate).toBeCloseTo(theirs.estimate, 10);
      expect(mine.ci95[0]).toBeCloseTo(theirs.ci95[0], 10);
      expect(mine.ci95[1]).toBeCloseTo(theirs.ci95[1], 10);
      expect(mine.effectiveSampleSize).toBeCloseTo(theirs.effectiveSampleSize, 8);
    }
  });
});

describe('reading a log', () => {
  const channel: Channel = 'web';
  const feedback = (decisionId: string, offerId: string, type: 'accept' | 'reject', heldOut = false) =>
    ({
      kind: 'feedback',
      event: {
        eventId: `${decisionId}-${offerId}-${type}`,
        decisionId,
        offerId,
        customerId: 'c1',
        type,
        value: null,
        at: NOW,
      },
      attribution: { channel, campaignId: 'open', segmentId: null, heldOut },
    }) as const satisfies LogEntry;

  it('joins accepts to the shown offers of their decision, in any order', () => {
    const entries: LogEntry[] = [
      feedback('d2', 'b', 'accept'),
      { kind: 'decision', decision: decision('d1', 'c1', [shown('a', 1)]) },
      { kind: 'decision', decision: decision('d2', 'c2', [shown('b', 1), shown('a', 1)], 2) },
      feedback('d1', 'a', 'reject'),
      feedback('d2', 'h', 'accept', true),
    ];
    const decisions = loggedDecisions(entries);
    expect(decisions.map((d) => [d.decision.decisionId, [...d.accepted]])).toEqual([
      ['d1', []],
      ['d2', ['b']],
    ]);
  });

  it('sums the counters of every entry over all days, and learns from them', () => {
    const counters = new LogCounters();
    counters.add({ kind: 'decision', decision: decision('d1', 'c1', [shown('a', 1)]) });
    counters.add({
      kind: 'decision',
      decision: { ...decision('d2', 'c1', [shown('a', 1)]), at: NOW + 5 * 86_400_000 },
    });
    counters.add(feedback('d1', 'a', 'accept'));
    expect(counters.counters.get(counterField('a', 'web', null, 'impressions'))).toBe(2);
    expect(counters.counters.get(counterField('a', 'web', null, 'expected'))).toBeCloseTo(0.2, 12);
    expect(counters.counters.get(counterField('a', 'web', null, 'accepts'))).toBe(1);
    expect(counters.model(snapshot).snapshot).toBe(snapshot);
  });

  it('loggedLimit: the logged limit, else what the decision showed or held out', () => {
    expect(loggedLimit(decision('d', 'c', [], 0))).toBe(0);
    const { limit: _limit, ...old } = decision('d', 'c', [shown('a', 1), shown('b', 1)], 3);
    expect(loggedLimit(old)).toBe(2);
    expect(loggedLimit({ ...old, offers: [] })).toBe(1);
  });
});
