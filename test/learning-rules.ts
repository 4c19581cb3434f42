/** A campaign of a learning test's rules: cross-sell, open to all unless it names segments. */
export interface TestCampaign {
  readonly id: string;
  readonly name: string;
  readonly segments?: readonly string[];
  readonly controlGroup?: number;
}

/** An offer of a learning test's rules: named after its id in capitals, worth 100, a creative per channel. */
export interface TestOffer {
  readonly id: string;
  readonly campaign: string;
  readonly product: string;
  readonly basePropensity: number;
  /** Web only unless given. */
  readonly channels?: readonly ('web' | 'email')[];
  /** More lines of the offer's YAML, each indented by four spaces and ended by a newline. */
  readonly extra?: string;
}

const CREATIVES = {
  web: '      web: { headline: H, image: /i.png, link: /l }\n',
  email: '      email: { subject: S, body: B, link: /l }\n',
};

function campaignYaml(c: TestCampaign): string {
  const segments = c.segments === undefined ? '' : `    segments: [${c.segments.join(', ')}]\n`;
  const control = c.controlGroup === undefined ? '' : `    controlGroup: ${c.controlGroup}\n`;
  return `  - id: ${c.id}\n    name: ${c.name}\n    objective: cross_sell\n${segments}${control}`;
}

function offerYaml(o: TestOffer): string {
  const channels = o.channels ?? ['web'];
  return `  - id: ${o.id}
    name: ${o.id.toUpperCase()}
    campaign: ${o.campaign}
    product: ${o.product}
    channels: [${channels.join(', ')}]
    value: 100
    basePropensity: ${o.basePropensity}
${o.extra ?? ''}    creatives:
${channels.map((channel) => CREATIVES[channel]).join('')}`;
}

/**
 * The rules YAML of the learning and evaluation tests: a segment `seg_<tier>` for each customer tier
 * (`customer.tier == '<tier>'`), then the campaigns and the offers.
 */
export function learningRules(
  tiers: readonly string[],
  campaigns: readonly TestCampaign[],
  offers: readonly TestOffer[],
): string {
  const segments = tiers.map((tier) => `  - id: seg_${tier}\n    when: customer.tier == '${tier}'\n`);
  return `segments:\n${segments.join('')}campaigns:\n${campaigns.map(campaignYaml).join('')}offers:\n${offers.map(offerYaml).join('')}`;
}
