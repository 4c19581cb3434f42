import { Ajv } from 'ajv';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { FIXTURE_RULES } from '../../test/helpers.js';
import { CHANNELS } from '../domain/channel.js';
import { NO_USAGE } from '../domain/contact.js';
import { profileFromRecord } from '../domain/profile.js';
import { decide } from '../engine/decide.js';
import { loadRuleset } from '../ruleset/load.js';
import type { DecisionResult } from '../service/decision-service.js';
import { decisionJson } from './decision-json.js';
import { decisionResponseSchema } from './routes/decisions.js';

const NOW = Date.parse('2026-11-22T12:00:00Z');
const snapshot = await loadRuleset(FIXTURE_RULES, NOW);

/** The schema with every object closed, so that a field the schema does not name fails. */
function closed(schema: unknown): unknown {
  if (Array.isArray(schema)) return schema.map(closed);
  if (schema === null || typeof schema !== 'object') return schema;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(schema)) out[k] = k === 'creative' ? v : closed(v);
  if ('properties' in out && !('additionalProperties' in out)) {
    out.additionalProperties = false;
    out.required = Object.keys(out.properties as object).filter(
      (k) => k !== 'suppressed' && k !== 'preview' && k !== 'arm',
    );
  }
  return out;
}
const validate = new Ajv({ allowUnionTypes: true, strict: false }).compile(
  closed(decisionResponseSchema) as object,
);

function result(
  customerId: string,
  channel: (typeof CHANNELS)[number],
  explain: boolean,
  preview = false,
): DecisionResult {
  const profile = profileFromRecord({ id: customerId, affinities: [{ product: 'card-gold', score: 0.5 }] });
  const engine = decide({
    snapshot,
    profile,
    history: [],
    usage: NO_USAGE,
    now: NOW,
    request: { channel, placement: null, limit: 5, context: { intent: 'travel' }, explain },
  });
  return {
    decisionId: '0b6f1a52-4c8e-4f57-9d0a-3c1c2b0c9e11',
    customerId,
    customerKnown: true,
    channel,
    placement: null,
    rulesetVersion: snapshot.version,
    decidedAt: NOW,
    degraded: false,
    preview,
    engine,
  };
}

describe('decisionJson', () => {
  it('writes valid JSON of the documented shape, for any customer id, channel, explain and preview', () => {
    fc.assert(
      fc.property(
        fc.string({ minLength: 1, maxLength: 40 }),
        fc.constantFrom(...CHANNELS),
        fc.boolean(),
        fc.boolean(),
        (id, ch, ex, pv) => {
          const d = result(id, ch, ex, pv);
          const parsed = JSON.parse(decisionJson(d));
          expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true);
          expect(parsed.customerId).toBe(id);
          expect(parsed.offers.map((o: { offerId: string }) => o.offerId)).toEqual(
            d.engine.offers.map((o) => o.offer.id),
          );
          expect(parsed.suppressed === undefined).toBe(!ex);
          // A preview is marked, and has no id that feedback could refer to.
          expect(parsed.preview).toBe(pv ? true : undefined);
          expect(parsed.decisionId).toBe(pv ? null : d.decisionId);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("carries a champion/challenger test's arm only while one runs", () => {
    const none = JSON.parse(decisionJson(result('c-1', 'web', false)));
    expect('arm' in none).toBe(false);
    for (const arm of ['champion', 'challenger'] as const) {
      const parsed = JSON.parse(decisionJson({ ...result('c-1', 'web', false), arm }));
      expect(validate(parsed), JSON.stringify(validate.errors)).toBe(true);
      expect(parsed.arm).toBe(arm);
    }
  });

  it('carries the creative of the channel asked for, and the decision numbers', () => {
    const d = result('c-1', 'call_center', false);
    const first = JSON.parse(decisionJson(d)).offers[0];
    expect(first).toEqual({
      offerId: 'gold-card',
      campaignId: 'cards',
      productId: 'card-gold',
      name: 'Gold card',
      rank: 1,
      score: 49.5,
      propensity: 0.5,
      probability: 1,
      reasons: ['campaign:cards', 'eligibility_rule', 'affinity:card-gold'],
      creative: { talkTrack: 'Offer the gold card.' },
    });
  });

  it('rounds propensities to 4 decimals, so a 16-bit affinity from Redis answers as the embedded one', () => {
    const d = result('c-1', 'web', false);
    const quantized = Math.round(0.32 * 0xffff) / 0xffff; // as the Redis store keeps 0.32
    const offers = d.engine.offers.map((o) => ({ ...o, propensity: quantized }));
    const parsed = JSON.parse(decisionJson({ ...d, engine: { ...d.engine, offers } }));
    expect(quantized).not.toBe(0.32);
    expect(parsed.offers[0].propensity).toBe(0.32);
  });
});

describe('decisionJson output encoding', () => {
  it('is pure ASCII, with non-ASCII text escaped, and parses back to the same text', () => {
    const d = result('kunde-ø—✓', 'web', false);
    const json = decisionJson(d);
    expect(/^[\x20-\x7e]*$/.test(json)).toBe(true);
    expect(JSON.parse(json).customerId).toBe('kunde-ø—✓');
    expect(decisionJson(d)).toBe(json);
  });
});
