import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import type { Channel } from '../src/domain/channel.js';
import type { CapUsage, ContactEvent, ContactOutcome } from '../src/domain/contact.js';
import { type AttributeValue, type ProfileRecord, profileFromRecord } from '../src/domain/profile.js';
import { decide } from '../src/engine/decide.js';
import { loadRuleset } from '../src/ruleset/load.js';
import { parseDuration } from '../src/ruleset/time.js';
import { FIXTURE_RULES } from './helpers.js';

interface GoldenCase {
  name: string;
  profile?: Partial<ProfileRecord>;
  history?: { offerId: string; campaignId: string; channel: Channel; outcome: ContactOutcome; ago: string }[];
  usage?: Partial<Record<keyof CapUsage, Record<string, number>>>;
  request: { channel: Channel; placement?: string; limit?: number; context?: Record<string, AttributeValue> };
  expect: {
    offers: string[];
    scores?: Record<string, number>;
    reasons?: Record<string, string[]>;
    heldOut?: string[];
    suppressed?: Record<string, string>;
    absent?: string[];
  };
}

const golden = JSON.parse(readFileSync(new URL('./golden/decisions.json', import.meta.url), 'utf8')) as {
  now: string;
  base: ProfileRecord;
  cases: GoldenCase[];
};
const now = Date.parse(golden.now);
const snapshot = await loadRuleset(FIXTURE_RULES, now);

function usageFrom(table: GoldenCase['usage'] = {}): CapUsage {
  const read = (kind: keyof CapUsage) => (id: string) => table[kind]?.[id] ?? 0;
  return {
    offerTotal: read('offerTotal'),
    offerToday: read('offerToday'),
    campaignTotal: read('campaignTotal'),
    campaignToday: read('campaignToday'),
    campaignSpend: read('campaignSpend'),
  };
}

describe('golden decisions (test/golden/decisions.json)', () => {
  for (const c of golden.cases) {
    it(c.name, () => {
      const profile = profileFromRecord({ ...golden.base, ...c.profile } as ProfileRecord);
      const history: ContactEvent[] = (c.history ?? []).map(({ ago, ...e }) => ({
        ...e,
        at: now - (parseDuration(ago) ?? 0),
      }));
      const result = decide({
        snapshot,
        profile,
        history,
        usage: usageFrom(c.usage),
        now,
        request: {
          channel: c.request.channel,
          placement: c.request.placement ?? null,
          limit: c.request.limit ?? 3,
          context: c.request.context ?? {},
          explain: true,
        },
      });
      expect(result.offers.map((o) => o.offer.id)).toEqual(c.expect.offers);
      expect(result.offers.map((o) => o.rank)).toEqual(c.expect.offers.map((_, i) => i + 1));
      for (const [id, score] of Object.entries(c.expect.scores ?? {})) {
        expect(result.offers.find((o) => o.offer.id === id)?.score, `score of ${id}`).toBeCloseTo(score, 9);
      }
      for (const [id, reasons] of Object.entries(c.expect.reasons ?? {})) {
        expect(result.offers.find((o) => o.offer.id === id)?.reasons, `reasons of ${id}`).toEqual(reasons);
      }
      expect(result.heldOut.map((h) => h.offer.id)).toEqual(c.expect.heldOut ?? []);
      const why = Object.fromEntries((result.suppressed ?? []).map((s) => [s.offer.id, s.code]));
      for (const [id, code] of Object.entries(c.expect.suppressed ?? {}))
        expect(why[id], `why not ${id}`).toBe(code);
      for (const id of c.expect.absent ?? []) {
        expect(why[id], `${id} is no candidate`).toBeUndefined();
        expect(result.offers.some((o) => o.offer.id === id)).toBe(false);
      }
    });
  }
});
