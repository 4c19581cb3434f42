import { describe, expect, it } from 'vitest';
import { EXAMPLE_RULES } from '../../test/helpers.js';
import type { Channel } from '../domain/channel.js';
import { type ContactEvent, NO_USAGE } from '../domain/contact.js';
import { profileFromRecord } from '../domain/profile.js';
import { buildRuleset, loadRuleset } from '../ruleset/load.js';
import { offerSuppressions, suppressionOf } from './contact-policy.js';
import { decide } from './decide.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const DAY = 86_400_000;
const snapshot = await loadRuleset(EXAMPLE_RULES, NOW);

// Digitally dormant, so that every mobile-banking offer (phone, web, app) is eligible.
const customer = profileFromRecord({
  id: 'cust-4',
  attributes: { age: 56, digitalActive: false, preferredChannel: 'call_center' },
  consent: { call_center: true, web: true, mobile: true, sales_force: true, email: true },
  holdings: ['current-account'],
  affinities: [{ product: 'mobile-banking', score: 0.9 }],
});

function offersOn(channel: Channel, history: readonly ContactEvent[]): string[] {
  const request = { channel, placement: null, limit: 10, context: {}, explain: false };
  return decide({ snapshot, profile: customer, history, usage: NO_USAGE, now: NOW, request }).offers.map(
    (c) => c.offer.id,
  );
}
const productOf = (offerId: string) => snapshot.offerById.get(offerId)!.productId;

describe('suppression by what the customer did', () => {
  it('after an accept by phone, no channel offers the product again (the offer, and every other offer for it)', () => {
    const before = [...offersOn('web', []), ...offersOn('mobile', [])];
    expect(before.some((id) => productOf(id) === 'mobile-banking')).toBe(true);
    const accepted: ContactEvent = {
      offerId: 'mobile-banking-activate-cc',
      campaignId: snapshot.offerById.get('mobile-banking-activate-cc')!.campaign.id,
      channel: 'call_center',
      outcome: 'accept',
      at: NOW - DAY,
    };
    for (const channel of ['call_center', 'web', 'mobile', 'sales_force', 'email'] as const) {
      expect(offersOn(channel, [accepted]).filter((id) => productOf(id) === 'mobile-banking')).toEqual([]);
    }
  });

  it('a purchase the order system reported suppresses the product; a reject only its offer', () => {
    const purchase: ContactEvent = {
      offerId: '',
      campaignId: '',
      channel: 'web',
      outcome: 'purchase',
      at: NOW - DAY,
      productId: 'mobile-banking',
    };
    const map = offerSuppressions(
      [purchase],
      snapshot.policies[1]!,
      snapshot.globalPolicy,
      NOW,
      snapshot.offerById,
    )!;
    for (const offer of snapshot.offers) {
      expect(suppressionOf(map, offer)).toBe(
        offer.productId === 'mobile-banking' ? 'suppressed_after_purchase' : undefined,
      );
    }
    const reject: ContactEvent = {
      ...purchase,
      outcome: 'reject',
      offerId: 'mobile-banking-activate-web',
      productId: undefined,
    } as ContactEvent;
    const rejected = offerSuppressions(
      [reject],
      snapshot.policies[1]!,
      snapshot.globalPolicy,
      NOW,
      snapshot.offerById,
    )!;
    const suppressed = snapshot.offers
      .filter((o) => suppressionOf(rejected, o) !== undefined)
      .map((o) => o.id);
    expect(suppressed).toEqual(['mobile-banking-activate-web']);
  });

  it('ends with the policy’s window', () => {
    const old: ContactEvent = {
      offerId: 'mobile-banking-activate-cc',
      campaignId: 'go-digital',
      channel: 'call_center',
      outcome: 'accept',
      at: NOW - 400 * DAY,
    };
    expect(
      offerSuppressions([old], snapshot.policies[1]!, snapshot.globalPolicy, NOW, snapshot.offerById),
    ).toBeNull();
  });

  it('suppresses the offer’s whole group where the policy says so', () => {
    const rules = buildRuleset(
      [
        {
          name: 'rules.yaml',
          text: `
campaigns:
  - { id: c, name: C, objective: cross_sell }
offers:
  - { id: a1, name: A1, campaign: c, product: pa, group: g, channels: [web], value: 10, creatives: { web: { headline: A1, image: /a1.png, link: "https://bank.example/a1" } } }
  - { id: b1, name: B1, campaign: c, product: pb, group: g, channels: [web], value: 10, creatives: { web: { headline: B1, image: /b1.png, link: "https://bank.example/b1" } } }
  - { id: x1, name: X1, campaign: c, product: px, channels: [web], value: 10, creatives: { web: { headline: X1, image: /x1.png, link: "https://bank.example/x1" } } }
contactPolicies:
  - { channel: all, suppressAfterAccept: 30d, suppressGroupAfterAccept: true }
`,
        },
      ],
      NOW,
    );
    const accept: ContactEvent = {
      offerId: 'a1',
      campaignId: 'c',
      channel: 'web',
      outcome: 'accept',
      at: NOW - DAY,
    };
    const map = offerSuppressions([accept], rules.policies[1]!, rules.globalPolicy, NOW, rules.offerById)!;
    expect(rules.offers.filter((o) => suppressionOf(map, o) !== undefined).map((o) => o.id)).toEqual([
      'a1',
      'b1',
    ]);
  });
});
