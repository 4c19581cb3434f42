import { describe, expect, it } from 'vitest';
import { NO_USAGE } from '../domain/contact.js';
import { profileFromRecord } from '../domain/profile.js';
import { buildRuleset } from '../ruleset/load.js';
import { MemoryCapCounters } from '../store/cap-counters.js';
import { campaignOffersOn, campaignRoom, dearestContact } from './campaign-room.js';
import { decide } from './decide.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const RULES = `
contactPolicies:
  - channel: email
    cost: 0.5
segments:
  - id: rich
    when: customer.clv > 1000
    economics: { contactCost: { email: 2 } }
campaigns:
  - id: mailing
    name: Mailing
    objective: cross_sell
    budget: 100
    caps: { total: 500, perDay: 40 }
  - id: other
    name: Other
    objective: cross_sell
offers:
  - id: a
    name: A
    campaign: mailing
    product: a
    channels: [email]
    value: 50
    basePropensity: 0.1
    caps: { total: 10 }
    creatives: { email: { subject: A, body: A, link: /a } }
  - id: b
    name: B
    campaign: mailing
    product: b
    channels: [email]
    value: 40
    basePropensity: 0.1
    creatives: { email: { subject: B, body: B, link: /b } }
  - id: better
    name: Better
    campaign: other
    product: c
    channels: [email]
    value: 500
    basePropensity: 0.5
    creatives: { email: { subject: C, body: C, link: /c } }
`;
const snapshot = buildRuleset([{ name: 'rules.yaml', text: RULES }], NOW);
const mailing = snapshot.campaignById.get('mailing')!;
const profile = profileFromRecord({ id: 'cust-1', attributes: { clv: 10 }, consent: { email: true } });
const request = { channel: 'email', placement: null, limit: 2, context: {}, explain: false } as const;

describe('a decision restricted to a campaign', () => {
  it('walks only its offers, best first, where the whole catalog would show another first', () => {
    const all = decide({ snapshot, profile, history: [], usage: NO_USAGE, request, now: NOW });
    expect(all.offers[0]!.offer.id).toBe('better');
    const only = decide({
      snapshot,
      profile,
      history: [],
      usage: NO_USAGE,
      request: { ...request, campaign: 'mailing' },
      now: NOW,
    });
    expect(only.offers.map((c) => c.offer.id)).toEqual(['a', 'b']);
    const none = decide({
      snapshot,
      profile,
      history: [],
      usage: NO_USAGE,
      request: { ...request, campaign: 'nope' },
      now: NOW,
    });
    expect(none.offers).toEqual([]);
  });
});

describe('campaignRoom()', () => {
  it('is the tightest of the caps, the budget at the dearest contact, and the offer caps with room', () => {
    expect(dearestContact(snapshot, 'email')).toBe(2);
    const usage = new MemoryCapCounters();
    // Budget 100 at 2 a contact: 50; per day 40; offer a's cap 10 is the tightest.
    expect(campaignRoom(snapshot, mailing, 'email', usage, NOW)).toBe(10);
    for (let i = 0; i < 10; i++) usage.record('a', 'mailing', NOW, 0.5);
    // a is full (passed over, not binding); 30 left today.
    expect(campaignRoom(snapshot, mailing, 'email', usage, NOW)).toBe(30);
    for (let i = 0; i < 25; i++) usage.record('b', 'mailing', NOW, 3);
    // 35 today: 5 left of 40 (the budget, 80 of 100 spent, has 10 at 2).
    expect(campaignRoom(snapshot, mailing, 'email', usage, NOW)).toBe(5);
    for (let i = 0; i < 5; i++) usage.record('b', 'mailing', NOW, 0);
    expect(campaignRoom(snapshot, mailing, 'email', usage, NOW)).toBe(0);
  });

  it("counts the campaign's offers on the channel only", () => {
    expect(campaignOffersOn(snapshot, mailing, 'email').map((o) => o.id)).toEqual(['a', 'b']);
    expect(campaignOffersOn(snapshot, mailing, 'web')).toEqual([]);
  });

  it('is unbounded for a campaign with no caps and no budget', () => {
    const other = snapshot.campaignById.get('other')!;
    expect(campaignRoom(snapshot, other, 'email', NO_USAGE, NOW)).toBe(Number.POSITIVE_INFINITY);
  });
});
