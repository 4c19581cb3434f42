import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CHANNELS } from '../domain/channel.js';
import { internedIds, knownId } from '../domain/intern.js';
import {
  type AttributeValue,
  type CustomerProfile,
  type ProfileRecord,
  profileFromRecord,
} from '../domain/profile.js';
import { generatePopulation } from '../sim/population.js';
import { CodecError, ProfileCodec, SymbolCounter, SymbolDictionary } from './profile-codec.js';

// ---- arbitraries (within profile-schema limits) ------------------------------------------------

const FREQUENT = ['north', 'south', 'gold', 'employed', 'x', '', 'prod-01', 'prod-02', 'héllo wörld ✓'];

const text = fc.oneof(fc.constantFrom(...FREQUENT), fc.string({ unit: 'binary', maxLength: 80 }));
const productId = fc.oneof(
  fc.constantFrom('prod-01', 'prod-02', 'prod-03', 'current-account'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 64 }),
);
// Every double: the codec writes what fits no narrower tag (big, -0, NaN, ±Infinity) as float64.
const number = fc.oneof(
  fc.integer({ min: -1000, max: 100_000 }),
  fc.integer().map((n) => n / 100),
  fc.constantFrom(2 ** 52 - 1, -(2 ** 52) + 1, 2 ** 52, Number.MAX_SAFE_INTEGER, -Number.MAX_SAFE_INTEGER),
  fc.maxSafeInteger(),
  fc.double(),
);
const attributeValue: fc.Arbitrary<AttributeValue> = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  number,
  text,
  fc.array(fc.oneof(number, text), { maxLength: 64 }),
);
const attributeName = fc.stringMatching(/^[A-Za-z_][A-Za-z0-9_]{0,63}$/);

const record: fc.Arbitrary<ProfileRecord> = fc.record(
  {
    id: fc.string({ minLength: 1, maxLength: 128 }),
    attributes: fc.dictionary(attributeName, attributeValue, { maxKeys: 64, noNullPrototype: true }),
    consent: fc.record(Object.fromEntries(CHANNELS.map((c) => [c, fc.boolean()])), { requiredKeys: [] }),
    holdings: fc.array(productId, { maxLength: 256 }),
    affinities: fc.array(
      fc.record({ product: productId, score: fc.double({ min: 0, max: 1, noNaN: true }) }),
      {
        maxLength: 256,
      },
    ),
  },
  { requiredKeys: ['id'] },
);

/** A dictionary of some of the profile's strings (capped, so that others are written inline). */
function dictionaryFor(profile: CustomerProfile, cap: number): SymbolDictionary {
  const counter = new SymbolCounter(cap);
  counter.addRecord({
    id: profile.id,
    attributes: { ...profile.attributes } as ProfileRecord['attributes'],
    holdings: [...profile.holdings],
    affinities: [...profile.affinities].map(([product, score]) => ({ product, score })),
  });
  return counter.dictionary();
}

function expectSameProfile(decoded: CustomerProfile, expected: CustomerProfile): void {
  expect(decoded.id).toBe(expected.id);
  expect(decoded.attributes).toEqual(expected.attributes);
  expect(Object.keys(decoded.attributes)).toEqual(Object.keys(expected.attributes));
  expect(decoded.consent).toEqual(expected.consent);
  expect([...decoded.holdings]).toEqual([...expected.holdings]);
  expect(decoded.affinities.products).toEqual(expected.affinities.products);
  expect(decoded.affinities.indexes).toEqual(expected.affinities.indexes);
  expected.affinities.scores.forEach((score, i) => {
    expect(Math.abs(decoded.affinities.scores[i]! - score)).toBeLessThanOrEqual(1 / 131070);
  });
}

function expectCodecError(decode: () => unknown, message?: RegExp): void {
  let thrown: unknown;
  try {
    decode();
  } catch (e) {
    thrown = e;
  }
  expect(thrown).toBeInstanceOf(CodecError);
  if (message) expect((thrown as Error).message).toMatch(message);
}

// ---- the demo population -------------------------------------------------------------------------

const PRODUCTS = Array.from({ length: 40 }, (_, i) => `prod-${String(i + 1).padStart(2, '0')}`);
const demoPopulation = [...generatePopulation(1000, PRODUCTS, { seed: 42, affinities: 20 })];
const demo = demoPopulation.map((r) => profileFromRecord(r));
const demoCounter = new SymbolCounter();
for (const record of demoPopulation) demoCounter.addRecord(record);
const demoDictionary = demoCounter.dictionary();
const demoCodec = new ProfileCodec(demoDictionary);

// ---- tests ---------------------------------------------------------------------------------------

describe('ProfileCodec', () => {
  it('round-trips any valid profile, with or without a dictionary', () => {
    fc.assert(
      fc.property(record, fc.oneof(fc.constant(-1), fc.nat(600)), (rec, cap) => {
        const profile = profileFromRecord(rec);
        const codec = new ProfileCodec(cap < 0 ? undefined : dictionaryFor(profile, cap));
        expectSameProfile(codec.decode(rec.id, codec.encode(profile)), profile);
      }),
      { numRuns: 300 },
    );
  });

  it('builds the decoded profile as profileFromRecord does', () => {
    const codec = new ProfileCodec();
    const bytes = codec.encode(demo[0]!);
    // The hash field holds the id: it is not in the bytes.
    expect(bytes.includes(Buffer.from(demo[0]!.id))).toBe(false);
    const decoded = codec.decode('someone-else', bytes);
    expect(decoded.id).toBe('someone-else');
    expect(decoded.holdings).toBeInstanceOf(Set);
    expect(decoded.affinities.get(demo[0]!.affinities.products[0]!)).toBeCloseTo(
      demo[0]!.affinities.scores[0]!,
      4,
    );
  });

  it('encodes an empty profile in 6 bytes', () => {
    const codec = new ProfileCodec();
    const bytes = codec.encode(profileFromRecord({ id: 'a' }));
    expect([...bytes]).toEqual([1, 0, 0, 0, 0, 0]);
    expectSameProfile(codec.decode('a', bytes), profileFromRecord({ id: 'a' }));
  });

  it('keeps __proto__ an ordinary attribute, as JSON.parse does', () => {
    const rec = JSON.parse('{"id":"a","attributes":{"__proto__":1,"b":[1,"x"]}}') as ProfileRecord;
    const codec = new ProfileCodec();
    const decoded = codec.decode('a', codec.encode(profileFromRecord(rec)));
    expect(Object.getPrototypeOf(decoded.attributes)).toBe(Object.prototype);
    expect(Object.entries(decoded.attributes)).toEqual([
      ['__proto__', 1],
      ['b', [1, 'x']],
    ]);
  });

  it('picks the narrowest number encoding', () => {
    const codec = new ProfileCodec();
    const size = (v: number) => codec.encode(profileFromRecord({ id: 'a', attributes: { v } })).length - 9;
    expect(size(-1)).toBe(1); // int, one-byte zigzag
    expect(size(12.34)).toBe(2); // dec2: 1234 in two bytes
    expect(size(0.1 + 0.2)).toBe(8); // not 2 decimals: float64
    expect(size(-0)).toBe(8);
    expect(size(2 ** 60)).toBe(8);
  });

  it('decodes from a Uint8Array view at an offset', () => {
    const bytes = demoCodec.encode(demo[1]!);
    const copy = new Uint8Array(bytes.length + 3);
    copy.set(bytes, 3);
    expectSameProfile(demoCodec.decode(demo[1]!.id, copy.subarray(3)), demo[1]!);
  });

  // 1,000 demo customers (18 attributes, 1-5 holdings, 20 affinities): 130.1 bytes on average,
  // ~155 in a Redis hash. About 61 are affinities (20 × symbol + u16), 64 attributes.
  it('encodes the demo population compactly', () => {
    let total = 0;
    for (const profile of demo) total += demoCodec.encode(profile).length;
    expect(total / demo.length).toBeLessThanOrEqual(131);
  });
});

describe('ProfileCodec.decode and the id pool', () => {
  it('pools the ids of the loaded dictionary, and only looks up ids written inline since (by the API)', () => {
    const dictionary = SymbolDictionary.from(['codec-pool-loaded']);
    const codec = new ProfileCodec(dictionary);
    const before = internedIds();
    for (let i = 0; i < 200; i++) {
      const written = profileFromRecord(
        {
          id: `c${i}`,
          holdings: [`codec-made-up-${i}`],
          affinities: [{ product: `codec-made-up-${i}`, score: 0.5 }],
        },
        knownId,
      );
      const read = codec.decode(written.id, codec.encode(written));
      expect([...read.holdings]).toEqual([`codec-made-up-${i}`]);
      expect([...read.affinities.indexes]).toEqual([-1]);
    }
    expect(internedIds()).toBe(before);
    const loaded = codec.decode(
      'c',
      codec.encode(profileFromRecord({ id: 'c', holdings: ['codec-pool-loaded'] })),
    );
    expect(internedIds()).toBe(before + 1);
    expect([...loaded.holdings]).toEqual(['codec-pool-loaded']);
  });
});

describe('ProfileCodec.encodeRecord', () => {
  const demoRecords = [...generatePopulation(2000, PRODUCTS, { seed: 7, affinities: 20 })];
  const counter = new SymbolCounter();
  for (const rec of demoRecords.slice(0, 500)) counter.addRecord(rec);
  const dictionaries = {
    none: SymbolDictionary.EMPTY,
    demo: demoDictionary,
    'by frequency': counter.dictionary(),
    'by frequency, 40 entries': new SymbolCounter(40).dictionary(),
    'seeded, capped': (() => {
      const c = new SymbolCounter(50);
      for (const rec of demoRecords.slice(0, 50)) c.addRecord(rec);
      return c.dictionary(PRODUCTS.slice(0, 10));
    })(),
  };

  it.each(Object.entries(dictionaries))(
    'gives the bytes of encode(profileFromRecord()) for generated profiles (%s)',
    (_, dictionary) => {
      const codec = new ProfileCodec(dictionary);
      for (const rec of demoRecords) {
        expect(codec.encodeRecord(rec).equals(codec.encode(profileFromRecord(rec)))).toBe(true);
      }
    },
  );

  it('gives the bytes of encode(profileFromRecord()) for any valid record, duplicates included', () => {
    const withDuplicates = record.chain((rec) =>
      fc.tuple(fc.nat(5), fc.nat(5)).map(([h, a]) => ({
        ...rec,
        holdings: rec.holdings && [...rec.holdings, ...rec.holdings.slice(0, h)],
        affinities: rec.affinities && [
          ...rec.affinities,
          ...rec.affinities.slice(0, a).map((x) => ({ ...x, score: 1 - x.score })),
        ],
      })),
    );
    fc.assert(
      fc.property(withDuplicates, fc.oneof(fc.constant(-1), fc.nat(600)), (rec, cap) => {
        const profile = profileFromRecord(rec);
        const codec = new ProfileCodec(cap < 0 ? undefined : dictionaryFor(profile, cap));
        expect([...codec.encodeRecord(rec)]).toEqual([...codec.encode(profile)]);
      }),
      { numRuns: 500 },
    );
  });

  it('keeps the first position and the last score of a product listed twice', () => {
    const rec: ProfileRecord = {
      id: 'a',
      holdings: ['p', 'q', 'p'],
      affinities: [
        { product: 'x', score: 0.1 },
        { product: 'y', score: 0.2 },
        { product: 'x', score: 0.9 },
      ],
    };
    for (const dictionary of [SymbolDictionary.EMPTY, SymbolDictionary.from(['y', 'x', 'p'])]) {
      const codec = new ProfileCodec(dictionary);
      const decoded = codec.decode('a', codec.encodeRecord(rec));
      expect([...decoded.holdings]).toEqual(['p', 'q']);
      expect(decoded.affinities.products).toEqual(['x', 'y']);
      expect(decoded.affinities.get('x')).toBeCloseTo(0.9, 4);
    }
  });
});

describe('ProfileCodec.decode of bad bytes', () => {
  it('throws a CodecError for every truncation of a valid encoding', () => {
    for (const profile of demo.slice(0, 5)) {
      const bytes = demoCodec.encode(profile);
      for (let n = 0; n < bytes.length; n++)
        expectCodecError(() => demoCodec.decode('a', bytes.subarray(0, n)));
    }
    fc.assert(
      fc.property(record, (rec) => {
        const codec = new ProfileCodec();
        const bytes = codec.encode(profileFromRecord(rec));
        for (let n = 0; n < bytes.length; n++)
          expectCodecError(() => codec.decode('a', bytes.subarray(0, n)));
      }),
      { numRuns: 30 },
    );
  });

  it('throws a CodecError for an unknown version, trailing bytes or a bad tag', () => {
    const bytes = demoCodec.encode(demo[0]!);
    for (const version of [0, 2, 255]) {
      expectCodecError(() => demoCodec.decode('a', Buffer.from([version, ...bytes.subarray(1)])), /version/);
    }
    expectCodecError(() => demoCodec.decode('a', Buffer.from([...bytes, 0])), /unexpected bytes/);
    // One attribute, key 'k' inline, then tag 9.
    expectCodecError(() => demoCodec.decode('a', Buffer.from([1, 1, 2, 0x6b, 9, 0, 0, 0, 0])), /tag/);
    expectCodecError(() => demoCodec.decode('a', Buffer.from([1, 0, 0, 1, 0, 0])), /consent/);
  });

  it('throws a CodecError for a dictionary index out of range', () => {
    const bytes = demoCodec.encode(demo[0]!);
    expectCodecError(() => new ProfileCodec().decode('a', bytes), /dictionary index/);
  });

  it('throws only CodecErrors on garbage, and terminates', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), fc.boolean(), (garbage, versioned) => {
        if (versioned && garbage.length > 0) garbage[0] = 1;
        try {
          demoCodec.decode('a', garbage);
        } catch (e) {
          expect(e).toBeInstanceOf(CodecError);
        }
      }),
      { numRuns: 2000 },
    );
  });
});

describe('SymbolDictionary and SymbolCounter', () => {
  it('serialises to its list and back', () => {
    const dict = SymbolDictionary.from(['a', 'b', 'c']);
    expect(dict.indexOf('b')).toBe(1);
    expect(dict.indexOf('z')).toBe(-1);
    expect(dict.at(2)).toBe('c');
    expect(dict.at(3)).toBeUndefined();
    expect(JSON.parse(JSON.stringify(dict))).toEqual(['a', 'b', 'c']);
    expect(SymbolDictionary.from(dict.toJSON()).toJSON()).toEqual(['a', 'b', 'c']);
  });

  it('orders a counted dictionary by frequency after the seeds, up to its caps', () => {
    const counter = new SymbolCounter(5, 3);
    counter.addRecord({ id: '1', holdings: ['a'], affinities: [{ product: 'b', score: 1 }] });
    counter.addRecord({ id: '2', holdings: ['b', 'long'], attributes: { k: 'v', l: ['b', 1] } });
    // b 3×, then a, k, v, l once each in order of first sight; 'long' is too long.
    expect(counter.dictionary().toJSON()).toEqual(['b', 'a', 'k', 'v', 'l']);
    expect(counter.dictionary(['v', 'zz', 'v', 'toolong']).toJSON()).toEqual(['v', 'zz', 'b', 'a', 'k']);
  });
});
