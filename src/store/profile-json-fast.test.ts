import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../domain/channel.js';
import type { AttributeValue, ProfileRecord } from '../domain/profile.js';
import { generatePopulation } from '../sim/population.js';
import { ProfileCodec, SymbolCounter, SymbolDictionary } from './profile-codec.js';
import { FAST_BLANK, FAST_ENCODED, FAST_NO, JsonLineEncoder } from './profile-json-fast.js';
import { validateProfileRecord } from './profile-record.js';
import { slotBucketOf } from './redis/slot-placement.js';

const BUCKETS = 1024;
const PRODUCTS = Array.from({ length: 40 }, (_, i) => `prod-${String(i + 1).padStart(2, '0')}`);
const population = [...generatePopulation(2000, PRODUCTS, { seed: 11, affinities: 20 })];
const counter = new SymbolCounter();
for (const rec of population.slice(0, 300)) counter.addRecord(rec);
const DICTIONARIES = {
  none: SymbolDictionary.EMPTY,
  'by frequency': counter.dictionary(),
  // Duplicates and non-ASCII entries: the first of equal entries wins, non-ASCII never matches.
  odd: SymbolDictionary.from(['prod-01', 'é', 'region', 'prod-01', 'north', 'age', '', 'x'.repeat(70)]),
};

type Outcome = { status: number; bytes: Buffer; id?: string; bucket?: number };

/** The fast path on one line, as the loader runs it (a line break after). */
function fast(line: string, dictionary: SymbolDictionary): Outcome {
  const encoder = new JsonLineEncoder(dictionary.toJSON(), BUCKETS);
  const bytes = Buffer.from(`${line}\n`);
  const status = encoder.encodeLine(bytes, 0, bytes.length - 1);
  if (status !== FAST_ENCODED) return { status, bytes: Buffer.alloc(0) };
  return {
    status,
    bytes: Buffer.from(encoder.value.subarray(0, encoder.length)),
    id: bytes.toString('latin1', encoder.idStart, encoder.idEnd),
    bucket: encoder.bucket,
  };
}

/** The general path: JSON.parse, the schema, encodeRecord. */
function general(line: string): ProfileRecord | null {
  let value: unknown;
  try {
    value = JSON.parse(line);
  } catch {
    return null;
  }
  const record = validateProfileRecord(value);
  return typeof record === 'string' ? null : record;
}

/** Whatever the fast path accepts, the general path accepts too, with the same bytes, id and bucket. */
function expectAgreement(line: string, dictionary: SymbolDictionary): number {
  const outcome = fast(line, dictionary);
  if (outcome.status === FAST_BLANK) {
    expect(line.trim()).toBe('');
  } else if (outcome.status === FAST_ENCODED) {
    const record = general(line);
    expect(record, line).not.toBeNull();
    const expected = new ProfileCodec(dictionary).encodeRecord(record!);
    expect(outcome.bytes.toString('hex'), line).toBe(expected.toString('hex'));
    expect(outcome.id).toBe(record!.id);
    expect(outcome.bucket).toBe(slotBucketOf(record!.id, BUCKETS));
  }
  return outcome.status;
}

// ---- arbitraries ---------------------------------------------------------------------------------

const asciiText = fc.string({
  unit: fc.constantFrom(...'abcdefghijklmnopqrstuvwxyz-_ 0123456789.'),
  maxLength: 12,
});
const text = fc.oneof(
  {
    arbitrary: fc.constantFrom('north', 'south', 'prod-01', 'prod-02', 'region', '', 'x'.repeat(70)),
    weight: 4,
  },
  { arbitrary: asciiText, weight: 4 },
  { arbitrary: fc.string({ maxLength: 10 }), weight: 1 },
  { arbitrary: fc.string({ unit: 'binary', maxLength: 6 }), weight: 1 },
);
const productId = fc.oneof(
  { arbitrary: fc.constantFrom(...PRODUCTS.slice(0, 6), 'new-product'), weight: 10 },
  { arbitrary: asciiText, weight: 10 },
  { arbitrary: fc.constantFrom('é', '', 'x'.repeat(65)), weight: 1 },
);
const number = fc.oneof(
  fc.integer({ min: -1000, max: 100_000 }),
  fc.integer().map((n) => n / 100),
  fc.integer().map((n) => n / 1000),
  fc.constantFrom(0, -0, 0.1, 0.3, 1e21, 2 ** 53, -(2 ** 52) + 1, 123456789012345.6, 5e-324),
  fc.double({ noNaN: true, noDefaultInfinity: true }),
);
const attributeValue: fc.Arbitrary<AttributeValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  number,
  text,
  fc.oneof(
    { arbitrary: fc.array(fc.oneof(number, text), { maxLength: 6 }), weight: 20 },
    { arbitrary: fc.array(fc.oneof(number, text), { minLength: 60, maxLength: 70 }), weight: 1 },
  ),
);
const attributeName = fc.oneof(
  { arbitrary: fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,8}$/), weight: 40 },
  { arbitrary: fc.constantFrom('age', 'region', 'x', '_a', '__proto__', 'a'.repeat(64)), weight: 8 },
  { arbitrary: fc.constantFrom('a'.repeat(65), '1a', 'a-b', ''), weight: 1 },
);
const record = fc.record(
  {
    id: fc.oneof(
      { arbitrary: fc.constantFrom('cust-1', 'a', 'x'.repeat(128)), weight: 10 },
      { arbitrary: text, weight: 10 },
      { arbitrary: fc.constantFrom('', 'x'.repeat(129)), weight: 1 },
    ),
    attributes: fc.oneof(
      {
        arbitrary: fc.dictionary(attributeName, attributeValue, { maxKeys: 12, noNullPrototype: true }),
        weight: 20,
      },
      {
        arbitrary: fc.dictionary(attributeName, attributeValue, {
          minKeys: 60,
          maxKeys: 70,
          noNullPrototype: true,
        }),
        weight: 1,
      },
    ),
    consent: fc.record(Object.fromEntries(CHANNELS.map((c) => [c, fc.boolean()])), { requiredKeys: [] }),
    holdings: fc.array(productId, { maxLength: 8 }),
    affinities: fc.array(
      fc.record({
        product: productId,
        score: fc.oneof(
          { arbitrary: fc.double({ min: 0, max: 1, noNaN: true }), weight: 20 },
          { arbitrary: fc.constantFrom(0, 1, -0), weight: 5 },
          { arbitrary: fc.constantFrom(1.5, -0.1), weight: 1 },
        ),
      }),
      { maxLength: 25 },
    ),
  },
  { requiredKeys: [] },
);

/** JSON text of a record with some freedom: spaces, key order, a key twice, extra keys, exponents. */
const line = fc
  .tuple(
    record,
    fc.constantFrom('', ' ', '\t', '  '),
    fc.boolean(),
    fc.constantFrom(
      'none',
      'none',
      'none',
      'none',
      'none',
      'duplicate',
      'extra',
      'exponent',
      'escape',
      'nested',
    ),
  )
  .map(([rec, space, shuffle, twist]) => {
    let entries = Object.entries(rec);
    if (shuffle && twist !== 'none') entries = entries.reverse();
    let json = `{${entries.map(([k, v]) => `${space}${JSON.stringify(k)}${space}:${space}${JSON.stringify(v, null, space.includes('\t') ? '\t' : undefined)}`).join(',')}}`;
    if (twist === 'duplicate' && entries.length > 0)
      json = json.replace('{', `{${JSON.stringify(entries[0]![0])}:${JSON.stringify(entries[0]![1])},`);
    if (twist === 'extra') json = json.replace('{', '{"other":1,');
    if (twist === 'exponent') json = json.replace(/(\d)(,|\]|\})/, '$1e0$2');
    if (twist === 'escape') json = json.replace('"', '"\\u0061');
    if (twist === 'nested') json = json.replace('"attributes":{', '"attributes":{"o":{},');
    return `${space}${json}${space}`;
  });

// ---- tests ---------------------------------------------------------------------------------------

describe('JsonLineEncoder', () => {
  it.each(Object.entries(DICTIONARIES))(
    'encodes generated profiles on the fast path, with the bytes of the general path (%s)',
    (_, dictionary) => {
      for (const rec of population)
        expect(expectAgreement(JSON.stringify(rec), dictionary)).toBe(FAST_ENCODED);
    },
  );

  it('never accepts a line the general path rejects, nor encodes one differently', () => {
    let accepted = 0;
    let runs = 0;
    let valid = 0;
    fc.assert(
      fc.property(line, fc.constantFrom(...Object.values(DICTIONARIES)), (text, dictionary) => {
        runs++;
        if (general(text) !== null) valid++;
        if (expectAgreement(text, dictionary) === FAST_ENCODED) accepted++;
      }),
      { numRuns: 3000 },
    );
    // The property means little unless many lines take the fast path.
    expect(valid).toBeGreaterThan(runs / 5);
    expect(accepted).toBeGreaterThan(valid / 3);
  });

  it('agrees with the general path on mangled lines', () => {
    const base = population.slice(0, 20).map((r) => JSON.stringify(r));
    const pieces = [
      '"',
      '\\',
      ',',
      ':',
      '{',
      '}',
      '[',
      ']',
      ' ',
      '1',
      '-',
      '.',
      'e',
      'true',
      'é',
      '\u0001',
      'null',
    ];
    fc.assert(
      fc.property(
        fc.constantFrom(...base),
        fc.array(fc.tuple(fc.nat(2000), fc.nat(3), fc.constantFrom(...pieces)), {
          minLength: 1,
          maxLength: 3,
        }),
        (text, edits) => {
          let mangled = text;
          for (const [at, cut, insert] of edits) {
            const i = at % (mangled.length + 1);
            mangled = mangled.slice(0, i) + insert + mangled.slice(i + cut);
          }
          expectAgreement(mangled, DICTIONARIES['by frequency']);
        },
      ),
      { numRuns: 5000 },
    );
  });

  it('reads numbers to the same double as JSON.parse', () => {
    const dictionary = SymbolDictionary.EMPTY;
    const numbers = [
      '0',
      '-0',
      '0.0',
      '-0.0',
      '1.5',
      '0.1',
      '0.06',
      '-1837.8',
      '123456789012345',
      '1234567890123456',
      '12345678901234567890',
      '0.30000000000000004',
      '1e2',
      '1E-2',
      '1e+2',
      '2.5e-3',
      '9007199254740993',
      '1.7976931348623157e308',
      '5e-324',
      '0.000001',
    ];
    for (const n of numbers) {
      expect(expectAgreement(`{"id":"a","attributes":{"v":${n},"l":[${n}]}}`, dictionary), n).toBe(
        FAST_ENCODED,
      );
    }
    for (const n of [
      '01',
      '1.',
      '.5',
      '+1',
      '1e',
      '-',
      '1e999',
      '-1e999',
      'NaN',
      'Infinity',
      '0x10',
      '1_0',
    ]) {
      expect(expectAgreement(`{"id":"a","attributes":{"v":${n}}}`, dictionary), n).toBe(FAST_NO);
    }
  });

  it('leaves to the general path what it does not read itself', () => {
    const dictionary = DICTIONARIES['by frequency'];
    const no = [
      '{"id":"a\\u0062"}',
      '{"id":"é"}',
      '{"id":"a","id":"b"}',
      '{"attributes":{}}',
      '{}',
      '{"id":"a","attributes":{"a":1,"a":2}}',
      '{"id":"a","attributes":{"o":{}}}',
      '{"id":"a","attributes":{"l":[true]}}',
      '{"id":"a","consent":{"fax":true}}',
      '{"id":"a","consent":{"web":1}}',
      '{"id":"a","holdings":[""]}',
      '{"id":"a","holdings":"x"}',
      '{"id":"a","affinities":[{"product":"p"}]}',
      '{"id":"a","affinities":[{"product":"p","score":2}]}',
      '{"id":"a","affinities":[{"product":"p","score":1,"x":1}]}',
      '{"id":"a","holdings":[],"attributes":{}}',
      '{"id":"a"} x',
      '{"id":"a"',
      '\uFEFF{"id":"a"}',
      '\u00a0',
      `{"id":"${'x'.repeat(129)}"}`,
    ];
    for (const text of no) expect(expectAgreement(text, dictionary), text).toBe(FAST_NO);
    for (const text of ['', ' ', '\t \t']) expect(expectAgreement(text, dictionary)).toBe(FAST_BLANK);
    const yes = [
      '{"id":"a"}',
      ' { "id" : "a" , "holdings" : [ ] } ',
      '{"attributes":{"__proto__":1},"id":"a"}',
      '{"id":"a","consent":{"web":true,"web":false,"email":true}}',
      '{"id":"a","holdings":["p","q","p"],"affinities":[{"score":0.5,"product":"x"},{"product":"x","score":1}]}',
      '{"id":"a","affinities":[{"product":"x", "score":1},{"product":"y","score":0 },{ "product":"z","score":0.5}]}',
      '{"id":"a","affinities":[{"product":"x","score":1},{"product":"x","score":0.25}]}',
    ];
    for (const text of yes) expect(expectAgreement(text, dictionary), text).toBe(FAST_ENCODED);
  });
});
