import { describe, expect, it } from 'vitest';
import { NO_USAGE } from '../domain/contact.js';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { Rng } from '../domain/random.js';
import { RulesetError } from '../errors.js';
import { buildRuleset, type RulesSource } from '../ruleset/load.js';
import type { RulesetSnapshot } from '../ruleset/snapshot.js';
import { decide, type EngineDecision, type Exploration } from './decide.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const N = 20_000;

const offer = (id: string, campaign: string, value: number, group: string, extra = '') => `  - id: ${id}
    name: ${id}
    campaign: ${campaign}
    product: p-${id}
    group: ${group}
    channels: [web]
    value: ${value}
    basePropensity: 0.05
${extra}    creatives:
      web: { headline: H, image: /i.png, link: /l }
`;
// a and b share a group; c is for young customers only; e needs the home page.
const RULES = `segments:
  - id: young
    when: customer.age < 30
campaigns:
  - id: open
    name: Open
    objective: cross_sell
  - id: youth
    name: Youth
    objective: acquisition
    segments: [young]
offers:
${offer('a', 'open', 100, 'ga')}${offer('b', 'open', 80, 'ga')}${offer('c', 'youth', 60, 'gc')}${offer('d', 'open', 40, 'gd')}${offer('e', 'open', 20, 'ge', "    when: context.page == 'home'\n")}`;

const rules = (holdout: string | null, extra = ''): RulesSource[] => [
  { name: 'offers.yaml', text: RULES + extra },
  ...(holdout === null ? [] : [{ name: 'programme.yaml', text: `globalHoldout: ${holdout}\n` }]),
];
const plain = buildRuleset(rules(null), NOW);
const held = buildRuleset(rules('0.1'), NOW);

function decideOn(
  snapshot: RulesetSnapshot,
  profile: CustomerProfile,
  limit = 3,
  options: { explain?: boolean; page?: string; exploration?: Exploration } = {},
): EngineDecision {
  return decide({
    snapshot,
    profile,
    history: [],
    usage: NO_USAGE,
    now: NOW,
    exploration: options.exploration,
    request: {
      channel: 'web',
      placement: null,
      limit,
      context: { page: options.page ?? 'other' },
      explain: options.explain ?? false,
    },
  });
}

const ids = Array.from({ length: N }, (_, i) => `cust-${i}`);
// Explained, so that the global holdout is told apart from a campaign's control group (whose slot also stays empty).
const isHeldOut = (d: EngineDecision) =>
  d.offers.length === 0 &&
  d.heldOut.length > 0 &&
  (d.suppressed ?? []).some((x) => x.code === 'global_holdout');
const heldOutIds = (snapshot: RulesetSnapshot) =>
  new Set(ids.filter((id) => isHeldOut(decideOn(snapshot, profileFromRecord({ id }), 3, { explain: true }))));

/** The binomial bound: |count − n·p| ≤ 4.5 standard deviations. */
function expectBinomial(count: number, n: number, p: number, what: string): void {
  const sd = Math.sqrt(n * p * (1 - p));
  expect(Math.abs(count - n * p), `${what}: ${count} of ${n}, p = ${p}`).toBeLessThanOrEqual(4.5 * sd);
}

/** A random customer: some young, some holding a's product, some with affinities. */
function randomCustomer(rng: Rng, id: string): CustomerProfile {
  return profileFromRecord({
    id,
    attributes: { age: rng.int(18, 70) },
    holdings: rng.chance(0.3) ? ['p-a'] : [],
    affinities: ['a', 'b', 'c', 'd', 'e']
      .filter(() => rng.chance(0.4))
      .map((o) => ({ product: `p-${o}`, score: rng.float(0, 0.5) })),
  });
}

describe('globalHoldout 0', () => {
  it('is the default, and set explicitly changes nothing', () => {
    const zero = buildRuleset(rules('0'), NOW);
    expect(plain.globalHoldout).toBe(0);
    expect(zero.globalHoldout).toBe(0);
    const rng = new Rng('holdout-zero');
    for (const id of ids.slice(0, 2_000)) {
      const profile = randomCustomer(rng, id);
      const limit = rng.int(1, 4);
      const a = decideOn(plain, profile, limit, { explain: true });
      const b = decideOn(zero, profile, limit, { explain: true });
      expect(b.offers.map((o) => [o.offer.id, o.score])).toEqual(a.offers.map((o) => [o.offer.id, o.score]));
      expect(a.offers.length).toBeGreaterThan(0);
      expect(b.heldOut).toEqual([]);
      expect(b.suppressed!.some((s) => s.code === 'global_holdout')).toBe(false);
    }
  });
});

describe('globalHoldout share', () => {
  const tenth = heldOutIds(held);

  it(`holds out a share s of ${N} customers, within binomial bounds`, () => {
    expect(held.globalHoldout).toBe(0.1);
    expectBinomial(tenth.size, N, 0.1, 'held out at 0.1');
    const quarter = heldOutIds(buildRuleset(rules('0.25'), NOW));
    expectBinomial(quarter.size, N, 0.25, 'held out at 0.25');
    // Raising the share only adds customers: those held out at 10% still are at 25%.
    for (const id of tenth) expect(quarter.has(id)).toBe(true);
  });

  it('is stable: the same customer gets the same answer on every call and after a reload', () => {
    expect(heldOutIds(held)).toEqual(tenth);
    // Another ruleset version (an offer more), the same share: the same customers.
    const reloaded = buildRuleset(rules('0.1', offer('f', 'open', 10, 'gf')), NOW);
    expect(reloaded.version).not.toBe(held.version);
    expect(heldOutIds(reloaded)).toEqual(tenth);
  });

  it('shows a held-out customer nothing and returns the slate they would have seen as heldOut', () => {
    const rng = new Rng('holdout-slate');
    const never: Exploration = {
      share: 1,
      random: () => {
        throw new Error('a held-out customer does not explore');
      },
    };
    let checked = 0;
    for (const id of [...tenth].slice(0, 1_000)) {
      const profile = randomCustomer(rng, id);
      const limit = rng.int(1, 4);
      const page = rng.chance(0.5) ? 'home' : 'other';
      const would = decideOn(plain, profile, limit, { page });
      for (const explain of [false, true]) {
        const d = decideOn(held, profile, limit, { explain, page, exploration: never });
        expect(d.offers).toEqual([]);
        expect(d.explored).toBe(false);
        expect(d.heldOut.map((h) => [h.offer.id, h.score, h.propensity, h.prior, h.segmentId])).toEqual(
          would.offers.map((o) => [o.offer.id, o.score, o.propensity, o.prior, o.segmentId]),
        );
      }
      // With explain, every other candidate has the reason it has for a customer not held out.
      const whyNot = decideOn(plain, profile, limit, { page, explain: true });
      const explained = decideOn(held, profile, limit, { page, explain: true });
      const codes = (d: EngineDecision) =>
        Object.fromEntries([
          ...d.offers.map((o) => [o.offer.id, 'global_holdout']),
          ...d.suppressed!.map((s) => [s.offer.id, s.code]),
        ]);
      expect(Object.fromEntries(explained.suppressed!.map((s) => [s.offer.id, s.code]))).toEqual(
        codes(whyNot),
      );
      checked++;
    }
    expect(checked).toBeGreaterThan(1_500 / 2);
  });

  it('customers not held out are decided as without the holdout', () => {
    const rng = new Rng('holdout-others');
    for (const id of ids.slice(0, 3_000)) {
      const profile = randomCustomer(rng, id);
      if (tenth.has(id)) continue;
      const a = decideOn(plain, profile, 2, { explain: true });
      const b = decideOn(held, profile, 2, { explain: true });
      expect(b).toEqual({ ...a, offers: b.offers, suppressed: b.suppressed });
      expect(b.offers.map((o) => [o.offer.id, o.score])).toEqual(a.offers.map((o) => [o.offer.id, o.score]));
      expect(b.suppressed!.map((s) => [s.offer.id, s.code])).toEqual(
        a.suppressed!.map((s) => [s.offer.id, s.code]),
      );
    }
  });
});

describe('the global holdout and a campaign’s control group', () => {
  // k's campaign holds out half its customers; z is the next best offer.
  const text = `campaigns:
  - id: kc
    name: With a control group
    objective: retention
    controlGroup: 0.5
  - id: zc
    name: Open
    objective: cross_sell
offers:
${offer('k', 'kc', 100, 'gk')}${offer('z', 'zc', 50, 'gz')}`;
  const withoutHoldout = buildRuleset([{ name: 'a.yaml', text }], NOW);
  const withHoldout = buildRuleset([{ name: 'a.yaml', text: `${text}globalHoldout: 0.2\n` }], NOW);

  it('are independent draws', () => {
    let control = 0;
    let both = 0;
    let heldOnly = 0;
    for (const id of ids) {
      const profile = profileFromRecord({ id });
      const c = decideOn(withoutHoldout, profile, 1);
      const inControl = c.heldOut.some((h) => h.offer.id === 'k');
      // The control group's slot stays empty: no next best offer in its place.
      expect(c.offers.map((o) => o.offer.id)).toEqual(inControl ? [] : ['k']);
      const h = decideOn(withHoldout, profile, 1, { explain: true });
      if (inControl) control++;
      if (isHeldOut(h)) {
        if (inControl) both++;
        else heldOnly++;
        expect(h.offers).toEqual([]);
      } else {
        expect(h.offers.map((o) => o.offer.id)).toEqual(c.offers.map((o) => o.offer.id));
      }
    }
    expectBinomial(control, N, 0.5, 'in the control group');
    // Held out at 20% among the control group's customers, and among the others.
    expectBinomial(both, control, 0.2, 'held out in the control group');
    expectBinomial(heldOnly, N - control, 0.2, 'held out outside the control group');
  });
});

describe('the ruleset compiler and globalHoldout', () => {
  function problemsOf(sources: RulesSource[]) {
    try {
      buildRuleset(sources, NOW);
    } catch (err) {
      if (err instanceof RulesetError) return err.problems;
      throw err;
    }
    throw new Error('expected the ruleset to be rejected');
  }

  it('rejects a second file setting it, naming the file and the first', () => {
    const problems = problemsOf([
      { name: 'a.yaml', text: RULES },
      { name: 'b.yaml', text: 'globalHoldout: 0.05\n' },
      { name: 'c.yaml', text: '# the programme\nglobalHoldout: 0.1\n' },
    ]);
    expect(problems).toEqual([
      expect.objectContaining({
        file: 'c.yaml',
        line: 2,
        path: '/globalHoldout',
        message: 'globalHoldout is already set in b.yaml',
      }),
    ]);
  });

  it('rejects a share outside [0, 0.5] with file and line', () => {
    for (const share of ['0.6', '-0.1', '"ten"']) {
      const [p, ...rest] = problemsOf([
        { name: 'a.yaml', text: RULES },
        { name: 'b.yaml', text: `# why\nglobalHoldout: ${share}\n` },
      ]);
      expect(rest).toEqual([]);
      expect(p).toMatchObject({ file: 'b.yaml', line: 2, path: '/globalHoldout' });
    }
    expect(buildRuleset(rules('0.5'), NOW).globalHoldout).toBe(0.5);
  });
});
