import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../domain/channel.js';
import type { ProfileRecord } from '../domain/profile.js';
import { Rng } from '../domain/random.js';
import {
  EMPLOYMENTS,
  generatePopulation,
  generateProfile,
  LIFECYCLES,
  REFERENCE_DATE,
  REGIONS,
  type SyntheticAttributes,
} from './population.js';

/** The products of the example rules: ids that the generator recognises by their words. */
const BANK = [
  'current-account',
  'student-account',
  'savings-account',
  'fixed-deposit',
  'credit-card-classic',
  'credit-card-gold',
  'credit-card-platinum',
  'premium-account',
  'personal-loan',
  'car-loan',
  'mortgage',
  'home-insurance',
  'contents-insurance',
  'travel-insurance',
  'pet-insurance',
  'car-insurance',
  'life-insurance',
  'pension-plan',
  'mobile-banking',
  'investment-fund',
];
const SYNTHETIC = Array.from({ length: 125 }, (_, i) => `prod-${String(i + 1).padStart(4, '0')}`);

const ATTRIBUTE_NAMES: (keyof SyntheticAttributes)[] = [
  'age',
  'tenureYears',
  'region',
  'lifecycle',
  'clv',
  'income',
  'creditScore',
  'balance',
  'churnRisk',
  'dependents',
  'homeOwner',
  'employment',
  'digitalActive',
  'preferredChannel',
  'accountOpened',
  'carOwner',
  'travelsAbroad',
  'petOwner',
];

function attrs(p: ProfileRecord): SyntheticAttributes {
  return p.attributes as unknown as SyntheticAttributes;
}

function decimals(x: number): number {
  const text = String(x);
  const dot = text.indexOf('.');
  return dot === -1 ? 0 : text.length - dot - 1;
}

function share<T>(items: readonly T[], test: (t: T) => boolean): number {
  return items.filter(test).length / items.length;
}

function mean(xs: readonly number[]): number {
  return xs.reduce((a, b) => a + b, 0) / xs.length;
}

const bank = [...generatePopulation(5000, BANK, { seed: 42 })];
const synthetic = [...generatePopulation(2000, SYNTHETIC, { seed: 42, affinities: 20 })];

describe('generatePopulation', () => {
  it('is deterministic by seed', () => {
    expect([...generatePopulation(50, BANK, { seed: 42 })]).toEqual(bank.slice(0, 50));
    expect([...generatePopulation(50, BANK, { seed: 'other' })]).not.toEqual(bank.slice(0, 50));
  });

  it('numbers customers from `start` (default 1)', () => {
    expect(bank.slice(0, 3).map((p) => p.id)).toEqual(['cust-1', 'cust-2', 'cust-3']);
    expect([...generatePopulation(2, BANK, { seed: 42, start: 100 })].map((p) => p.id)).toEqual([
      'cust-100',
      'cust-101',
    ]);
    expect([...generatePopulation(0, BANK, { seed: 42 })]).toEqual([]);
  });

  it('a profile depends only on the seed and its number', () => {
    const later = [...generatePopulation(3, BANK, { seed: 42, start: 6 })];
    expect(later).toEqual(bank.slice(5, 8));
    const rng = new Rng(42, 7);
    expect(generateProfile(rng, 7, BANK, { affinities: 20 })).toEqual(bank[6]);
  });

  it('is lazy', () => {
    const it = generatePopulation(Number.MAX_SAFE_INTEGER - 10, BANK, { seed: 1 });
    expect(it.next().value?.id).toBe('cust-1');
  });
});

describe('generateProfile attributes', () => {
  it('has exactly the documented attributes, with consent for every channel', () => {
    for (const p of bank.slice(0, 200)) {
      expect(Object.keys(p.attributes ?? {})).toEqual(ATTRIBUTE_NAMES);
      expect(Object.keys(p.consent ?? {}).sort()).toEqual([...CHANNELS].sort());
    }
  });

  it('keeps every attribute in its range and type', () => {
    const problems: string[] = [];
    const need = (p: ProfileRecord, ok: boolean, what: string) => {
      if (!ok) problems.push(`${p.id}: ${what} in ${JSON.stringify(p.attributes)}`);
    };
    const int = (x: number, lo: number, hi: number) => Number.isInteger(x) && x >= lo && x <= hi;
    for (const p of [...bank, ...synthetic]) {
      const a = attrs(p);
      need(p, int(a.age, 18, 90), 'age');
      need(p, int(a.tenureYears, 0, 40) && a.tenureYears <= a.age - 18, 'tenureYears');
      need(p, REGIONS.includes(a.region), 'region');
      need(p, LIFECYCLES.includes(a.lifecycle), 'lifecycle');
      need(p, a.clv >= 0 && a.clv <= 20_000, 'clv');
      need(p, a.income >= 0 && a.income <= 250_000, 'income');
      need(p, int(a.creditScore, 300, 850), 'creditScore');
      need(p, typeof a.balance === 'number' && decimals(a.balance) <= 2, 'balance');
      need(p, a.churnRisk >= 0 && a.churnRisk <= 1 && decimals(a.churnRisk) <= 2, 'churnRisk');
      need(p, int(a.dependents, 0, 5), 'dependents');
      need(p, EMPLOYMENTS.includes(a.employment), 'employment');
      need(p, CHANNELS.includes(a.preferredChannel), 'preferredChannel');
      for (const flag of ['homeOwner', 'digitalActive', 'carOwner', 'travelsAbroad', 'petOwner'] as const) {
        need(p, typeof a[flag] === 'boolean', flag);
      }
      need(
        p,
        Object.values(p.consent ?? {}).every((c) => typeof c === 'boolean'),
        'consent',
      );
    }
    expect(problems.slice(0, 5)).toEqual([]);
  });

  it('dates the account opening consistently with tenureYears, before the reference date', () => {
    const ref = new Date(`${REFERENCE_DATE}T00:00:00Z`);
    for (const p of bank) {
      const a = attrs(p);
      expect(a.accountOpened).toMatch(/^\d{4}-\d{2}-\d{2}$/);
      const opened = new Date(`${a.accountOpened}T00:00:00Z`);
      expect(opened.getTime()).toBeLessThanOrEqual(ref.getTime());
      let years = ref.getUTCFullYear() - opened.getUTCFullYear();
      const anniversary = Date.UTC(
        opened.getUTCFullYear() + years,
        opened.getUTCMonth(),
        opened.getUTCDate(),
      );
      if (anniversary > ref.getTime()) years--;
      expect(years).toBe(a.tenureYears);
    }
  });

  it('keeps employment consistent with age', () => {
    const all = bank.map(attrs);
    expect(all.filter((a) => a.employment === 'student').every((a) => a.age < 60)).toBe(true);
    expect(all.filter((a) => a.employment === 'retired').every((a) => a.age >= 30)).toBe(true);
    expect(
      share(
        all.filter((a) => a.age >= 67),
        (a) => a.employment === 'retired',
      ),
    ).toBeGreaterThan(0.8);
    expect(
      share(
        all.filter((a) => a.age <= 22),
        (a) => a.employment === 'student',
      ),
    ).toBeGreaterThan(0.4);
    const students = all.filter((a) => a.employment === 'student').map((a) => a.income);
    const employed = all.filter((a) => a.employment === 'employed').map((a) => a.income);
    expect(mean(students)).toBeLessThan(mean(employed) / 3);
  });

  it('gives at-risk customers a higher churn risk', () => {
    const all = bank.map(attrs);
    const atRisk = mean(all.filter((a) => a.lifecycle === 'at_risk').map((a) => a.churnRisk));
    const others = mean(all.filter((a) => a.lifecycle !== 'at_risk').map((a) => a.churnRisk));
    expect(atRisk).toBeGreaterThan(0.5);
    expect(atRisk).toBeGreaterThan(others * 2);
    for (const l of LIFECYCLES) expect(share(all, (a) => a.lifecycle === l)).toBeGreaterThan(0.05);
    expect(all.filter((a) => a.lifecycle === 'new').every((a) => a.tenureYears <= 1)).toBe(true);
  });

  it('makes the young more digital and the digital prefer digital channels', () => {
    const all = bank.map(attrs);
    const young = share(
      all.filter((a) => a.age < 30),
      (a) => a.digitalActive,
    );
    const old = share(
      all.filter((a) => a.age >= 65),
      (a) => a.digitalActive,
    );
    expect(young).toBeGreaterThan(0.8);
    expect(old).toBeLessThan(0.5);
    const digital = (a: SyntheticAttributes) =>
      a.preferredChannel === 'web' || a.preferredChannel === 'mobile';
    expect(
      share(
        all.filter((a) => a.digitalActive),
        digital,
      ),
    ).toBeGreaterThan(
      share(
        all.filter((a) => !a.digitalActive),
        digital,
      ) + 0.4,
    );
    for (const c of CHANNELS) expect(share(all, (a) => a.preferredChannel === c)).toBeGreaterThan(0.05);
  });

  it('skews customer value: most low, a few high', () => {
    const clv = bank.map((p) => attrs(p).clv).sort((a, b) => a - b);
    const median = clv[Math.floor(clv.length / 2)]!;
    const p95 = clv[Math.floor(clv.length * 0.95)]!;
    expect(mean(clv)).toBeGreaterThan(median);
    expect(p95).toBeGreaterThan(2.5 * median);
    const income = bank.map((p) => attrs(p).income).sort((a, b) => a - b);
    expect(mean(income)).toBeGreaterThan(income[Math.floor(income.length / 2)]!);
  });

  it('gives e-mail and mobile consent less often than call-center and web', () => {
    const rate = (c: (typeof CHANNELS)[number]) => share(bank, (p) => p.consent?.[c] === true);
    for (const rare of ['email', 'mobile'] as const) {
      for (const common of ['call_center', 'web'] as const) expect(rate(rare)).toBeLessThan(rate(common));
    }
  });
});

describe('generateProfile holdings and affinities', () => {
  it('holds 1-5 distinct products of the catalog', () => {
    for (const p of [...bank, ...synthetic]) {
      const holdings = p.holdings ?? [];
      expect(holdings.length).toBeGreaterThanOrEqual(1);
      expect(holdings.length).toBeLessThanOrEqual(5);
      expect(new Set(holdings).size).toBe(holdings.length);
    }
    expect(bank.every((p) => p.holdings?.every((h) => BANK.includes(h)))).toBe(true);
    expect(synthetic.every((p) => p.holdings?.every((h) => SYNTHETIC.includes(h)))).toBe(true);
  });

  it('relates holdings to the person where the product id suggests it', () => {
    const holds = (product: string) => (p: ProfileRecord) => p.holdings?.includes(product) === true;
    const students = bank.filter((p) => attrs(p).employment === 'student');
    const over30 = bank.filter((p) => attrs(p).age > 30 && attrs(p).employment !== 'student');
    expect(share(students, holds('student-account'))).toBeGreaterThan(0.5);
    expect(share(over30, holds('student-account'))).toBe(0);
    const owners = bank.filter((p) => attrs(p).homeOwner);
    const renters = bank.filter((p) => !attrs(p).homeOwner);
    expect(share(owners, holds('mortgage'))).toBeGreaterThan(5 * share(renters, holds('mortgage')));
    expect(share(bank, holds('current-account'))).toBeGreaterThan(0.5);
  });

  it('lists top-K affinities for products not held, sorted by score, with 3-decimal scores in [0, 1]', () => {
    const problems: string[] = [];
    const check = (p: ProfileRecord, catalog: readonly string[]) => {
      const affinities = p.affinities ?? [];
      const held = new Set(p.holdings);
      if (affinities.length !== Math.min(20, catalog.length - held.size)) problems.push(`${p.id}: count`);
      if (new Set(affinities.map((a) => a.product)).size !== affinities.length) problems.push(`${p.id}: dup`);
      affinities.forEach((a, i) => {
        if (!catalog.includes(a.product)) problems.push(`${p.id}: ${a.product} not in catalog`);
        if (held.has(a.product)) problems.push(`${p.id}: ${a.product} is held`);
        if (!(a.score >= 0 && a.score <= 1) || decimals(a.score) > 3)
          problems.push(`${p.id}: score ${a.score}`);
        if (i > 0 && affinities[i - 1]!.score < a.score) problems.push(`${p.id}: not sorted at ${i}`);
      });
    };
    for (const p of bank) check(p, BANK);
    for (const p of synthetic) check(p, SYNTHETIC);
    expect(problems).toEqual([]);
  });

  it('skews affinity scores: a few high, most low', () => {
    const scores = synthetic.flatMap((p) => (p.affinities ?? []).map((a) => a.score));
    expect(share(scores, (s) => s < 0.2)).toBeGreaterThan(0.6);
    expect(share(scores, (s) => s > 0.5)).toBeGreaterThan(0.01);
    expect(share(scores, (s) => s > 0.5)).toBeLessThan(0.15);
    expect(mean(synthetic.map((p) => p.affinities?.[0]?.score ?? 0))).toBeGreaterThan(0.4);
  });

  it('relates affinities to the person (pet owners like pet insurance)', () => {
    const score = (p: ProfileRecord, product: string) =>
      p.affinities?.find((a) => a.product === product)?.score ?? 0;
    const pets = bank.filter((p) => attrs(p).petOwner && !p.holdings?.includes('pet-insurance'));
    const noPets = bank.filter((p) => !attrs(p).petOwner);
    expect(mean(pets.map((p) => score(p, 'pet-insurance')))).toBeGreaterThan(
      3 * mean(noPets.map((p) => score(p, 'pet-insurance'))),
    );
  });

  it('honours K: 0, small, and more than the catalog', () => {
    const rng = new Rng(1);
    expect(generateProfile(rng.restart(1), 1, SYNTHETIC, { affinities: 0 }).affinities).toEqual([]);
    expect(generateProfile(rng.restart(1), 1, SYNTHETIC, { affinities: 3 }).affinities).toHaveLength(3);
    const all = generateProfile(rng.restart(1), 1, BANK, { affinities: 1000 });
    expect(all.affinities).toHaveLength(BANK.length - (all.holdings?.length ?? 0));
  });

  it('copes with tiny and empty catalogs and duplicate product ids', () => {
    const rng = new Rng(1);
    const none = generateProfile(rng.restart(1), 1, [], { affinities: 20 });
    expect(none.holdings).toEqual([]);
    expect(none.affinities).toEqual([]);
    for (let n = 1; n <= 50; n++) {
      const one = generateProfile(rng.restart(n), n, ['pension-plan'], { affinities: 20 });
      expect(one.holdings).toEqual(['pension-plan']);
      expect(one.affinities).toEqual([]);
      const dup = generateProfile(rng.restart(n), n, ['a', 'b', 'a', 'c'], { affinities: 20 });
      expect((dup.holdings?.length ?? 0) + (dup.affinities?.length ?? 0)).toBe(3);
    }
  });
});
