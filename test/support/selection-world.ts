import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ProfileRecord } from '../../src/domain/profile.js';
import { generatePopulation } from '../../src/sim/population.js';

// The world of the outbound selection tests (selection.int.test.ts, select-cli.int.test.ts): an
// email policy with consent and one contact a week, a campaign for a segment with a control group,
// one with a budget and an offer cap, one with a total cap, one without email offers.

export const RULES: Record<string, string> = {
  'policies.yaml': `contactPolicies:
  - channel: email
    requiresConsent: true
    cost: 0.5
    limits: [{ max: 1, window: 7d }]
  - channel: all
    limits: [{ max: 30, window: 1d }]
`,
  'segments.yaml': `segments:
  - id: over_thirty
    when: customer.age >= 30
`,
  'campaigns.yaml': `campaigns:
  - id: newsletter
    name: Newsletter offer
    objective: cross_sell
    controlGroup: 0.25
    segments: [over_thirty]
  - id: mailing
    name: Budgeted mailing
    objective: cross_sell
    controlGroup: 0.1
    budget: 60
  - id: capped
    name: Capped mailing
    objective: activation
    caps: { total: 77 }
  - id: web-only
    name: No email offers
    objective: activation
`,
  'offers.yaml': `offers:
  - id: news-offer
    name: News offer
    campaign: newsletter
    product: news
    channels: [email]
    value: 50
    basePropensity: 0.1
    creatives:
      email: { subject: News, body: Read on, link: /news }
  - id: mail-a
    name: Mail A
    campaign: mailing
    product: mail-a
    channels: [email]
    value: 80
    basePropensity: 0.1
    caps: { total: 33 }
    creatives:
      email: { subject: A, body: A, link: /a }
  - id: mail-b
    name: Mail B
    campaign: mailing
    product: mail-b
    channels: [email]
    value: 50
    basePropensity: 0.1
    creatives:
      email: { subject: B, body: B, link: /b }
  - id: capped-offer
    name: Capped offer
    campaign: capped
    product: capped
    channels: [email]
    value: 50
    basePropensity: 0.1
    creatives:
      email: { subject: C, body: C, link: /c }
  - id: web-offer
    name: Web offer
    campaign: web-only
    product: web
    channels: [web]
    value: 50
    basePropensity: 0.1
    creatives:
      web: { headline: W, image: /w.png, link: /w }
`,
};

export const RECORDS: ProfileRecord[] = [
  ...generatePopulation(2000, ['savings', 'loyalty'], { seed: 'selection', affinities: 2 }),
];
export const consented = (r: ProfileRecord) => r.consent?.email === true;

export function rulesDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'offerloop-selection-rules-'));
  for (const [name, text] of Object.entries(RULES)) writeFileSync(path.join(dir, name), text);
  return dir;
}
