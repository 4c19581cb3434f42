import { describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { CHANNELS, type Channel } from '../domain/channel.js';
import { buildRuleset } from '../ruleset/load.js';
import type { OfferSource, RulesFile } from '../ruleset/source.js';
import {
  catalogProducts,
  generateRuleset,
  MOBILE_PLACEMENTS,
  rulesFileTexts,
  WEB_PLACEMENTS,
} from './catalog.js';

function merged(files: Record<string, RulesFile>): Required<Omit<RulesFile, 'globalHoldout'>> {
  const all: Required<Omit<RulesFile, 'globalHoldout'>> = {
    segments: [],
    campaigns: [],
    offers: [],
    contactPolicies: [],
    banners: [],
    lifecycle: [],
    goals: [],
    factors: [],
    triggers: [],
  };
  for (const f of Object.values(files)) {
    all.segments.push(...(f.segments ?? []));
    all.campaigns.push(...(f.campaigns ?? []));
    all.offers.push(...(f.offers ?? []));
    all.contactPolicies.push(...(f.contactPolicies ?? []));
    all.banners.push(...(f.banners ?? []));
  }
  return all;
}

function duplicates(ids: readonly string[]): string[] {
  return ids.filter((id, i) => ids.indexOf(id) !== i);
}

describe.each([5, 20, 500])('generateRuleset({ offers: %i })', (n) => {
  const files = generateRuleset({ offers: n, seed: 42 });
  const all = merged(files);

  it('writes the four files, each valid against the ruleset schema', () => {
    expect(Object.keys(files).sort()).toEqual([
      'campaigns.yaml',
      'offers.yaml',
      'policies.yaml',
      'segments.yaml',
    ]);
    // The real loader validates every file against the ruleset schema; it throws RulesetError
    // naming the file, line and reason of the first problem otherwise.
    expect(() => buildRuleset(rulesFileTexts(files), Date.parse('2026-11-01T00:00:00Z'))).not.toThrow();
  });

  it('has N offers over about max(10, N/4) products, ≥ 4 campaigns and ~8 segments', () => {
    expect(all.offers).toHaveLength(n);
    const products = catalogProducts(files);
    expect(products.length).toBe(Math.min(n, Math.max(10, Math.round(n / 4))));
    expect(all.campaigns.length).toBe(Math.max(4, Math.round(n / 25)));
    expect(all.segments.length).toBeGreaterThanOrEqual(6);
    expect(all.segments.length).toBeLessThanOrEqual(10);
  });

  it('keeps references whole and ids unique', () => {
    const campaignIds = new Set(all.campaigns.map((c) => c.id));
    const segmentIds = new Set(all.segments.map((s) => s.id));
    expect(duplicates(all.offers.map((o) => o.id))).toEqual([]);
    expect(duplicates(all.campaigns.map((c) => c.id))).toEqual([]);
    expect(duplicates(all.segments.map((s) => s.id))).toEqual([]);
    expect(all.offers.filter((o) => !campaignIds.has(o.campaign)).map((o) => o.id)).toEqual([]);
    for (const c of all.campaigns) for (const s of c.segments ?? []) expect(segmentIds).toContain(s);
    // Every campaign has offers.
    expect(new Set(all.offers.map((o) => o.campaign)).size).toBe(Math.min(n, campaignIds.size));
    // Conditions only name segments and products that exist.
    const products = new Set(catalogProducts(files));
    const conditions = [...all.offers.map((o) => o.when ?? ''), ...all.segments.map((s) => s.when)].join(
      '\n',
    );
    for (const [, id] of conditions.matchAll(/inSegment\('([^']+)'\)/g)) expect(segmentIds).toContain(id);
    for (const [, id] of conditions.matchAll(/(?:holds|affinity)\('([^']+)'\)/g))
      expect(products).toContain(id);
  });

  it('gives every offer 1-3 channels, a creative for each, and placements from the known sets', () => {
    for (const o of all.offers) {
      expect(o.channels.length).toBeGreaterThanOrEqual(1);
      expect(o.channels.length).toBeLessThanOrEqual(3);
      expect(Object.keys(o.creatives).sort()).toEqual([...o.channels].sort());
      for (const [channel, places] of Object.entries(o.placements ?? {})) {
        expect(o.channels).toContain(channel);
        const known: readonly string[] = channel === 'web' ? WEB_PLACEMENTS : MOBILE_PLACEMENTS;
        for (const p of places) expect(known).toContain(p);
      }
      expect((o.validity?.to ?? '') >= '2030-12-31').toBe(true);
    }
  });

  it('covers every channel and has contact policies for all five and `all`', () => {
    const per = (c: Channel) => all.offers.filter((o: OfferSource) => o.channels.includes(c)).length;
    for (const c of CHANNELS) {
      expect(per(c)).toBeGreaterThanOrEqual(1);
      if (n >= 20) expect(per(c) / n).toBeGreaterThanOrEqual(0.2);
    }
    expect(all.contactPolicies.map((p) => p.channel).sort()).toEqual(['all', ...CHANNELS].sort());
    const web = all.contactPolicies.find((p) => p.channel === 'web');
    expect(web?.limits).toContainEqual({ max: 50, window: '1d' });
  });

  it('gives about half of the offers a condition', () => {
    const share = all.offers.filter((o) => o.when !== undefined).length / n;
    if (n >= 100) {
      expect(share).toBeGreaterThan(0.35);
      expect(share).toBeLessThan(0.65);
    }
  });

  it('survives a YAML round trip unchanged (dates stay strings)', () => {
    for (const content of Object.values(files))
      expect(parse(stringify(content, { lineWidth: 0 }))).toEqual(content);
  });

  it('loads and compiles with the real ruleset loader', () => {
    const snapshot = buildRuleset(rulesFileTexts(files), Date.parse('2026-11-01T00:00:00Z'));
    expect(snapshot.offers).toHaveLength(n);
  });
});

describe('generateRuleset', () => {
  it('is deterministic by seed', () => {
    expect(generateRuleset({ offers: 50, seed: 7 })).toEqual(generateRuleset({ offers: 50, seed: 7 }));
    expect(generateRuleset({ offers: 50, seed: 7 })).not.toEqual(generateRuleset({ offers: 50, seed: 8 }));
  });

  it('does not share mutable state between calls', () => {
    const a = generateRuleset({ offers: 5, seed: 1 });
    a['segments.yaml']!.segments![0]!.when = 'changed';
    a['policies.yaml']!.contactPolicies![0]!.limits![0]!.max = 1;
    const b = generateRuleset({ offers: 5, seed: 1 });
    expect(b['segments.yaml']!.segments![0]!.when).not.toBe('changed');
    expect(b['policies.yaml']!.contactPolicies![0]!.limits![0]!.max).not.toBe(1);
  });

  it('rejects fewer than one offer', () => {
    expect(() => generateRuleset({ offers: 0, seed: 1 })).toThrow(RangeError);
  });

  it('catalogProducts lists the distinct products in order of first appearance', () => {
    const files = generateRuleset({ offers: 40, seed: 3 });
    const products = catalogProducts(files);
    expect(products.slice(0, 3)).toEqual(['prod-0001', 'prod-0002', 'prod-0003']);
    expect(new Set(products).size).toBe(products.length);
    expect(catalogProducts({})).toEqual([]);
  });
});
