import { describe, expect, it } from 'vitest';
import { FIXTURE_PROFILES, FIXTURE_RULES } from '../../test/helpers.js';
import type { Channel } from '../domain/channel.js';
import { type ContactEvent, NO_USAGE } from '../domain/contact.js';
import { buildRuleset, readRulesDir } from '../ruleset/load.js';
import { readProfilesFile } from '../store/profile-file.js';
import { decide } from './decide.js';

// Channel economics per segment: the first segment with economics a customer is in sets the
// preferred channel, the contact cost and the care intensity; everybody else gets the policies'.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const fixtureFiles = await readRulesDir(FIXTURE_RULES);
const profiles = new Map((await readProfilesFile(FIXTURE_PROFILES)).profiles.map((p) => [p.id, p]));

/** The fixture rules with economics for high_value (cust-2 is in it, cust-1 is not). */
function rulesWith(economics: string) {
  const files = fixtureFiles.map((f) =>
    f.name === 'segments.yaml'
      ? {
          ...f,
          text: f.text.replace(
            'when: customer.clv > 2000 and customer.tenureYears >= 3',
            `when: customer.clv > 2000 and customer.tenureYears >= 3\n    economics: ${economics}`,
          ),
        }
      : f,
  );
  return buildRuleset(files, NOW);
}
const plain = buildRuleset(fixtureFiles, NOW);

function decision(
  snapshot: ReturnType<typeof buildRuleset>,
  customerId: string,
  channel: Channel,
  history: ContactEvent[] = [],
) {
  return decide({
    snapshot,
    profile: profiles.get(customerId)!,
    history,
    usage: NO_USAGE,
    now: NOW,
    request: { channel, placement: null, limit: 3, context: {}, explain: false },
  });
}

describe('channel economics per segment', () => {
  it('without economics for the channel, the policies apply', () => {
    expect(plain.economicSegments).toEqual([]);
    const withOther = rulesWith('{ contactCost: { email: 9 } }');
    const slate = (d: ReturnType<typeof decision>) => d.offers.map((o) => [o.offer.id, o.score, o.reasons]);
    const other = decision(withOther, 'cust-2', 'call_center');
    const usual = decision(plain, 'cust-2', 'call_center');
    expect(slate(other)).toEqual(slate(usual));
    expect([other.cost, other.limit]).toEqual([usual.cost, usual.limit]);
  });

  it("sets the contact cost a customer's offers are scored and budgeted at", () => {
    const snapshot = rulesWith('{ contactCost: { call_center: 7.5 } }');
    const dear = decision(snapshot, 'cust-2', 'call_center');
    const usual = decision(plain, 'cust-2', 'call_center');
    expect(usual.cost).toBe(plain.policies[0]!.cost);
    expect(dear.cost).toBe(7.5);
    expect(dear.offers[0]!.score).toBeCloseTo(usual.offers[0]!.score - (7.5 - usual.cost), 9);
    // Not in the segment: the policy's cost.
    expect(decision(snapshot, 'cust-1', 'call_center').cost).toBe(plain.policies[0]!.cost);
  });

  it("sets the preferred channel, instead of the profile's", () => {
    const snapshot = rulesWith('{ preferredChannel: web }');
    expect(decision(plain, 'cust-2', 'call_center').offers[0]!.reasons).toContain('preferred_channel');
    expect(decision(snapshot, 'cust-2', 'call_center').offers[0]!.reasons).not.toContain('preferred_channel');
    expect(decision(snapshot, 'cust-2', 'web').offers[0]!.reasons).toContain('preferred_channel');
  });

  it('scales the contact limits by the care intensity', () => {
    // The fixture's call centre allows 4 offers a week; three were shown today.
    const shown: ContactEvent[] = ['a', 'b', 'c'].map((offerId) => ({
      offerId,
      campaignId: 'cards',
      channel: 'call_center',
      outcome: 'impression',
      at: NOW - 60_000,
    }));
    expect(decision(plain, 'cust-2', 'call_center', shown).limit).toBe(1);
    expect(decision(rulesWith('{ careIntensity: 2 }'), 'cust-2', 'call_center', shown).limit).toBe(3);
    expect(decision(rulesWith('{ careIntensity: 0.5 }'), 'cust-2', 'call_center', shown).limit).toBe(0);
  });
});
