import { channelIndex } from '../domain/channel.js';
import { oneByte } from '../domain/intern.js';
import { round4 } from '../domain/response-numbers.js';
import type { ChosenOffer } from '../engine/decide.js';
import type { CompiledOffer } from '../ruleset/snapshot.js';
import type { DecisionResult } from '../service/decision-service.js';

// The JSON of a decision, written by hand because it is the hottest response of the server.
// Most of an offer's JSON (ids, name, creative) depends only on the offer and the channel, so it
// is serialised once per compiled offer and reused by every decision that shows it; a decision
// adds only its own numbers and reasons. The shape is decisionResponseSchema (routes/decisions.ts);
// decision-json.test.ts checks that the two agree.

interface OfferJson {
  /** `{"offerId":…,"campaignId":…,"productId":…,"name":…,` */
  readonly head: string;
  /** `,"creative":{…}}` per channel index */
  readonly tails: readonly string[];
}

const offerJson = new WeakMap<CompiledOffer, OfferJson>();

const NON_ASCII = /[\u007f-\uffff]/g;
const HAS_NON_ASCII = /[\u007f-\uffff]/;

/**
 * JSON with every non-ASCII character escaped, as a flat one-byte string (see oneByte): text
 * sliced from a YAML file with one em dash in it is two-byte, and so would every response be.
 */
export function asciiJson(value: unknown): string {
  const json = JSON.stringify(value);
  return oneByte(
    HAS_NON_ASCII.test(json)
      ? json.replace(NON_ASCII, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`)
      : json,
  );
}

/** A per-request string as JSON: usually ASCII already, so only escape when it is not. */
export function jsonString(text: string): string {
  const json = JSON.stringify(text);
  return HAS_NON_ASCII.test(json) ? asciiJson(text) : json;
}

function jsonOf(offer: CompiledOffer): OfferJson {
  let cached = offerJson.get(offer);
  if (cached === undefined) {
    const head = asciiJson({
      offerId: offer.id,
      campaignId: offer.campaign.id,
      productId: offer.productId,
      name: offer.name,
    });
    cached = {
      head: `${head.slice(0, -1)},`,
      tails: offer.creatives.map((creative) => `,"creative":${asciiJson(creative)}}`),
    };
    offerJson.set(offer, cached);
  }
  return cached;
}

const num = (n: number): string => (Number.isFinite(n) ? String(n) : 'null');

/** Reason codes are built from ids the schema restricts to [a-z0-9_.-], so they need no escaping. */
const reasonsJson = (reasons: readonly string[]): string => `["${reasons.join('","')}"]`;

function offerToJson(o: ChosenOffer, ch: number): string {
  const json = jsonOf(o.offer);
  return `${json.head}"rank":${o.rank},"score":${num(round4(o.score))},"propensity":${num(round4(o.propensity))},"probability":${num(o.probability)},"reasons":${reasonsJson(o.reasons)}${json.tails[ch]}`;
}

// Many decisions share a millisecond under load: format its timestamp once.
let isoMs = Number.NaN;
let isoText = '';
function isoTime(ms: number): string {
  if (ms !== isoMs) {
    isoMs = ms;
    isoText = new Date(ms).toISOString();
  }
  return isoText;
}

export function decisionJson(d: DecisionResult): string {
  const ch = channelIndex(d.channel);
  let offers = '';
  for (const o of d.engine.offers) offers += offers === '' ? offerToJson(o, ch) : `,${offerToJson(o, ch)}`;
  const suppressed = d.engine.suppressed
    ? `,"suppressed":${JSON.stringify(
        d.engine.suppressed.map((s) => ({
          offerId: s.offer.id,
          campaignId: s.offer.campaign.id,
          reason: s.code,
        })),
      )}`
    : '';
  // A preview was not logged: no id for feedback to refer to.
  const id = d.preview ? 'null' : `"${d.decisionId}"`;
  const preview = d.preview ? ',"preview":true' : '';
  // Only while a champion/challenger test runs: otherwise the answer is as it always was.
  const arm = d.arm === undefined ? '' : `,"arm":"${d.arm}"`;
  return `{"decisionId":${id},"customerId":${jsonString(d.customerId)},"customerKnown":${d.customerKnown},"channel":"${d.channel}","placement":${d.placement === null ? 'null' : jsonString(d.placement)},"rulesetVersion":"${d.rulesetVersion}"${arm},"decidedAt":"${isoTime(d.decidedAt)}","degraded":${d.degraded},"offers":[${offers}]${suppressed}${preview}}`;
}
