import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runLoad } from '../src/cli/load-command.js';
import type { ProfileRecord } from '../src/domain/profile.js';
import { LoadAbortedError, loadPopulation } from '../src/store/redis/bulk-loader.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { testLog } from './helpers.js';
import {
  auth,
  loadRecords,
  ndjson,
  type OfferloopNode,
  type RedisTarget,
  redisTarget,
  startNode,
  toAsync,
} from './support/offerloop-node.js';
import { type RedisProcess, startRedis, startRedisCluster } from './support/redis.js';

let redis: RedisProcess;
let dir: string;

beforeAll(async () => {
  redis = await startRedis();
  dir = await mkdtemp(path.join(tmpdir(), 'offerloop-load-'));
});
afterAll(async () => {
  await redis?.stop();
  await rm(dir, { recursive: true, force: true });
});

const customer = (i: number, generation: number): ProfileRecord => ({
  id: `c${i}`,
  attributes: { generation, age: 20 + (i % 50) },
  holdings: ['current-account'],
  affinities: [{ product: 'card-gold', score: (i % 100) / 100 }],
});

function memoryIo() {
  const out = { stdout: '', stderr: '' };
  return {
    out,
    io: {
      stdout: {
        write: (s: string) => {
          out.stdout += s;
          return true;
        },
      },
      stderr: {
        write: (s: string) => {
          out.stderr += s;
          return true;
        },
      },
    },
  };
}

describe('offerloop load', () => {
  it('loads NDJSON and CSV, reporting bad lines with their numbers', async () => {
    const target = redisTarget({ url: redis.url });
    const ndjson = path.join(dir, 'profiles.ndjson');
    const lines = Array.from({ length: 300 }, (_, i) => JSON.stringify(customer(i, 1)));
    lines[41] = '{"id": "broken"';
    lines[99] = JSON.stringify({ id: 'x', affinities: [{ product: 'p', score: 7 }] });
    await writeFile(ndjson, `${lines.join('\n')}\n`);
    const { io, out } = memoryIo();
    const code = await runLoad(
      ['--redis', redis.url, '--prefix', target.config.prefix, '--grace', '0s', ndjson],
      io,
    );
    expect(code).toBe(0);
    const result = JSON.parse(out.stdout);
    expect(result).toMatchObject({ customers: 298, lines: 300, badCount: 2 });
    expect(result.bad.map((b: { line: number }) => b.line)).toEqual([42, 100]);
    expect(out.stderr).toMatch(/line 100: \/affinities\/0\/score must be <= 1/);

    const csv = path.join(dir, 'profiles.csv');
    await writeFile(
      csv,
      'id,age,holdings,affinities,consent\nc1,33,savings;card-gold,mortgage:0.8,web;email\n',
    );
    const second = memoryIo();
    expect(
      await runLoad(
        ['--redis', redis.url, '--prefix', target.config.prefix, '--grace', '0s', csv],
        second.io,
      ),
    ).toBe(0);
    const node = await startNode(target);
    try {
      const dossier = (await node.app.inject({ url: '/v1/customers/c1', headers: auth('agent-key') })).json();
      expect(dossier).toMatchObject({
        attributes: { age: 33 },
        holdings: ['savings', 'card-gold'],
        consent: { web: true, email: true },
        affinities: [{ product: 'mortgage', score: expect.closeTo(0.8, 4) }],
      });
      // The CSV load replaced the whole population: the NDJSON customers are gone.
      expect(
        (await node.app.inject({ url: '/v1/customers/c2', headers: auth('agent-key') })).statusCode,
      ).toBe(404);
    } finally {
      await node.close();
    }
  });

  it('loads into a Redis Cluster with --cluster', async () => {
    const cluster = await startRedisCluster();
    try {
      const target = redisTarget({ nodes: cluster.nodes });
      const file = path.join(dir, 'cluster.ndjson');
      await writeFile(
        file,
        `${Array.from({ length: 500 }, (_, i) => JSON.stringify(customer(i, 7))).join('\n')}\n`,
      );
      const { io, out } = memoryIo();
      const args = [
        '--cluster',
        cluster.nodes.join(','),
        '--prefix',
        target.config.prefix,
        '--grace',
        '0s',
        file,
      ];
      expect(await runLoad(args, io)).toBe(0);
      expect(JSON.parse(out.stdout)).toMatchObject({ customers: 500, badCount: 0 });
      const node = await startNode(target);
      try {
        for (const id of ['c0', 'c250', 'c499']) {
          const res = await node.app.inject({ url: `/v1/customers/${id}`, headers: auth('agent-key') });
          expect(res.json().attributes.generation).toBe(7);
        }
      } finally {
        await node.close();
      }
    } finally {
      await cluster.stop();
    }
  });

  it('says what is wrong with the command line', async () => {
    const { io, out } = memoryIo();
    expect(await runLoad(['--redis', redis.url], io)).toBe(2);
    expect(out.stderr).toMatch(/exactly one FILE/);
    const missing = memoryIo();
    expect(await runLoad(['--redis', redis.url, path.join(dir, 'nope.ndjson')], missing.io)).toBe(1);
    expect(missing.out.stderr).toMatch(/ENOENT/);
  });
});

describe('a population load', () => {
  let target: RedisTarget;
  let node: OfferloopNode;
  let connection: RedisConnection;

  beforeAll(async () => {
    target = redisTarget({ url: redis.url });
    await loadRecords(
      target,
      Array.from({ length: 50 }, (_, i) => customer(i, 1)),
    );
    node = await startNode(target);
    connection = await RedisConnection.open({ ...target.config, timeoutMs: 5000 }, testLog);
  });
  afterAll(async () => {
    connection?.close();
    await node?.close();
  });

  const dossier = (id: string) => node.app.inject({ url: `/v1/customers/${id}`, headers: auth('agent-key') });

  it('aborts on too many bad lines, leaving the population served untouched and no keys behind', async () => {
    const keysBefore = await connection.send<string[]>(undefined, ['KEYS', `${target.config.prefix}:pop:*`]);
    const mostlyBad = Array.from({ length: 100 }, (_, i) =>
      (i + 1) % 3 === 0 ? JSON.stringify(customer(i + 1, 2)) : 'not JSON',
    );
    await expect(
      loadPopulation(connection, new RedisKeys(target.config.prefix), toAsync(ndjson(mostlyBad)), {
        buckets: 4,
        source: 'bad',
        graceMs: 0,
      }),
    ).rejects.toThrow(LoadAbortedError);
    expect((await dossier('c7')).json().attributes.generation).toBe(1);
    const keysAfter = await connection.send<string[]>(undefined, ['KEYS', `${target.config.prefix}:pop:*`]);
    expect([...keysAfter].sort()).toEqual([...keysBefore].sort());
  });

  it('carries changes made through the API during the load into the new version', async () => {
    let release!: () => void;
    const paused = new Promise<void>((resolve) => {
      release = resolve;
    });
    let halfway!: () => void;
    const reachedHalfway = new Promise<void>((resolve) => {
      halfway = resolve;
    });
    async function* slowFile(): AsyncGenerator<Uint8Array> {
      const [first, second] = ndjson(
        Array.from({ length: 50 }, (_, i) => JSON.stringify(customer(i, 2))),
        25,
      );
      yield first!;
      halfway();
      await paused;
      yield second!;
    }
    const load = loadPopulation(connection, new RedisKeys(target.config.prefix), slowFile(), {
      buckets: 4,
      source: 'slow',
      graceMs: 100,
    });
    await reachedHalfway;
    // The file was exported before these changes; they must survive the flip.
    const patch = await node.app.inject({
      method: 'PATCH',
      url: '/v1/customers/c3',
      headers: auth('admin-key'),
      payload: { holdings: { add: ['mortgage'] } },
    });
    expect(patch.statusCode).toBe(200);
    const erase = await node.app.inject({
      method: 'DELETE',
      url: '/v1/customers/c40',
      headers: auth('admin-key'),
    });
    expect(erase.json()).toEqual({ erased: true });
    release();
    const result = await load;
    expect(result.carriedOver).toBeGreaterThanOrEqual(2);
    const c3 = (await dossier('c3')).json();
    expect(c3.attributes.generation).toBe(1); // the API's version of c3 wins over the file's
    expect(c3.holdings).toEqual(['current-account', 'mortgage']);
    expect((await dossier('c41')).json().attributes.generation).toBe(2);
    expect((await dossier('c40')).statusCode).toBe(404);
  });

  it('keeps to a maximum rate when asked, to spare a Redis that serves traffic', async () => {
    const lines = Array.from({ length: 5000 }, (_, i) => JSON.stringify(customer(i, 4)));
    const result = await loadPopulation(
      connection,
      new RedisKeys(target.config.prefix),
      toAsync(ndjson(lines, 500)),
      {
        buckets: 8,
        source: 'paced',
        graceMs: 0,
        maxRate: 10_000,
      },
    );
    // c40, erased by the test before, stays out of every later load (its tombstone, ADR 0009).
    expect([result.customers, result.erased]).toEqual([4999, 1]);
    // 5,000 customers at 10,000/s, checked after every chunk of 500: at least 0.45 s of pauses.
    expect(result.loadSeconds).toBeGreaterThanOrEqual(0.35);
  });

  it('does not wait the grace period on a first load: no server reads an older version', async () => {
    // A prefix of its own, so that there is no current version. With the grace period owed, this
    // would outlast the test's timeout by far.
    const result = await loadPopulation(
      connection,
      new RedisKeys(`${target.config.prefix}-first`),
      toAsync(ndjson([JSON.stringify(customer(1, 1))])),
      { buckets: 1, source: 'first', graceMs: 600_000 },
    );
    expect(result).toMatchObject({ previousVersion: null, customers: 1, carriedOver: 0 });
  }, 10_000);

  it('refuses a second load while one is running', async () => {
    let release!: () => void;
    const paused = new Promise<void>((resolve) => {
      release = resolve;
    });
    async function* waiting(): AsyncGenerator<Uint8Array> {
      await paused;
      yield* ndjson([JSON.stringify(customer(1, 3))]);
    }
    const keys = new RedisKeys(target.config.prefix);
    const first = loadPopulation(connection, keys, waiting(), { buckets: 1, source: 'first', graceMs: 0 });
    await new Promise((r) => setTimeout(r, 100));
    await expect(
      loadPopulation(connection, keys, waiting(), { buckets: 1, source: 'second', graceMs: 0 }),
    ).rejects.toThrow(/another load \(version \d+\) is in progress/);
    release();
    await first;
  });
});
