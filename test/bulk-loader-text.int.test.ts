// loadPopulation() (raw file chunks, in pieces of any size) into a real redis-server, compared by
// reading the hashes back with what the file's lines say, line by line: profileLines() parses and
// validates them, SymbolCounter learns the dictionary, the codec encodes each record. Under vitest the worker script does not exist
// (TypeScript sources), so `workers` > 0 falls back to encoding on the loader's thread; the
// compiled loader with workers is exercised by `npm run bench:load`.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type ProfileRecord, profileFromRecord } from '../src/domain/profile.js';
import { generatePopulation } from '../src/sim/population.js';
import { normalizePhone } from '../src/store/phone-directory.js';
import { ProfileCodec, SymbolCounter } from '../src/store/profile-codec.js';
import type { BadLine } from '../src/store/profile-file.js';
import { fileChunks, type ParsedLine, profileLines } from '../src/store/profile-lines.js';
import { LoadAbortedError, type LoadResult, loadPopulation } from '../src/store/redis/bulk-loader.js';
import { bucketKey, type PopulationMeta, PopulationVersion } from '../src/store/redis/population-version.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { slotBucketOf } from '../src/store/redis/slot-placement.js';
import { testLog } from './helpers.js';
import { type RedisProcess, startRedis } from './support/redis.js';

let server: RedisProcess;
let redis: RedisConnection;
const dir = mkdtempSync(path.join(tmpdir(), 'offerloop-loader-'));

beforeAll(async () => {
  server = await startRedis();
  redis = await RedisConnection.open(
    { url: server.url, clusterNodes: [], prefix: 'unused', timeoutMs: 5000 },
    testLog,
  );
});
afterAll(async () => {
  redis?.close();
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** Keys of their own for every load: a prefix used once. */
let loads = 0;
const freshKeys = (name: string) => new RedisKeys(`${name}${++loads}`);

function file(name: string, text: string): string {
  const where = path.join(dir, name);
  writeFileSync(where, text);
  return where;
}

const PRODUCTS = Array.from({ length: 30 }, (_, i) => `prod-${String(i + 1).padStart(2, '0')}`);
const records = [...generatePopulation(3000, PRODUCTS, { seed: 5, affinities: 12 })];

/** Generated profiles with what real files have: bad, blank, CRLF and repeated lines, escapes, non-ASCII. */
function mixedLines(): string[] {
  const lines: string[] = [];
  records.forEach((record, i) => {
    let line = JSON.stringify(record);
    if (i % 97 === 5) line = line.replace('"id":"', '"id":"é');
    if (i % 101 === 7) line = line.replace('"region":"', '"region":"\\u0041');
    if (i % 150 === 3) line = line.slice(0, 60);
    if (i % 200 === 9) lines.push('', '  ');
    if (i % 300 === 11) line = JSON.stringify(records[i - 5]);
    if (i % 120 === 13) line += '\r';
    if (i % 80 === 17) line = line.replace('{"product"', '{ "product"');
    lines.push(line);
  });
  return lines;
}

const NDJSON = file('mixed.ndjson', mixedLines().join('\n')); // no line break at the end

async function meta(keys: RedisKeys, version: number): Promise<PopulationMeta> {
  const json = await redis.send<string | null>(keys.versionMeta(version), ['GET', keys.versionMeta(version)]);
  return JSON.parse(json!) as PopulationMeta;
}

/** Every bucket of a version as Redis has it (HGETALL), and the version's dictionary. */
async function population(keys: RedisKeys, version: number) {
  const layout = await meta(keys, version);
  const { dictionary, buckets: count } = layout;
  const replies = await Promise.all(
    Array.from({ length: count }, (_, b) => {
      const key = bucketKey(keys, { ...layout, version }, b);
      return redis.send<Buffer[]>(key, ['HGETALL', key], { buffers: true });
    }),
  );
  const buckets: Record<number, Record<string, string>> = {};
  replies.forEach((flat, b) => {
    if (flat.length === 0) return;
    const hash: Record<string, string> = {};
    for (let i = 0; i < flat.length; i += 2) hash[flat[i]!.toString('utf8')] = flat[i + 1]!.toString('hex');
    buckets[b] = hash;
  });
  return { dictionary, buckets };
}

/** The keys of every population version under a prefix. */
async function versionKeys(keys: RedisKeys): Promise<string[]> {
  return redis.send<string[]>(undefined, ['KEYS', `${keys.prefix}:pop:*`]);
}

const OPTIONS = { buckets: 64, source: 'test', graceMs: 0, maxBadShare: 0.05 };
const strip = ({ version: _v, loadSeconds: _s, ...rest }: LoadResult) => rest;

/** What a load of the file must give, worked out line by line without the loader. */
async function reference(fileName: string, format?: 'ndjson' | 'csv') {
  const parsed: ParsedLine[] = [];
  for await (const line of profileLines(fileName, format)) parsed.push(line);
  const counter = new SymbolCounter();
  for (const line of parsed) if ('record' in line) counter.addRecord(line.record);
  const dictionary = counter.dictionary();
  const codec = new ProfileCodec(dictionary);
  const buckets: Record<number, Record<string, string>> = {};
  const bad: BadLine[] = [];
  let customers = 0;
  for (const line of parsed) {
    if ('error' in line) {
      bad.push({ line: line.line, reason: line.error });
      continue;
    }
    customers++;
    const b = slotBucketOf(line.record.id, OPTIONS.buckets);
    buckets[b] ??= {};
    buckets[b][line.record.id] = codec.encodeRecord(line.record).toString('hex');
  }
  const result = {
    previousVersion: null,
    customers,
    lines: parsed.at(-1)?.line ?? 0,
    badCount: bad.length,
    bad: bad.slice(0, 20),
    carriedOver: 0,
    erased: 0,
    relearned: 0,
    deletedKeys: 0,
  };
  return { result, population: { dictionary: dictionary.toJSON(), buckets } };
}

describe('loadPopulation', () => {
  let mixed: ReturnType<typeof reference>;
  beforeAll(() => {
    mixed = reference(NDJSON);
  });

  it.each([
    [0, 1 << 20],
    [0, 4096],
    [0, 333],
    [2, 7777],
  ])('loads what the lines say, byte for byte (workers %i, chunks of %i bytes)', async (workers, size) => {
    const expected = await mixed;
    const keys = freshKeys('text');
    const result = await loadPopulation(redis, keys, fileChunks(NDJSON, undefined, size), {
      ...OPTIONS,
      workers,
    });
    expect(strip(result)).toEqual(expected.result);
    expect(result.badCount).toBeGreaterThan(10);
    expect(Object.keys(expected.population.buckets)).toHaveLength(OPTIONS.buckets);
    expect(await population(keys, result.version)).toEqual(expected.population);
  });

  it.each([1, 2, 5])(
    'puts lines cut by chunk boundaries together again (chunks of %i bytes)',
    async (size) => {
      const text = `${mixedLines().slice(0, 12).join('\n')}\n\n{"id":"é","holdings":["x"]}\r\n{"id":"z"}`;
      const tiny = file(`tiny-${size}.ndjson`, text);
      const expected = await reference(tiny);
      const keys = freshKeys('text');
      const result = await loadPopulation(redis, keys, fileChunks(tiny, undefined, size), OPTIONS);
      expect(strip(result)).toEqual(expected.result);
      expect(result).toMatchObject({ customers: 11, badCount: 1 });
      expect(await population(keys, result.version)).toEqual(expected.population);
    },
  );

  it('writes profiles that decode to what the lines say, the last of a repeated id winning', async () => {
    // Two buckets of about 150 customers: several full HSETs each, the repeated id in the last one.
    const lines = [...records.slice(0, 300), { ...records[3]!, attributes: { changed: true } }].map((r) =>
      JSON.stringify(r),
    );
    const keys = freshKeys('p');
    const result = await loadPopulation(
      redis,
      keys,
      fileChunks(file('small.ndjson', `${lines.join('\n')}\n`), undefined, 1000),
      { ...OPTIONS, buckets: 2 },
    );
    expect(result).toMatchObject({ customers: 301, lines: 301, badCount: 0 });
    const version = new PopulationVersion(await meta(keys, result.version));
    const expected = new Map<string, ProfileRecord>(
      lines.map((l) => JSON.parse(l) as ProfileRecord).map((r) => [r.id, r]),
    );
    const stored = await population(keys, result.version);
    expect(Object.values(stored.buckets).reduce((n, hash) => n + Object.keys(hash).length, 0)).toBe(
      expected.size,
    );
    for (const [id, record] of expected) {
      const bytes = Buffer.from(stored.buckets[version.bucketOf(id)]![id]!, 'hex');
      const decoded = version.codec.decode(id, bytes);
      const profile = profileFromRecord(record);
      expect(decoded.attributes).toEqual(profile.attributes);
      expect([...decoded.holdings]).toEqual([...profile.holdings]);
      expect(decoded.affinities.products).toEqual(profile.affinities.products);
    }
  });

  it('reads CSV, header and all', async () => {
    const rows = records.slice(0, 400).map((r, i) => {
      const holdings = (r.holdings ?? []).join(';');
      const affinities = (r.affinities ?? []).map((a) => `${a.product}:${a.score}`).join(';');
      const consent = Object.keys(r.consent ?? {}).join(';');
      return i % 50 === 7
        ? `${r.id},,card:x,,`
        : `${r.id},${holdings},${affinities},${consent},${r.attributes?.region ?? ''}`;
    });
    const csv = file('p.csv', `\n \r\nid,holdings,affinities,consent,region\r\n${rows.join('\r\n')}\r\n`);
    const expected = await reference(csv);
    const keys = freshKeys('text');
    const result = await loadPopulation(redis, keys, fileChunks(csv, undefined, 999), {
      ...OPTIONS,
      format: 'csv',
    });
    expect(strip(result)).toEqual(expected.result);
    expect(result.customers).toBe(392);
    expect(await population(keys, result.version)).toEqual(expected.population);
  });

  it('aborts at the line where too many are bad, and leaves nothing of the version behind', async () => {
    const lines = records
      .slice(0, 2000)
      .map((r, i) => (i % 20 === 0 && i > 1000 ? '{"id":' : JSON.stringify(r)));
    const bad = file('bad.ndjson', lines.join('\n'));
    const keys = freshKeys('text');
    const thrown = await loadPopulation(redis, keys, fileChunks(bad, undefined, 10_000), {
      ...OPTIONS,
      maxBadShare: 0.01,
    }).catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(LoadAbortedError);
    expect((thrown as Error).message).toMatch(
      /^13 of 1261 lines are not valid profiles, more than 1%: load aborted, nothing changed \(line 1021: /,
    );
    expect(await versionKeys(keys)).toEqual([]);
  });

  it('fails when Redis refuses an HSET, and leaves nothing of the version behind', async () => {
    const keys = freshKeys('wrongtype');
    // Version 1 of this prefix is the next; a string where one of its buckets goes makes HSET fail.
    const bucket = bucketKey(keys, { version: 1, buckets: OPTIONS.buckets, placement: 'slot' }, 5);
    await redis.send(undefined, ['SET', bucket, 'not a hash']);
    const thrown = await loadPopulation(redis, keys, fileChunks(NDJSON, undefined, 4096), OPTIONS).catch(
      (err: unknown) => err,
    );
    expect(String(thrown)).toMatch(/WRONGTYPE/);
    expect(await versionKeys(keys)).toEqual([]);
  });

  it('writes the phone directory: every number of the file, normalised, to its customer', async () => {
    const withPhones = [...generatePopulation(400, PRODUCTS, { seed: 7, phones: true })];
    const lines = withPhones.map((record, i) => {
      let line = JSON.stringify(record);
      const phone = String(record.attributes?.phone);
      if (i % 7 === 1)
        line = line.replace(
          `"phone":"${phone}"`,
          `"phone":"${phone.slice(0, 2)} (${phone.slice(2, 5)}) ${phone.slice(5)}"`,
        );
      if (i % 11 === 2) line = line.replace(`"phone":"${phone}"`, `"phone" : "\\u002B${phone.slice(1)}"`);
      if (i % 13 === 3) line = line.replace(`"phone":"${phone}"`, '"phone":"unknown"');
      if (i % 17 === 4) line = line.replace(`,"phone":"${phone}"`, '');
      if (i % 19 === 5) line = line.replace('"holdings":[', '"holdings":["phone",');
      return line;
    });
    const fileName = file('phones.ndjson', `${lines.join('\n')}\n`);
    const expected: Record<string, string> = {};
    for await (const line of profileLines(fileName)) {
      if (!('record' in line)) continue;
      const phone = line.record.attributes?.phone;
      const normalised = typeof phone === 'string' ? normalizePhone(phone) : null;
      if (normalised !== null) expected[normalised] = line.record.id;
    }
    expect(Object.keys(expected).length).toBeGreaterThan(300);

    const keys = freshKeys('phones');
    await loadPopulation(redis, keys, fileChunks(fileName), OPTIONS);
    const buckets = await redis.send<string[]>(undefined, ['KEYS', `${keys.prefix}:phone:*`]);
    const written: Record<string, string> = {};
    for (const key of buckets) {
      const flat = await redis.send<string[]>(key, ['HGETALL', key]);
      for (let i = 0; i < flat.length; i += 2) written[flat[i]!] = flat[i + 1]!;
    }
    expect(written).toEqual(expected);
  });

  it('loads an empty file as an empty population', async () => {
    const keys = freshKeys('e');
    const result = await loadPopulation(redis, keys, fileChunks(file('empty.ndjson', '\n\n')), OPTIONS);
    expect(result).toMatchObject({ customers: 0, lines: 0, badCount: 0 });
    expect(await population(keys, result.version)).toEqual({ dictionary: expect.any(Array), buckets: {} });
  });
});
