import { CHANNELS, type Channel } from '../domain/channel.js';
import type { ProfileRecord } from '../domain/profile.js';
import { Rng, round, type Seed } from '../domain/random.js';
import { DAY_MS, parseDate } from '../ruleset/time.js';

/**
 * A synthetic retail-bank population. Attributes are drawn so that they hang together (a student is
 * young and earns little, tenure never predates the 18th birthday, at-risk customers have a high
 * churn risk …) because the example rules in `rules/*.yaml` and the benchmarks select on them.
 * The attribute names and value sets are a contract with those rules: change them together.
 */

/** Dates are relative to this fixed day so that a seed always gives the same profiles. */
export const REFERENCE_DATE = '2026-11-01';

export const REGIONS = ['north', 'south', 'east', 'west', 'capital'] as const;
export const LIFECYCLES = ['new', 'growing', 'mature', 'at_risk'] as const;
export const EMPLOYMENTS = ['employed', 'self_employed', 'retired', 'student', 'unemployed'] as const;
export const DEFAULT_AFFINITIES = 20;

export type Region = (typeof REGIONS)[number];
export type Lifecycle = (typeof LIFECYCLES)[number];
export type Employment = (typeof EMPLOYMENTS)[number];

/** The attributes of a generated profile, in the order they are written. */
// A type, not an interface, so that it is assignable to ProfileRecord's attribute record.
export type SyntheticAttributes = {
  age: number;
  tenureYears: number;
  region: Region;
  lifecycle: Lifecycle;
  clv: number;
  income: number;
  creditScore: number;
  balance: number;
  churnRisk: number;
  dependents: number;
  homeOwner: boolean;
  employment: Employment;
  digitalActive: boolean;
  preferredChannel: Channel;
  accountOpened: string;
  carOwner: boolean;
  travelsAbroad: boolean;
  petOwner: boolean;
};

export interface ProfileOptions {
  /** How many affinities to generate (top-K); capped at the number of products not held. */
  affinities: number;
}

export interface PopulationOptions {
  seed: Seed;
  /** Top-K affinities per customer; default 20. */
  affinities?: number;
  /** Number of the first customer (`cust-${start}`); default 1. */
  start?: number;
  /** Give each customer a (fictional, 555) phone number, `phone` = demoPhone(n); default false. */
  phones?: boolean;
}

/** The demo phone number of customer `cust-${n}`: +1 555 and n in seven digits (`+15550000042`). */
export function demoPhone(n: number): string {
  return `+1555${String(n).padStart(7, '0')}`;
}

// ---- tables (weights follow the order of the value lists above) --------------------------------

const REGION_WEIGHTS = [0.22, 0.24, 0.18, 0.2, 0.16];
// employed, self_employed, retired, student, unemployed
const EMPLOYMENT_BY_AGE: readonly (readonly [maxAge: number, weights: number[]])[] = [
  [22, [0.3, 0.02, 0, 0.6, 0.08]],
  [29, [0.68, 0.07, 0, 0.15, 0.1]],
  [59, [0.75, 0.13, 0.03, 0.01, 0.08]],
  [66, [0.45, 0.12, 0.38, 0, 0.05]],
  [200, [0.05, 0.05, 0.9, 0, 0]],
];
/** Median yearly income and the sigma of its log, per employment. */
const INCOME_BY_EMPLOYMENT: Readonly<Record<Employment, readonly [median: number, sigma: number]>> = {
  employed: [40000, 0.45],
  self_employed: [44000, 0.75],
  retired: [24000, 0.4],
  student: [7000, 0.6],
  unemployed: [11000, 0.5],
};
const DEPENDENTS_YOUNG = [0.9, 0.07, 0.03, 0, 0, 0];
const DEPENDENTS_PARENTS = [0.5, 0.18, 0.2, 0.08, 0.03, 0.01];
const DEPENDENTS_OLDER = [0.75, 0.15, 0.07, 0.02, 0.01, 0];
// call_center, web, mobile, sales_force, email (the order of CHANNELS)
const CHANNEL_DIGITAL_YOUNG = [0.05, 0.35, 0.45, 0.03, 0.12];
const CHANNEL_DIGITAL_OLDER = [0.15, 0.35, 0.25, 0.08, 0.17];
const CHANNEL_OFFLINE = [0.55, 0.05, 0.02, 0.25, 0.13];

// ---- product traits ------------------------------------------------------------------------------

/** What generation needs to know about one person to relate products to them. */
type Person = Omit<SyntheticAttributes, 'accountOpened' | 'clv' | 'lifecycle'>;

/**
 * How a product relates to a person, recognised from words in its id (`student-account`,
 * `car-insurance`, `credit-card-gold` …): `hold` is the chance that they already hold it, `fit`
 * in [0, 1] how well it suits them (0.5 is neutral), which shapes the affinity score. The first
 * matching trait wins, so the more specific words come first. Ids that match nothing (such as the
 * synthetic `prod-0001`) are held and scored at random.
 */
interface Trait {
  readonly pattern: RegExp;
  hold(p: Person): number;
  fit(p: Person): number;
}

const TRAITS: readonly Trait[] = [
  {
    pattern: /student|graduate|junior|youth/,
    hold: (p) => (p.employment === 'student' ? 0.85 : p.age < 26 ? 0.15 : 0),
    fit: (p) => (p.employment === 'student' || p.age < 26 ? 1 : p.age < 30 ? 0.5 : 0),
  },
  {
    pattern: /pension|retire/,
    hold: (p) => (p.age >= 55 ? 0.35 : p.age >= 35 ? 0.1 : 0.02),
    fit: (p) => (p.age >= 40 && p.age < 67 ? 0.9 : 0.2),
  },
  {
    pattern: /refinanc|remortgage/,
    hold: (p) => (p.homeOwner ? 0.05 : 0),
    fit: (p) => (p.homeOwner ? 0.85 : 0.02),
  },
  {
    pattern: /mortgage|home-loan/,
    hold: (p) => (p.homeOwner ? 0.55 : 0.01),
    fit: (p) =>
      !p.homeOwner && p.age >= 25 && p.age <= 50 && p.income > 30000 ? 1 : p.homeOwner ? 0.4 : 0.1,
  },
  {
    pattern: /platinum|private/,
    hold: (p) => (p.income > 90000 && p.creditScore >= 740 ? 0.3 : 0.005),
    fit: (p) => (p.income > 70000 ? 0.9 : 0.1),
  },
  {
    pattern: /gold|premium/,
    hold: (p) => (p.income >= 50000 ? 0.25 : 0.02),
    fit: (p) => (p.income >= 40000 && p.creditScore >= 660 ? 0.85 : 0.2),
  },
  {
    pattern: /(car|auto|vehicle)-?(loan|finance|lease)/,
    hold: (p) => (p.carOwner ? 0.2 : 0.01),
    fit: (p) => (p.carOwner ? 0.3 : p.age >= 20 && p.age <= 45 && p.income > 25000 ? 0.75 : 0.1),
  },
  {
    pattern: /\b(car|auto|vehicle)\b/,
    hold: (p) => (p.carOwner ? 0.45 : 0.02),
    fit: (p) => (p.carOwner ? 0.8 : p.age >= 20 && p.age <= 45 && p.income > 25000 ? 0.6 : 0.15),
  },
  {
    pattern: /travel/,
    hold: (p) => (p.travelsAbroad ? 0.35 : 0.03),
    fit: (p) => (p.travelsAbroad ? 0.95 : 0.15),
  },
  {
    pattern: /pet/,
    hold: (p) => (p.petOwner ? 0.35 : 0),
    fit: (p) => (p.petOwner ? 0.95 : 0.02),
  },
  {
    pattern: /contents|renter|tenant/,
    hold: (p) => (p.homeOwner ? 0.1 : 0.25),
    fit: (p) => (p.homeOwner ? 0.3 : 0.8),
  },
  {
    pattern: /home|house|property/,
    hold: (p) => (p.homeOwner ? 0.45 : 0.05),
    fit: (p) => (p.homeOwner ? 0.9 : 0.15),
  },
  {
    pattern: /child|kid|family|life|protect/,
    hold: (p) => (p.dependents > 0 ? 0.3 : 0.06),
    fit: (p) => (p.dependents > 0 ? 0.9 : 0.25),
  },
  {
    pattern: /waiver|loyalty|retention|win-?back/,
    hold: () => 0.02,
    fit: (p) => (p.churnRisk >= 0.5 ? 0.85 : 0.1),
  },
  {
    pattern: /health-check|advice|review|planning/,
    hold: () => 0.05,
    fit: (p) => (p.age >= 30 ? 0.5 : 0.3),
  },
  {
    pattern: /card/,
    hold: (p) => (p.creditScore >= 620 && p.age >= 21 ? 0.45 : 0.03),
    fit: (p) => (p.creditScore >= 620 && p.age >= 21 ? 0.7 : 0.1),
  },
  {
    pattern: /loan|credit|finance|overdraft/,
    hold: (p) => (p.employment === 'employed' || p.employment === 'self_employed' ? 0.15 : 0.03),
    fit: (p) =>
      p.creditScore >= 650 && (p.employment === 'employed' || p.employment === 'self_employed') ? 0.7 : 0.15,
  },
  {
    pattern: /saving|deposit|invest|fund|wealth|broker|isa/,
    hold: (p) => (p.balance > 5000 ? 0.4 : 0.1),
    fit: (p) => (p.income > 40000 || p.balance > 10000 ? 0.8 : 0.35),
  },
  {
    pattern: /mobile|app|digital|online/,
    hold: (p) => (p.digitalActive ? 0.7 : 0.03),
    fit: (p) => (p.digitalActive ? 0.1 : p.age < 80 ? 0.75 : 0.2),
  },
  {
    pattern: /current|checking|everyday|account/,
    hold: (p) => (p.employment === 'student' ? 0.25 : 0.85),
    fit: () => 0.3,
  },
];

interface Catalog {
  readonly ids: readonly string[];
  /** The trait of each product, or undefined. */
  readonly traits: readonly (Trait | undefined)[];
  /** Indexes of the products with a trait. */
  readonly traited: readonly number[];
}

const catalogs = new WeakMap<readonly string[], Catalog>();

function catalogOf(products: readonly string[]): Catalog {
  let catalog = catalogs.get(products);
  if (catalog === undefined) {
    const ids = [...new Set(products)];
    const traits = ids.map((id) => TRAITS.find((t) => t.pattern.test(id.toLowerCase())));
    const traited = traits.flatMap((t, i) => (t === undefined ? [] : [i]));
    catalog = { ids, traits, traited };
    catalogs.set(products, catalog);
  }
  return catalog;
}

// ---- sampling helpers ----------------------------------------------------------------------------

/**
 * Scratch permutation for sampling distinct indexes without copying the catalog per customer: a
 * partial Fisher-Yates whose swaps are undone afterwards, so the array is the identity again and
 * every profile samples from the same starting point (determinism per profile).
 */
let scratch = new Int32Array(0);
const swapLog: number[] = [];

/**
 * Pushes up to `k` distinct indexes in [0, n) for which `accept` holds onto `out`, in random order.
 */
function sampleDistinct(rng: Rng, n: number, k: number, accept: (i: number) => boolean, out: number[]): void {
  if (scratch.length < n) {
    scratch = new Int32Array(Math.max(n, scratch.length * 2));
    for (let i = 0; i < scratch.length; i++) scratch[i] = i;
  }
  swapLog.length = 0;
  let taken = 0;
  for (let i = 0; i < n && taken < k; i++) {
    const j = i + Math.floor(rng.next() * (n - i));
    const picked = scratch[j]!;
    scratch[j] = scratch[i]!;
    scratch[i] = picked;
    swapLog.push(j);
    if (accept(picked)) {
      out.push(picked);
      taken++;
    }
  }
  for (let i = swapLog.length - 1; i >= 0; i--) {
    const j = swapLog[i]!;
    const tmp = scratch[j]!;
    scratch[j] = scratch[i]!;
    scratch[i] = tmp;
  }
}

/** Per-product "held" flags for the profile being generated; all zero between profiles. */
let heldScratch = new Uint8Array(0);

function heldMarks(n: number): Uint8Array {
  if (heldScratch.length < n) heldScratch = new Uint8Array(Math.max(n, heldScratch.length * 2));
  return heldScratch;
}

/**
 * Sorts `keys` descending and applies the same moves to `items`. Insertion sort: the arrays hold
 * a few dozen entries at most, where this beats Array.prototype.sort with a comparator.
 */
function sortDescending(keys: number[], items: number[]): void {
  for (let i = 1; i < keys.length; i++) {
    const key = keys[i]!;
    const item = items[i]!;
    let j = i - 1;
    while (j >= 0 && keys[j]! < key) {
      keys[j + 1] = keys[j]!;
      items[j + 1] = items[j]!;
      j--;
    }
    keys[j + 1] = key;
    items[j + 1] = item;
  }
}

const REFERENCE = new Date(parseDate(REFERENCE_DATE)!);
// Filled lazily; pre-sized so that V8 keeps it a fast array rather than a dictionary.
const dateCache: string[] = new Array<string>(41 * 365).fill('');

/** The account-opening date of a customer with `tenure` full years, `daysBack` (0-364) earlier. */
function openedDate(tenure: number, daysBack: number): string {
  const key = tenure * 365 + daysBack;
  let text = dateCache[key]!;
  if (text === '') {
    const anniversary = Date.UTC(
      REFERENCE.getUTCFullYear() - tenure,
      REFERENCE.getUTCMonth(),
      REFERENCE.getUTCDate(),
    );
    text = new Date(anniversary - daysBack * DAY_MS).toISOString().slice(0, 10);
    dateCache[key] = text;
  }
  return text;
}

function clamp(x: number, lo: number, hi: number): number {
  return Math.min(Math.max(x, lo), hi);
}

// ---- generation ----------------------------------------------------------------------------------

function drawPerson(rng: Rng): Person {
  let age: number;
  do age = Math.round(rng.normal(46, 17));
  while (age < 18 || age > 90);

  let employmentWeights = EMPLOYMENT_BY_AGE[EMPLOYMENT_BY_AGE.length - 1]![1];
  for (const [maxAge, weights] of EMPLOYMENT_BY_AGE) {
    if (age <= maxAge) {
      employmentWeights = weights;
      break;
    }
  }
  const employment = EMPLOYMENTS[rng.weightedIndex(employmentWeights)]!;

  const maxTenure = Math.min(40, age - 18);
  const tenureYears = Math.round(maxTenure * rng.next() ** 1.5);

  const [median, sigma] = INCOME_BY_EMPLOYMENT[employment];
  // Earnings peak around 50 for people in work.
  const ageFactor =
    employment === 'employed' || employment === 'self_employed'
      ? 0.7 + 0.6 * Math.exp(-(((age - 50) / 15) ** 2))
      : 1;
  const income = Math.round(clamp(median * ageFactor * Math.exp(rng.normal(0, sigma)), 0, 250_000));

  const dependents = rng.weightedIndex(
    age < 25 ? DEPENDENTS_YOUNG : age <= 60 ? DEPENDENTS_PARENTS : DEPENDENTS_OLDER,
  );
  const homeOwner = rng.chance(clamp(-0.2 + (age - 20) * 0.015 + income / 200_000, 0.02, 0.85));
  const carOwner = rng.chance(
    employment === 'student' ? 0.15 : age > 80 ? 0.3 : Math.min(0.9, 0.5 + income / 300_000),
  );
  const travelsAbroad = rng.chance(Math.min(0.8, 0.12 + income / 150_000));
  const petOwner = rng.chance(0.22 + (homeOwner ? 0.15 : 0) + (dependents > 0 ? 0.08 : 0));
  const digitalActive = rng.chance(clamp(0.95 - (age - 25) * 0.0125, 0.15, 0.95));
  const preferredChannel =
    CHANNELS[
      rng.weightedIndex(
        digitalActive ? (age < 40 ? CHANNEL_DIGITAL_YOUNG : CHANNEL_DIGITAL_OLDER) : CHANNEL_OFFLINE,
      )
    ]!;

  let credit = 590 + 55 * Math.log((income + 5000) / 35_000) + (age - 18) * 1.5 + rng.normal(0, 65);
  if (employment === 'unemployed') credit -= 40;
  const creditScore = Math.round(clamp(credit, 300, 850));

  const balance = rng.chance(0.06)
    ? -round(rng.float(1, 2500), 2)
    : round((income + 2000) * 0.08 * (1 + tenureYears / 20) * Math.exp(rng.normal(0, 1)), 2);

  return {
    age,
    tenureYears,
    region: REGIONS[rng.weightedIndex(REGION_WEIGHTS)]!,
    income,
    creditScore,
    balance,
    churnRisk: 0,
    dependents,
    homeOwner,
    employment,
    digitalActive,
    preferredChannel,
    carOwner,
    travelsAbroad,
    petOwner,
  };
}

/**
 * One synthetic customer, `cust-${n}`. Uses `rng` from where it stands; generatePopulation()
 * restarts it on stream `n` first so that a profile depends only on (seed, n).
 * `products` is analysed once per array (cached by identity): do not mutate it between calls.
 */
export function generateProfile(
  rng: Rng,
  n: number,
  products: readonly string[],
  opts: ProfileOptions,
): ProfileRecord {
  const person = drawPerson(rng);
  const { age, tenureYears } = person;

  let lifecycle: Lifecycle;
  if (tenureYears <= 1) lifecycle = rng.chance(0.1) ? 'at_risk' : 'new';
  else if (rng.chance(0.12)) lifecycle = 'at_risk';
  else if (tenureYears < 6 || (age < 35 && rng.chance(0.3))) lifecycle = 'growing';
  else lifecycle = 'mature';

  const u = rng.next();
  const churnRisk = round(
    lifecycle === 'at_risk'
      ? 0.55 + 0.43 * u
      : lifecycle === 'new'
        ? 0.08 + 0.35 * u * u
        : 0.02 + 0.5 * u ** 2.5,
    2,
  );
  person.churnRisk = churnRisk;

  const consent: Partial<Record<Channel, boolean>> = {
    call_center: rng.chance(0.92),
    web: rng.chance(0.88),
    mobile: rng.chance(person.digitalActive ? 0.55 : 0.12),
    sales_force: rng.chance(0.75),
    email: rng.chance(person.digitalActive ? 0.6 : 0.4),
  };
  // People mostly agreed to be contacted on the channel they prefer.
  if (rng.chance(0.95)) consent[person.preferredChannel] = true;

  // Holdings: the products the person's situation suggests, then random ones up to 1-5 in all.
  const catalog = catalogOf(products);
  const { ids, traits } = catalog;
  const held = heldMarks(ids.length);
  const target = Math.min(ids.length, 1 + Math.min(4, Math.floor(tenureYears / 8 + rng.next() * 2.5)));
  const holdings: number[] = [];
  const chances: number[] = [];
  for (const i of catalog.traited) {
    const p = traits[i]!.hold(person);
    if (rng.chance(p)) {
      holdings.push(i);
      chances.push(p);
    }
  }
  if (holdings.length > target) {
    // Keep `target` of them, the likelier holdings preferably (weighted sampling keys u^(1/p)).
    const keys = chances.map((p) => rng.next() ** (1 / p));
    sortDescending(keys, holdings);
    holdings.length = target;
  }
  for (const i of holdings) held[i] = 1;
  if (holdings.length < target) {
    // Fill with products that do not clearly not suit them (no student account for a pensioner).
    const fillable = (i: number) =>
      held[i] === 0 && (traits[i] === undefined || traits[i]!.fit(person) >= 0.3);
    sampleDistinct(rng, ids.length, target - holdings.length, fillable, holdings);
    // Everybody holds something, even when nothing in a small catalog suits them.
    if (holdings.length === 0) sampleDistinct(rng, ids.length, 1, () => true, holdings);
    for (const i of holdings) held[i] = 1;
  }
  // Catalog order; insertion sort as the list is at most five long.
  for (let i = 1; i < holdings.length; i++) {
    const h = holdings[i]!;
    let j = i - 1;
    for (; j >= 0 && holdings[j]! > h; j--) holdings[j + 1] = holdings[j]!;
    holdings[j + 1] = h;
  }

  // Affinities: K products not held, skewed scores (most low, a few high), shaped by the traits.
  const k = Math.max(0, Math.min(Math.floor(opts.affinities), ids.length - holdings.length));
  const chosen: number[] = [];
  if (k > 0) sampleDistinct(rng, ids.length, k, (i) => held[i] === 0, chosen);
  for (const i of holdings) held[i] = 0;
  const responsiveness = clamp(rng.normal(1, 0.25), 0.4, 1.6);
  const scores: number[] = new Array(chosen.length);
  for (let c = 0; c < chosen.length; c++) {
    const v = rng.next();
    let s = rng.chance(0.03) ? 0.6 + 0.4 * v : 0.6 * v * v * v;
    const trait = traits[chosen[c]!];
    if (trait !== undefined) {
      const fit = trait.fit(person);
      s = s * (0.3 + fit) + fit * 0.35 * rng.next();
    }
    scores[c] = round(clamp(s * responsiveness, 0, 1), 3);
  }
  sortDescending(scores, chosen);
  const affinities = new Array<{ product: string; score: number }>(chosen.length);
  for (let c = 0; c < chosen.length; c++) affinities[c] = { product: ids[chosen[c]!]!, score: scores[c]! };

  const v = rng.normal(0, 0.8);
  const clvBase =
    person.income * 0.01 + tenureYears * 30 + holdings.length * 80 + Math.max(0, person.balance) * 0.01;
  const clv = Math.round(clamp(clvBase * Math.exp(v), 0, 20_000));

  const attributes: SyntheticAttributes = {
    age,
    tenureYears,
    region: person.region,
    lifecycle,
    clv,
    income: person.income,
    creditScore: person.creditScore,
    balance: person.balance,
    churnRisk,
    dependents: person.dependents,
    homeOwner: person.homeOwner,
    employment: person.employment,
    digitalActive: person.digitalActive,
    preferredChannel: person.preferredChannel,
    accountOpened: openedDate(tenureYears, rng.int(0, 364)),
    carOwner: person.carOwner,
    travelsAbroad: person.travelsAbroad,
    petOwner: person.petOwner,
  };

  return {
    id: `cust-${n}`,
    attributes,
    consent,
    holdings: holdings.map((i) => ids[i]!),
    affinities,
  };
}

/**
 * `count` customers `cust-${start}` … lazily, one at a time, so that a million of them never sit
 * in memory together. The same seed, products and options give the same profiles.
 */
export function* generatePopulation(
  count: number,
  products: readonly string[],
  opts: PopulationOptions,
): Generator<ProfileRecord> {
  const start = opts.start ?? 1;
  const profileOpts: ProfileOptions = { affinities: opts.affinities ?? DEFAULT_AFFINITIES };
  const rng = new Rng(opts.seed);
  for (let n = start; n < start + count; n++) {
    rng.restart(n);
    const record = generateProfile(rng, n, products, profileOpts);
    if (opts.phones) record.attributes = { ...record.attributes, phone: demoPhone(n) };
    yield record;
  }
}
