// The bulk loader against an in-memory stand-in for Redis (real Redis: the integration tests).
// Under vitest the worker script does not exist (TypeScript sources), so `workers` > 0 falls back
// to encoding on the loader's thread; the compiled loader with workers is exercised by
// `npm run bench:load`.

import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { type ProfileRecord, profileFromRecord } from '../../domain/profile.js';
import { generatePopulation } from '../../sim/population.js';
import { fileChunks, profileLines } from '../profile-lines.js';
import { LoadAbortedError, type LoadResult, loadPopulation, loadPopulationText } from './bulk-loader.js';
import { type PopulationMeta, PopulationVersion } from './population-version.js';
import type { RedisArg, RedisConnection, RedisReply } from './redis-connection.js';
import { RedisKeys } from './redis-keys.js';

/** Just the commands the loader sends, in memory. */
class FakeRedis {
  readonly strings = new Map<string, string>();
  readonly hashes = new Map<string, Map<string, Buffer>>();
  readonly nodeUrl = null;

  send<T extends RedisReply>(
    _key: string | undefined,
    args: RedisArg[],
    options: { buffers?: boolean } = {},
  ): Promise<T> {
    return Promise.resolve(this.run(args, options.buffers ?? false) as T);
  }

  publish(): Promise<number> {
    return Promise.resolve(0);
  }

  eachMaster<T>(fn: (send: (args: RedisArg[]) => Promise<RedisReply>) => Promise<T>): Promise<T[]> {
    return Promise.all([fn((args) => this.send(undefined, args))]);
  }

  keys(): string[] {
    return [...this.strings.keys(), ...this.hashes.keys()];
  }

  private run(args: RedisArg[], buffers: boolean): RedisReply {
    const text = (i: number) => String(args[i]);
    const key = text(1);
    switch (text(0)) {
      case 'INCR': {
        const n = Number(this.strings.get(key) ?? 0) + 1;
        this.strings.set(key, String(n));
        return n;
      }
      case 'SET':
        if (args.includes('NX') && this.strings.has(key)) return null;
        this.strings.set(key, text(2));
        return 'OK';
      case 'GET':
        return this.strings.get(key) ?? null;
      case 'PEXPIRE':
        return 1;
      case 'DEL':
      case 'UNLINK':
        return Number(this.strings.delete(key)) + Number(this.hashes.delete(key));
      case 'SMEMBERS':
        return [];
      case 'HSET': {
        const hash = this.hashes.get(key) ?? new Map<string, Buffer>();
        this.hashes.set(key, hash);
        for (let i = 2; i < args.length; i += 2) {
          const value = args[i + 1]!;
          hash.set(String(args[i]), Buffer.isBuffer(value) ? Buffer.from(value) : Buffer.from(value));
        }
        return (args.length - 2) / 2;
      }
      case 'HGET': {
        const value = this.hashes.get(key)?.get(text(2));
        return value === undefined ? null : buffers ? value : value.toString();
      }
      case 'SCAN': {
        const prefix = text(3).slice(0, -1);
        return ['0', this.keys().filter((k) => k.startsWith(prefix))];
      }
      default:
        throw new Error(`fake Redis: no ${text(0)}`);
    }
  }
}

const dir = mkdtempSync(path.join(tmpdir(), 'offerloop-loader-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

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

/** Every bucket's content, and the version's meta. */
function population(redis: FakeRedis, prefix: string, version: number) {
  const meta = JSON.parse(redis.strings.get(`${prefix}:pop:{${version}}:meta`)!) as PopulationMeta;
  const buckets: Record<string, Record<string, string>> = {};
  for (const [key, hash] of redis.hashes) {
    if (!key.startsWith(`${prefix}:pop:${version}:b:`)) continue;
    buckets[key.slice(prefix.length)] = Object.fromEntries(
      [...hash].map(([id, v]) => [id, v.toString('hex')]),
    );
  }
  return { dictionary: meta.dictionary, buckets };
}

const OPTIONS = { buckets: 64, source: 'test', graceMs: 0, maxBadShare: 0.05 };
const strip = ({ version: _v, ...rest }: LoadResult) => rest;

async function reference(redis: FakeRedis, fileName: string, format?: 'ndjson' | 'csv') {
  const result = await loadPopulation(
    redis as unknown as RedisConnection,
    new RedisKeys('ref'),
    profileLines(fileName, format),
    OPTIONS,
  );
  return { result, population: population(redis, 'ref', result.version) };
}

describe('loadPopulationText', () => {
  it.each([
    [0, 1 << 20],
    [0, 4096],
    [0, 333],
    [2, 7777],
  ])(
    'loads what loadPopulation loads, byte for byte (workers %i, chunks of %i bytes)',
    async (workers, size) => {
      const redis = new FakeRedis();
      const expected = await reference(redis, NDJSON);
      const result = await loadPopulationText(
        redis as unknown as RedisConnection,
        new RedisKeys('text'),
        fileChunks(NDJSON, undefined, size),
        { ...OPTIONS, workers },
      );
      expect(strip(result)).toEqual(strip(expected.result));
      expect(result.badCount).toBeGreaterThan(10);
      expect(population(redis, 'text', result.version)).toEqual(expected.population);
    },
  );

  it.each([1, 2, 5])(
    'puts lines cut by chunk boundaries together again (chunks of %i bytes)',
    async (size) => {
      const text = `${mixedLines().slice(0, 12).join('\n')}\n\n{"id":"é","holdings":["x"]}\r\n{"id":"z"}`;
      const tiny = file(`tiny-${size}.ndjson`, text);
      const redis = new FakeRedis();
      const expected = await reference(redis, tiny);
      const result = await loadPopulationText(
        redis as unknown as RedisConnection,
        new RedisKeys('text'),
        fileChunks(tiny, undefined, size),
        OPTIONS,
      );
      expect(strip(result)).toEqual(strip(expected.result));
      expect(result).toMatchObject({ customers: 11, badCount: 1 });
      expect(population(redis, 'text', result.version)).toEqual(expected.population);
    },
  );

  it('writes profiles that decode to what the lines say, the last of a repeated id winning', async () => {
    const redis = new FakeRedis();
    const lines = [...records.slice(0, 50), { ...records[3]!, attributes: { changed: true } }].map((r) =>
      JSON.stringify(r),
    );
    const result = await loadPopulationText(
      redis as unknown as RedisConnection,
      new RedisKeys('p'),
      fileChunks(file('small.ndjson', `${lines.join('\n')}\n`), undefined, 1000),
      OPTIONS,
    );
    expect(result).toMatchObject({ customers: 51, lines: 51, badCount: 0 });
    const meta = JSON.parse(redis.strings.get(`p:pop:{${result.version}}:meta`)!) as PopulationMeta;
    const version = new PopulationVersion(meta);
    const expected = new Map<string, ProfileRecord>(
      lines.map((l) => JSON.parse(l) as ProfileRecord).map((r) => [r.id, r]),
    );
    for (const [id, record] of expected) {
      const bytes = redis.hashes.get(`p:pop:${result.version}:b:${version.bucketOf(id)}`)!.get(id)!;
      const decoded = version.codec.decode(id, bytes);
      const profile = profileFromRecord(record);
      expect(decoded.attributes).toEqual(profile.attributes);
      expect([...decoded.holdings]).toEqual([...profile.holdings]);
      expect(decoded.affinities.products).toEqual(profile.affinities.products);
    }
  });

  it('reads CSV, header and all, as loadPopulation does', async () => {
    const rows = records.slice(0, 400).map((r, i) => {
      const holdings = (r.holdings ?? []).join(';');
      const affinities = (r.affinities ?? []).map((a) => `${a.product}:${a.score}`).join(';');
      const consent = Object.keys(r.consent ?? {}).join(';');
      return i % 50 === 7
        ? `${r.id},,card:x,,`
        : `${r.id},${holdings},${affinities},${consent},${r.attributes?.region ?? ''}`;
    });
    const csv = file('p.csv', `\n \r\nid,holdings,affinities,consent,region\r\n${rows.join('\r\n')}\r\n`);
    const redis = new FakeRedis();
    const expected = await reference(redis, csv);
    const result = await loadPopulationText(
      redis as unknown as RedisConnection,
      new RedisKeys('text'),
      fileChunks(csv, undefined, 999),
      { ...OPTIONS, format: 'csv' },
    );
    expect(strip(result)).toEqual(strip(expected.result));
    expect(result.customers).toBe(392);
    expect(population(redis, 'text', result.version)).toEqual(expected.population);
  });

  it('aborts where loadPopulation aborts, and leaves nothing of the version behind', async () => {
    const lines = records
      .slice(0, 2000)
      .map((r, i) => (i % 20 === 0 && i > 1000 ? '{"id":' : JSON.stringify(r)));
    const bad = file('bad.ndjson', lines.join('\n'));
    const redis = new FakeRedis();
    const message = await loadPopulation(
      redis as unknown as RedisConnection,
      new RedisKeys('ref'),
      profileLines(bad),
      { ...OPTIONS, maxBadShare: 0.01 },
    ).catch((err: Error) => err.message);
    expect(message).toMatch(/^13 of 1261 lines are not valid profiles, more than 1%: load aborted/);
    const thrown = await loadPopulationText(
      redis as unknown as RedisConnection,
      new RedisKeys('text'),
      fileChunks(bad, undefined, 10_000),
      { ...OPTIONS, maxBadShare: 0.01 },
    ).catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(LoadAbortedError);
    expect((thrown as Error).message).toBe(message);
    expect(redis.keys().filter((k) => k.includes(':pop:'))).toEqual([]);
  });

  it('loads an empty file as an empty population', async () => {
    const redis = new FakeRedis();
    const result = await loadPopulationText(
      redis as unknown as RedisConnection,
      new RedisKeys('e'),
      fileChunks(file('empty.ndjson', '\n\n')),
      OPTIONS,
    );
    expect(result).toMatchObject({ customers: 0, lines: 0, badCount: 0 });
  });
});
