import { describe, expect, it } from 'vitest';
import { channelIndex } from '../domain/channel.js';
import { NO_USAGE } from '../domain/contact.js';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { Rng } from '../domain/random.js';
import { stableHash32 } from '../domain/stable-hash.js';
import { ips, type LoggedSample } from '../evaluation/off-policy.js';
import { inControlGroup } from '../learning/control-group.js';
import { buildRuleset } from '../ruleset/load.js';
import { decide, type EngineDecision, type Exploration } from './decide.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');

// Eight web candidates (K = 8), greedy order o0 … o7 by value. For the customer below:
// o3 shares o0's group and o4 shares o1's, o5 is for a product the customer holds, o6's condition
// fails. So the greedy slates are [o0], [o0, o1], [o0, o1, o2], and [o0, o1, o2, o7] is all there is.
const OFFERS: readonly [id: string, value: number, group: string, extra?: string][] = [
  ['o0', 1000, 'g0'],
  ['o1', 900, 'g1'],
  ['o2', 800, 'g2'],
  ['o3', 700, 'g0'],
  ['o4', 600, 'g1'],
  ['o5', 500, 'g5'],
  ['o6', 400, 'g6', "    when: context.page == 'never'\n"],
  ['o7', 300, 'g7'],
];
const K = OFFERS.length;
const text = `campaigns:
  - id: c
    name: C
    objective: cross_sell
offers:
${OFFERS.map(
  ([id, value, group, extra = '']) => `  - id: ${id}
    name: ${id}
    campaign: c
    product: p${id.slice(1)}
    group: ${group}
    channels: [web]
    value: ${value}
    basePropensity: 0.1
${extra}    creatives:
      web: { headline: H, image: /i.png, link: /l }
`,
).join('')}contactPolicies:
  - channel: web
    cost: 0.5
`;
const snapshot = buildRuleset([{ name: 'rules.yaml', text }], NOW);
const customer = profileFromRecord({
  id: 'cust-1',
  holdings: ['p5'],
  affinities: [{ product: 'p7', score: 0.25 }],
});
const ALL = OFFERS.map(([id]) => id);

function decideWith(
  exploration: Exploration | undefined,
  limit: number,
  explain = false,
  profile: CustomerProfile = customer,
): EngineDecision {
  return decide({
    snapshot,
    profile,
    history: [],
    usage: NO_USAGE,
    now: NOW,
    exploration,
    request: { channel: 'web', placement: null, limit, context: {}, explain },
  });
}

/** A `random` that answers the given values in turn. */
function answers(...values: number[]): () => number {
  let i = 0;
  return () => {
    if (i >= values.length) throw new Error('more random numbers drawn than expected');
    return values[i++]!;
  };
}

/** The uniform in [0, 1) that draws candidate `id` from the K of the static list. */
function drawing(id: string): number {
  const at = snapshot.channels[channelIndex('web')]!.all.byStaticScore.findIndex((o) => o.id === id);
  expect(at).toBeGreaterThanOrEqual(0);
  return (at + 0.5) / K;
}

const ids = (d: EngineDecision) => d.offers.map((o) => o.offer.id);

describe('exploration off', () => {
  const limits = [1, 2, 3, 6];

  it('without exploration or with share 0 the decision is the greedy one, every probability 1', () => {
    for (const limit of limits) {
      for (const explain of [false, true]) {
        const plain = decideWith(undefined, limit, explain);
        expect(plain.explored).toBe(false);
        expect(plain.limit).toBe(limit);
        expect(plain.offers.every((o) => o.probability === 1)).toBe(true);
        // Share 0 draws no random number at all.
        const zero = decideWith({ share: 0, random: answers() }, limit, explain);
        expect(zero).toEqual(plain);
      }
    }
    expect(ids(decideWith(undefined, 3))).toEqual(['o0', 'o1', 'o2']);
    expect(ids(decideWith(undefined, 6))).toEqual(['o0', 'o1', 'o2', 'o7']);
  });

  it('a decision that does not explore shows the greedy slate, the last offer at probability 1 − ε + ε/K', () => {
    const share = 0.2;
    for (const limit of limits) {
      const plain = decideWith(undefined, limit);
      const greedy = decideWith({ share, random: answers(0.99) }, limit);
      expect(greedy.explored).toBe(false);
      expect(ids(greedy)).toEqual(ids(plain));
      const full = plain.offers.length === limit;
      greedy.offers.forEach((o, i) => {
        expect(o).toEqual({
          ...plain.offers[i]!,
          probability: full && i === limit - 1 ? 1 - share + share / K : 1,
        });
      });
    }
  });
});

describe('an exploring decision', () => {
  const share = 0.2;

  it('shows the drawn offer in the last slot with probability ε/K and the reason exploration', () => {
    for (const [limit, id] of [
      [1, 'o2'],
      [1, 'o3'], // o0 was replaced, so its group is free
      [2, 'o4'], // o1 was replaced, so its group is free
      [2, 'o7'],
      [3, 'o7'],
    ] as const) {
      const d = decideWith({ share, random: answers(0.1, drawing(id)) }, limit);
      expect(d.explored).toBe(true);
      const plain = decideWith(undefined, limit);
      expect(ids(d)).toEqual([...ids(plain).slice(0, limit - 1), id]);
      d.offers.slice(0, -1).forEach((o, i) => {
        expect(o).toEqual({ ...plain.offers[i]!, probability: 1 });
      });
      const explored = d.offers.at(-1)!;
      expect(explored.rank).toBe(limit);
      expect(explored.probability).toBe(share / K);
      expect(explored.reasons.at(-1)).toBe('exploration');
      expect(explored.reasons).toEqual([
        'campaign:c',
        id === 'o7' ? 'affinity:p7' : 'base_propensity',
        'exploration',
      ]);
      // Scored as the greedy walk would have: affinity (or base propensity) × worth − cost.
      const prior = id === 'o7' ? 0.25 : 0.1;
      expect(explored.prior).toBe(prior);
      expect(explored.propensity).toBe(prior);
      expect(explored.score).toBe(prior * explored.offer.worth - 0.5);
    }
  });

  it('leaves the last slot empty when the drawn offer is not eligible or already shown', () => {
    for (const [limit, id] of [
      [1, 'o5'], // holds the product
      [1, 'o6'], // its condition fails
      [2, 'o3'], // o0, in the same group, is shown
      [2, 'o0'], // already shown
      [3, 'o4'], // o1, in the same group, is shown
      [3, 'o1'],
    ] as const) {
      const d = decideWith({ share, random: answers(0.1, drawing(id)) }, limit);
      expect(d.explored).toBe(true);
      expect(ids(d)).toEqual(ids(decideWith(undefined, limit)).slice(0, limit - 1));
      expect(d.offers.every((o) => o.probability === 1)).toBe(true);
    }
  });

  it('drawing the greedy last offer shows it, at its own probability', () => {
    const d = decideWith({ share, random: answers(0.1, drawing('o1')) }, 2);
    expect(d.explored).toBe(true);
    expect(ids(d)).toEqual(['o0', 'o1']);
    expect(d.offers[1]!.probability).toBe(1 - share + share / K);
    expect(d.offers[1]!.reasons).not.toContain('exploration');
  });

  it('with room to spare adds nothing: every eligible offer is shown already', () => {
    for (const id of ALL) {
      const d = decideWith({ share, random: answers(0.1, drawing(id)) }, 6);
      expect(d.explored).toBe(true);
      expect(ids(d)).toEqual(['o0', 'o1', 'o2', 'o7']);
      expect(d.offers.every((o) => o.probability === 1)).toBe(true);
    }
  });

  it('with explain, accounts for every candidate exactly once', () => {
    for (const limit of [1, 2, 3]) {
      for (const id of ALL) {
        const d = decideWith({ share, random: answers(0.1, drawing(id)) }, limit, true);
        const seen = [...ids(d), ...d.suppressed!.map((s) => s.offer.id)];
        expect(seen.sort(), `limit ${limit}, drawn ${id}`).toEqual([...ALL].sort());
      }
    }
  });

  it('holds out a drawn offer whose campaign’s control group the customer is in, leaving the slot empty', () => {
    const withControl = buildRuleset(
      [
        { name: 'rules.yaml', text },
        {
          name: 'control.yaml',
          text: `campaigns:
  - id: ctl
    name: With a control group
    objective: retention
    controlGroup: 0.5
offers:
  - id: o8
    name: o8
    campaign: ctl
    product: p8
    channels: [web]
    value: 200
    basePropensity: 0.1
    creatives:
      web: { headline: H, image: /i.png, link: /l }
`,
        },
      ],
      NOW,
    );
    const salt = withControl.campaignById.get('ctl')!.salt;
    const id = Array.from({ length: 100 }, (_, i) => `cust-${i}`).find((c) =>
      inControlGroup(stableHash32(c), salt, 0.5),
    )!;
    const at = withControl.channels[channelIndex('web')]!.all.byStaticScore.findIndex((o) => o.id === 'o8');
    const d = decide({
      snapshot: withControl,
      profile: profileFromRecord({ id, holdings: ['p5'] }),
      history: [],
      usage: NO_USAGE,
      now: NOW,
      exploration: { share, random: answers(0.1, (at + 0.5) / 9) },
      request: { channel: 'web', placement: null, limit: 1, context: {}, explain: true },
    });
    expect(d.explored).toBe(true);
    expect(d.offers).toEqual([]);
    expect(d.heldOut.map((h) => h.offer.id)).toEqual(['o8']);
    const codes = d.suppressed!.map((s) => `${s.offer.id}:${s.code}`);
    expect(codes.filter((c) => c.startsWith('o8:'))).toEqual(['o8:control_group']);
    expect(codes).toContain('o0:ranked_out');
    expect(codes).toHaveLength(9);
  });
});

/** The binomial bound: |count − n·p| ≤ 4.5 standard deviations (false alarm ~7e-6 per check). */
function expectBinomial(count: number, n: number, p: number, what: string): void {
  const sd = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(count - n * p), `${what}: ${count} of ${n}, p = ${p}`).toBeLessThanOrEqual(4.5 * sd + 1e-9);
}

describe('logged probabilities are the frequencies with which offers are shown', () => {
  const N = 200_000;
  const share = 0.3;
  const g = 1 - share + share / K;
  const x = share / K;
  // By hand, from the ruleset above: what each offer's probability must be.
  const expected: Record<number, Record<string, number>> = {
    1: { o0: g, o1: x, o2: x, o3: x, o4: x, o7: x },
    2: { o0: 1, o1: g, o2: x, o4: x, o7: x },
    3: { o0: 1, o1: 1, o2: g, o7: x },
    6: { o0: 1, o1: 1, o2: 1, o7: 1 },
  };

  for (const limit of [1, 2, 3, 6]) {
    it(`limit ${limit}: over ${N} decisions`, () => {
      const rng = new Rng('exploration', limit);
      const exploration: Exploration = { share, random: () => rng.next() };
      const shown = new Map<string, number>();
      const logged = new Map<string, number>();
      let explored = 0;
      for (let i = 0; i < N; i++) {
        const d = decideWith(exploration, limit);
        if (d.explored) explored++;
        for (const o of d.offers) {
          const id = o.offer.id;
          shown.set(id, (shown.get(id) ?? 0) + 1);
          const before = logged.get(id);
          // One probability per offer: the policy is the same for every decision.
          if (before === undefined) logged.set(id, o.probability);
          else if (before !== o.probability) expect.fail(`${id} logged at ${before} and ${o.probability}`);
        }
      }
      expectBinomial(explored, N, share, 'explored');
      expect(Object.fromEntries(logged)).toEqual(expected[limit]);
      for (const [id, p] of logged) expectBinomial(shown.get(id)!, N, p, id);
    });
  }
});

describe('inverse propensity scoring with the logged probabilities', () => {
  it('estimates the value of another policy from the decisions of this one', () => {
    // Accept rates per offer, known here, unknown to the estimator.
    const acceptRate: Record<string, number> = { o0: 0.05, o1: 0.2, o2: 0.1, o3: 0.3, o4: 0.15, o7: 0.25 };
    const N = 200_000;
    const share = 0.3;
    const rng = new Rng('ips');
    const outcomes = new Rng('ips-outcomes');
    const exploration: Exploration = { share, random: () => rng.next() };
    const log: { offerId: string | null; probability: number; reward: number }[] = [];
    for (let i = 0; i < N; i++) {
      const [shown] = decideWith(exploration, 1).offers;
      if (shown === undefined) log.push({ offerId: null, probability: 1, reward: 0 });
      else {
        const reward = outcomes.chance(acceptRate[shown.offer.id]!) ? 1 : 0;
        log.push({ offerId: shown.offer.id, probability: shown.probability, reward });
      }
    }
    // Deterministic candidate policies: always show o3 (which the engine only ever explores), always o0.
    for (const target of ['o3', 'o0', 'o7']) {
      const samples: LoggedSample[] = log.map((l) => ({
        // A decision that showed nothing is an action the candidate never takes: weight 0 whatever
        // its probability, which is why that one is not logged.
        propensity: l.probability,
        reward: l.reward,
        targetProbability: l.offerId === target ? 1 : 0,
      }));
      const estimate = ips(samples);
      const se = (estimate.ci95[1] - estimate.ci95[0]) / (2 * 1.959964);
      expect(
        Math.abs(estimate.estimate - acceptRate[target]!),
        `${target}: ${estimate.estimate} ± ${se}`,
      ).toBeLessThanOrEqual(4.5 * se);
      expect(se).toBeLessThan(0.01);
    }
  });
});
