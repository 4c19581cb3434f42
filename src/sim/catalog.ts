import { stringify } from 'yaml';
import { CHANNELS, type Channel } from '../domain/channel.js';
import { Rng, round, type Seed } from '../domain/random.js';
import type {
  CampaignObjective,
  CampaignSource,
  ContactPolicySource,
  CreativesSource,
  OfferSource,
  RulesFile,
  SegmentSource,
} from '../ruleset/source.js';

/**
 * A synthetic ruleset of any size for benchmarks and load tests: N offers over about N/4 products
 * (`prod-0001` …), a few campaigns and segments written against the attributes of
 * population.ts, generous contact policies, every channel well covered. It must validate against
 * rules/schema/ruleset.schema.json and keep its references whole (catalog.test.ts checks both).
 */

export interface RulesetOptions {
  /** Number of offers, at least 1. */
  offers: number;
  seed: Seed;
}

export const WEB_PLACEMENTS = ['home-hero', 'account-sidebar', 'home-card', 'offers-tab'] as const;
export const MOBILE_PLACEMENTS = ['home-card', 'offers-tab'] as const;

/** Offers whose propensity also reads mined associations: a few, so that benchmarks barely notice. */
const CROSS_SELL_OFFERS = 5;

/** Everything is valid from well before the reference date through 2030. */
const VALID_FROM = '2025-01-01';
const VALID_TO = '2030-12-31';

const SEGMENTS: readonly SegmentSource[] = [
  {
    id: 'seg-high-value',
    name: 'High value',
    when: 'customer.clv > 2000 and customer.tenureYears >= 3',
  },
  {
    id: 'seg-young-digital',
    name: 'Young and digital',
    when: "customer.age < 35 and customer.digitalActive and customer.preferredChannel in ['web', 'mobile']",
  },
  {
    id: 'seg-at-risk',
    name: 'At risk',
    when: "customer.lifecycle == 'at_risk' or customer.churnRisk >= 0.6",
  },
  {
    id: 'seg-new',
    name: 'New customers',
    when: "customer.lifecycle == 'new' or customer.tenureYears < 1",
  },
  {
    id: 'seg-families',
    name: 'Families',
    when: 'customer.dependents >= 1 and customer.age >= 25 and customer.age <= 60',
  },
  {
    id: 'seg-affluent',
    name: 'Affluent',
    when: '(customer.income >= 60000 or customer.balance >= 20000) and customer.creditScore >= 650',
  },
  {
    id: 'seg-seniors',
    name: 'Seniors',
    when: "customer.age >= 60 or customer.employment == 'retired'",
  },
  {
    id: 'seg-homeowners-city',
    name: 'Homeowners in the capital and the north',
    when: "customer.homeOwner and customer.region in ['capital', 'north']",
  },
];

const OBJECTIVES: readonly CampaignObjective[] = [
  'cross_sell',
  'up_sell',
  'retention',
  'acquisition',
  'activation',
  'service',
];
const KPI_BY_OBJECTIVE: Readonly<Record<CampaignObjective, NonNullable<CampaignSource['kpi']>['metric']>> = {
  cross_sell: 'revenue',
  up_sell: 'accept_rate',
  retention: 'accept_rate',
  acquisition: 'conversions',
  activation: 'conversion_rate',
  service: 'accept_rate',
};

/**
 * Generous limits: synthetic benchmarks decide for the same customers over and over, and a ruleset
 * that caps everybody after three offers would measure the policy check, not the engine.
 */
const CONTACT_POLICIES: readonly ContactPolicySource[] = [
  {
    channel: 'all',
    limits: [{ max: 200, window: '1d' }],
    suppressAfterReject: '1d',
    suppressAfterAccept: '7d',
  },
  {
    channel: 'call_center',
    limits: [{ max: 10, window: '1d' }],
    suppressAfterReject: '7d',
    cost: 2.5,
    preferredChannelFit: 1.3,
    requiresConsent: true,
  },
  { channel: 'web', limits: [{ max: 50, window: '1d' }], cost: 0.01, preferredChannelFit: 1.2 },
  {
    channel: 'mobile',
    limits: [{ max: 30, window: '1d' }],
    cost: 0.02,
    preferredChannelFit: 1.2,
    requiresConsent: true,
  },
  {
    channel: 'sales_force',
    limits: [{ max: 10, window: '1d' }],
    suppressAfterReject: '7d',
    cost: 4,
    preferredChannelFit: 1.3,
    requiresConsent: true,
  },
  {
    channel: 'email',
    limits: [{ max: 5, window: '1d' }],
    cost: 0.05,
    preferredChannelFit: 1.1,
    otherChannelFit: 0.9,
    requiresConsent: true,
  },
];

const ADJECTIVES = ['Flex', 'Smart', 'Prime', 'Easy', 'Plus', 'Select', 'Green', 'Family', 'Max', 'Young'];
const NOUNS = [
  'Saver',
  'Card',
  'Loan',
  'Account',
  'Cover',
  'Insurance',
  'Fund',
  'Pension',
  'Mortgage',
  'Rewards',
  'Deposit',
  'Plan',
];

function pad(n: number): string {
  return String(n).padStart(4, '0');
}

export function productId(n: number): string {
  return `prod-${pad(n)}`;
}

function productName(n: number): string {
  const a = ADJECTIVES[(n - 1) % ADJECTIVES.length]!;
  const b = NOUNS[Math.floor((n - 1) / ADJECTIVES.length) % NOUNS.length]!;
  const series = Math.floor((n - 1) / (ADJECTIVES.length * NOUNS.length));
  return series === 0 ? `${a} ${b}` : `${a} ${b} ${series + 1}`;
}

/** An eligibility condition: one or two clauses, about half of them about the offer's product. */
function condition(
  rng: Rng,
  product: string,
  products: readonly string[],
  segments: readonly string[],
): string {
  const other = () => rng.pick(products);
  const clauses: (() => string)[] = [
    () => `not holds('${product}')`,
    () => `affinity('${product}') > ${rng.pick([0.05, 0.1, 0.2, 0.3])}`,
    () => `inSegment('${rng.pick(segments)}')`,
    () => `customer.age >= ${rng.int(18, 45)}`,
    () => `customer.age <= ${rng.int(40, 80)}`,
    () => `customer.income > ${rng.int(1, 6) * 10000}`,
    () => `customer.creditScore >= ${rng.int(50, 70) * 10}`,
    () =>
      `customer.region in ['${rng.pick(['north', 'south'])}', '${rng.pick(['east', 'west', 'capital'])}']`,
    () => `customer.lifecycle in ['growing', 'mature'] or customer.clv > ${rng.int(5, 30) * 100}`,
    () => `not customer.${rng.pick(['homeOwner', 'carOwner', 'petOwner', 'travelsAbroad'])}`,
    () => `customer.${rng.pick(['homeOwner', 'carOwner', 'digitalActive', 'travelsAbroad'])}`,
    () => `customer.employment in ['employed', 'self_employed'] and customer.tenureYears >= ${rng.int(0, 5)}`,
    () => `holds('${other()}') or customer.balance > ${rng.int(1, 20) * 500}`,
    () => `customer.churnRisk < 0.${rng.int(5, 9)} and customer.dependents <= ${rng.int(1, 4)}`,
  ];
  const first = rng.pick(clauses)();
  if (rng.chance(0.4)) return first;
  const second = rng.pick(clauses)();
  if (second === first) return first;
  return `(${first}) ${rng.chance(0.7) ? 'and' : 'or'} (${second})`;
}

function creatives(
  channels: readonly Channel[],
  product: string,
  name: string,
  offerNo: number,
): CreativesSource {
  const out: CreativesSource = {};
  const link = `https://bank.example/products/${product}?offer=${offerNo}`;
  for (const channel of channels) {
    switch (channel) {
      case 'call_center':
        out.call_center = {
          talkTrack: `Offer ${offerNo}: tell the customer about ${name} and ask whether they would like to hear more.`,
        };
        break;
      case 'web':
        out.web = {
          headline: `Discover ${name}`,
          image: `/static/banners/${product}.png`,
          link,
          cta: 'Learn more',
        };
        break;
      case 'mobile':
      case 'sales_force':
        out[channel] = { title: name, body: `Offer ${offerNo}: ${name}, selected for this customer.` };
        break;
      case 'email':
        out.email = {
          subject: `${name} — an offer for you`,
          body: `We picked ${name} for you. Offer ${offerNo}, valid until the end of ${VALID_TO.slice(0, 4)}.`,
          link,
        };
        break;
    }
  }
  return out;
}

/**
 * A ruleset as file name → content: `segments.yaml`, `policies.yaml`, `campaigns.yaml`,
 * `offers.yaml`. The same options always give the same ruleset.
 */
export function generateRuleset(opts: RulesetOptions): Record<string, RulesFile> {
  const n = Math.floor(opts.offers);
  if (!(n >= 1)) throw new RangeError(`offers must be at least 1, got ${opts.offers}`);
  const rng = new Rng(opts.seed, 'catalog');

  const productCount = Math.max(10, Math.round(n / 4));
  const products = Array.from({ length: productCount }, (_, i) => productId(i + 1));
  const segmentIds = SEGMENTS.map((s) => s.id);

  const campaignCount = Math.max(4, Math.round(n / 25));
  const campaigns: CampaignSource[] = [];
  for (let c = 1; c <= campaignCount; c++) {
    const objective = OBJECTIVES[(c - 1) % OBJECTIVES.length]!;
    const campaign: CampaignSource = {
      id: `camp-${pad(c)}`,
      name: `Campaign ${c}: ${objective.replace('_', '-')}`,
      objective,
      kpi: {
        metric: KPI_BY_OBJECTIVE[objective],
        target:
          KPI_BY_OBJECTIVE[objective] === 'revenue'
            ? rng.int(10, 500) * 1000
            : round(rng.float(0.01, 0.1), 3),
      },
    };
    // Every other campaign targets everybody, so that most customers have candidates everywhere.
    if (c % 2 === 0) {
      const targets = rng.shuffle([...segmentIds]).slice(0, rng.int(1, 3));
      campaign.segments = targets;
    }
    campaign.schedule = { start: VALID_FROM, end: VALID_TO };
    campaign.controlGroup = rng.pick([0, 0.05, 0.05, 0.1]);
    campaign.priority = round(rng.float(0.8, 1.5), 2);
    if (rng.chance(0.3)) campaign.budget = rng.int(50, 500) * 1000;
    campaigns.push(campaign);
  }

  // Conditions only mention products that some offer is about.
  const usedProducts = products.slice(0, Math.min(n, productCount));
  const offers: OfferSource[] = [];
  for (let i = 1; i <= n; i++) {
    // Products and campaigns round-robin first so that each is used, then at random.
    const productNo = i <= productCount ? i : rng.int(1, productCount);
    const product = productId(productNo);
    const campaign = campaigns[i <= campaignCount ? i - 1 : rng.int(0, campaignCount - 1)]!;
    // The first channel rotates, so every channel gets at least a fifth of the offers.
    const first = CHANNELS[(i - 1) % CHANNELS.length]!;
    const others = rng
      .shuffle(CHANNELS.filter((c) => c !== first))
      .slice(0, rng.weightedIndex([0.4, 0.4, 0.2]));
    const channels = [first, ...others].sort((a, b) => CHANNELS.indexOf(a) - CHANNELS.indexOf(b));
    const name = `${productName(productNo)} offer ${i}`;

    const placements: Partial<Record<Channel, string[]>> = {};
    if (channels.includes('web') && rng.chance(0.6)) {
      placements.web = rng.shuffle([...WEB_PLACEMENTS]).slice(0, rng.int(1, 3));
    }
    if (channels.includes('mobile') && rng.chance(0.5)) {
      placements.mobile = rng.shuffle([...MOBILE_PLACEMENTS]).slice(0, rng.int(1, 2));
    }
    const when = rng.chance(0.5) ? condition(rng, product, usedProducts, segmentIds) : undefined;
    // Built in the order an analyst would write it; optional keys are left out, not undefined.
    const offer: OfferSource = {
      id: `off-${pad(i)}`,
      name,
      campaign: campaign.id,
      product,
      channels,
      ...(Object.keys(placements).length > 0 ? { placements } : {}),
      value: round(rng.float(5, 400), 2),
      weight: round(rng.float(0.5, 2), 2),
      basePropensity: round(rng.float(0.005, 0.08), 3),
      validity: { from: VALID_FROM, to: VALID_TO },
      ...(when !== undefined ? { when } : {}),
      // The first few are cross-sell offers scored by mined associations too (associations.ndjson
      // from `offerloop mine`; without it association() is 0 and this is the affinity).
      ...(i <= CROSS_SELL_OFFERS
        ? { propensity: `max(affinity('${product}'), association('${product}'))` }
        : {}),
      creatives: creatives(channels, product, productName(productNo), i),
    };
    offers.push(offer);
  }

  return {
    'segments.yaml': { segments: SEGMENTS.map((s) => ({ ...s })) },
    'policies.yaml': { contactPolicies: CONTACT_POLICIES.map((p) => structuredClone(p)) },
    'campaigns.yaml': { campaigns },
    'offers.yaml': { offers },
  };
}

/** The distinct products the offers of a ruleset are about, in order of first appearance. */
export function catalogProducts(files: Readonly<Record<string, RulesFile>>): string[] {
  const seen = new Set<string>();
  for (const file of Object.values(files)) {
    for (const offer of file.offers ?? []) seen.add(offer.product);
  }
  return [...seen];
}

/** A generated ruleset as rules files, name → YAML text in name order, each after `header`. */
export function rulesFileTexts(
  files: Readonly<Record<string, RulesFile>>,
  header = '',
): { name: string; text: string }[] {
  return Object.entries(files)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([name, content]) => ({ name, text: header + stringify(content, { lineWidth: 0 }) }));
}
