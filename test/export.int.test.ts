import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseTime, runExport } from '../src/cli/export-command.js';
import type { DecisionLogEntry, FeedbackEvent } from '../src/feedback/feedback-event.js';
import { RedisConnection } from '../src/store/redis/redis-connection.js';
import { RedisKeys } from '../src/store/redis/redis-keys.js';
import { testLog } from './helpers.js';
import { type RedisProcess, startRedis } from './support/redis.js';

let server: RedisProcess;
let redis: RedisConnection;
let dir: string;
const prefix = `export-test-${process.pid}`;
const keys = new RedisKeys(prefix);

const T0 = 1_700_000_000_000;
const SINCE = T0 + 1_000;
const UNTIL = T0 + 100_000;
/** Shard 1 holds this many entries inside the range: more than one XRANGE page (1000). */
const MANY = 1500;

const decision = (decisionId: string, at: number): DecisionLogEntry => ({
  decisionId,
  customerId: 'c1',
  channel: 'web',
  placement: 'home',
  rulesetVersion: 'r1',
  at,
  offers: [
    { offerId: 'o1', campaignId: 'camp', segmentId: 'seg', score: 0.5, propensity: 0.2, probability: 1 },
  ],
  heldOut: [],
});

const event = (eventId: string, at: number): FeedbackEvent => ({
  eventId,
  decisionId: 'd-since',
  offerId: 'o1',
  customerId: 'c1',
  type: 'click',
  value: null,
  at,
});

const iso = (ms: number) => new Date(ms).toISOString();

async function xadd(shard: number, id: string, fields: Record<string, string>): Promise<void> {
  const key = keys.feedbackLog(shard);
  await redis.send(key, ['XADD', key, id, ...Object.entries(fields).flat()]);
}

function memoryIo(isTTY = false, onWrite: () => void = () => {}) {
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
        isTTY,
        write: (s: string) => {
          onWrite();
          out.stderr += s;
          return true;
        },
      },
    },
  };
}

async function readLines(file: string): Promise<Record<string, unknown>[]> {
  const text = await readFile(file, 'utf8');
  expect(text.endsWith('\n')).toBe(true);
  return text
    .slice(0, -1)
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown>);
}

/** Shard 1's entries inside the range: three per millisecond, so a page ends mid-millisecond. */
const shard1Ids = Array.from({ length: MANY }, (_, i) => `${SINCE + Math.floor(i / 3)}-${i % 3}`);

beforeAll(async () => {
  server = await startRedis();
  dir = await mkdtemp(path.join(tmpdir(), 'offerloop-export-'));
  redis = await RedisConnection.open({ url: server.url, clusterNodes: [], prefix, timeoutMs: 5000 }, testLog);
  // Shard 0: one entry of each kind, at and around both ends of the range.
  await xadd(0, `${T0}-0`, { t: 'd', e: JSON.stringify(decision('d-before', T0)) });
  await xadd(0, `${SINCE}-0`, { t: 'd', e: JSON.stringify(decision('d-since', SINCE - 3)) });
  await xadd(0, `${SINCE + 5}-0`, {
    t: 'f',
    e: JSON.stringify(event('ev-1', SINCE + 4)),
    x: 'web|s|camp|seg',
  });
  await xadd(0, `${SINCE + 5}-1`, {
    t: 'f',
    e: JSON.stringify({ ...event('ev-2', SINCE + 5), type: 'convert', value: 12.5 }),
    x: 'email|h|camp2|',
  });
  await xadd(0, `${SINCE + 10}-0`, { t: 'd', e: '{not json' });
  await xadd(0, `${UNTIL}-7`, { t: 'd', e: JSON.stringify(decision('d-until', UNTIL)) });
  await xadd(0, `${UNTIL + 1}-0`, { t: 'd', e: JSON.stringify(decision('d-after', UNTIL + 1)) });
  // Shard 1: one before, MANY inside, one after.
  await xadd(1, `${SINCE - 1}-5`, { t: 'd', e: JSON.stringify(decision('d1-before', SINCE - 1)) });
  await Promise.all(
    shard1Ids.map((id, i) =>
      xadd(1, id, { t: 'd', e: JSON.stringify(decision(`d1-${i}`, Number.parseInt(id, 10))) }),
    ),
  );
  await xadd(1, `${UNTIL + 1}-0`, { t: 'd', e: JSON.stringify(decision('d1-after', UNTIL + 1)) });
});

afterAll(async () => {
  redis?.close();
  await server?.stop();
  await rm(dir, { recursive: true, force: true });
});

const base = () => ['--redis', server.url, '--prefix', prefix];

describe('offerloop export', () => {
  it('writes every entry of every shard inside the range, in stream order, and renames FILE.tmp at the end', async () => {
    const out = path.join(dir, 'range.ndjson');
    const tmp = `${out}.tmp`;
    // A terminal gets a progress line after the first page: look at the files at that moment.
    const seen: { out: boolean; tmp: boolean }[] = [];
    const { io, out: output } = memoryIo(true, () =>
      seen.push({ out: existsSync(out), tmp: existsSync(tmp) }),
    );
    const args = [...base(), '--shards', '2', '--since', String(SINCE), '--until', iso(UNTIL), '--out', out];
    expect(await runExport(args, io, {})).toBe(0);

    expect(seen[0]).toEqual({ out: false, tmp: true });
    expect(existsSync(tmp)).toBe(false);
    const text = await readFile(out, 'utf8');
    // Key order is part of the format the warehouse reads.
    expect(text.split('\n')[0]).toBe(
      JSON.stringify({
        id: `${SINCE}-0`,
        shard: 0,
        kind: 'decision',
        time: iso(SINCE - 3),
        decision: decision('d-since', SINCE - 3),
      }),
    );
    const lines = await readLines(out);
    expect(lines).toHaveLength(5 + MANY);
    expect(lines.slice(0, 5)).toEqual([
      {
        id: `${SINCE}-0`,
        shard: 0,
        kind: 'decision',
        time: iso(SINCE - 3),
        decision: decision('d-since', SINCE - 3),
      },
      {
        id: `${SINCE + 5}-0`,
        shard: 0,
        kind: 'feedback',
        time: iso(SINCE + 4),
        event: event('ev-1', SINCE + 4),
        attribution: { channel: 'web', heldOut: false, campaignId: 'camp', segmentId: 'seg' },
      },
      {
        id: `${SINCE + 5}-1`,
        shard: 0,
        kind: 'feedback',
        time: iso(SINCE + 5),
        event: { ...event('ev-2', SINCE + 5), type: 'convert', value: 12.5 },
        attribution: { channel: 'email', heldOut: true, campaignId: 'camp2', segmentId: null },
      },
      {
        id: `${SINCE + 10}-0`,
        shard: 0,
        kind: 'malformed',
        reason: 'entry e field is not JSON',
        fields: { t: 'd', e: '{not json' },
      },
      {
        id: `${UNTIL}-7`,
        shard: 0,
        kind: 'decision',
        time: iso(UNTIL),
        decision: decision('d-until', UNTIL),
      },
    ]);
    const shard1 = lines.slice(5);
    expect(shard1.every((l) => l.shard === 1 && l.kind === 'decision')).toBe(true);
    // Paging neither skips nor repeats an entry, also when a page ends inside a millisecond.
    expect(shard1.map((l) => l.id)).toEqual(shard1Ids);
    expect(shard1.map((l) => (l.decision as DecisionLogEntry).decisionId)).toEqual(
      shard1Ids.map((_, i) => `d1-${i}`),
    );
    expect(shard1[1000]).toEqual({
      id: shard1Ids[1000],
      shard: 1,
      kind: 'decision',
      time: iso(SINCE + 333),
      decision: decision('d1-1000', SINCE + 333),
    });

    expect(output.stderr).toMatch(
      new RegExp(
        `export: 1,502 decisions, 2 feedback, 0 outcomes, 1 malformed from 2 shards to ${out} in \\d+\\.\\d s`,
      ),
    );
    expect(output.stderr).toMatch(
      `export: 1 entries did not decode and are written as kind "malformed"; first: shard 0 id ${SINCE + 10}-0: entry e field is not JSON`,
    );
    expect(output.stdout).toBe('');
  });

  it('reads to the end of each stream without --until, and only the shards asked for', async () => {
    const out = path.join(dir, 'open.ndjson');
    const { io, out: output } = memoryIo();
    const args = [...base(), '--since', iso(SINCE).slice(0, 10), '--out', out];
    // --since 2023-11-14 (midnight) includes the entry before SINCE; shard 1 is left out (one shard).
    expect(await runExport(args, io, {})).toBe(0);
    const lines = await readLines(out);
    expect(lines.map((l) => l.id)).toEqual([
      `${T0}-0`,
      `${SINCE}-0`,
      `${SINCE + 5}-0`,
      `${SINCE + 5}-1`,
      `${SINCE + 10}-0`,
      `${UNTIL}-7`,
      `${UNTIL + 1}-0`,
    ]);
    expect(output.stderr).toMatch(
      /export: 4 decisions, 2 feedback, 0 outcomes, 1 malformed from 1 shard to /,
    );
    // Shard 1 exists but was not asked for: exporting it silently would be missing data.
    expect(output.stderr).toMatch(`warning: ${keys.feedbackLog(1)} exists but was not exported`);
  });

  it('takes the shard count from FEEDBACK_SHARDS and writes an empty file for an empty range', async () => {
    const out = path.join(dir, 'empty.ndjson');
    const { io, out: output } = memoryIo();
    const args = [...base(), '--since', String(UNTIL + 2), '--out', out];
    expect(await runExport(args, io, { FEEDBACK_SHARDS: '2' })).toBe(0);
    expect(await readFile(out, 'utf8')).toBe('');
    expect(output.stderr).toMatch(/0 decisions, 0 feedback, 0 outcomes, 0 malformed from 2 shards/);
    expect(output.stderr).not.toMatch(/warning/);
  });

  it('returns 2 with a clear message on usage errors, writing nothing', async () => {
    const out = path.join(dir, 'usage.ndjson');
    const cases: [string[], RegExp][] = [
      [[...base(), '--since', '2026-11-01'], /--out is required/],
      [[...base(), '--out', out], /--since is required/],
      [
        [...base(), '--since', 'yesterday', '--out', out],
        /--since must be an ISO 8601 date .* got 'yesterday'/,
      ],
      [[...base(), '--since', '2026-02-30', '--out', out], /--since must be an ISO 8601 date/],
      [[...base(), '--since', '2026-11-01', '--until', '2026-13-01', '--out', out], /--until must be/],
      [
        [...base(), '--since', '2026-11-02', '--until', '2026-11-01', '--out', out],
        /--until is before --since/,
      ],
      [[...base(), '--since', '2026-11-01', '--shards', '0', '--out', out], /--shards must be at least 1/],
      [['--redis', server.url, '--cluster', server.url, '--since', '0', '--out', out], /not both/],
      [[...base(), '--since', '0', '--out', out, 'extra'], /unexpected argument 'extra'/],
    ];
    for (const [args, message] of cases) {
      const { io, out: output } = memoryIo();
      expect(await runExport(args, io, {}), args.join(' ')).toBe(2);
      expect(output.stderr).toMatch(message);
      expect(output.stderr).toMatch(/Usage: offerloop export/);
    }
    const { io } = memoryIo();
    expect(await runExport([...base(), '--since', '0', '--out', out], io, { FEEDBACK_SHARDS: 'x' })).toBe(2);
    expect(existsSync(out) || existsSync(`${out}.tmp`)).toBe(false);
  });

  it('returns 1 on a Redis error, leaving an existing FILE as it was and no FILE.tmp', async () => {
    const out = path.join(dir, 'kept.ndjson');
    await writeFile(out, 'previous export\n');
    const wrong = `${prefix}-wrongtype`;
    const key = new RedisKeys(wrong).feedbackLog(0);
    await redis.send(key, ['SET', key, 'not a stream']);
    const { io, out: output } = memoryIo();
    const args = ['--redis', server.url, '--prefix', wrong, '--since', '0', '--out', out];
    expect(await runExport(args, io, {})).toBe(1);
    expect(output.stderr).toMatch(`offerloop export: failed: reading ${key}: WRONGTYPE`);
    expect(output.stderr).not.toMatch(/\n\s+at /);
    expect(await readFile(out, 'utf8')).toBe('previous export\n');
    expect(existsSync(`${out}.tmp`)).toBe(false);
  });

  it('returns 1 with a clear message when Redis is unreachable', async () => {
    const out = path.join(dir, 'unreachable.ndjson');
    const { io, out: output } = memoryIo();
    expect(await runExport(['--redis', 'redis://127.0.0.1:1', '--since', '0', '--out', out], io, {})).toBe(1);
    expect(output.stderr).toMatch(
      /offerloop export: failed: cannot connect to Redis at redis:\/\/127\.0\.0\.1:1/,
    );
    expect(output.stderr).not.toMatch(/\n\s+at /);
    expect(existsSync(out) || existsSync(`${out}.tmp`)).toBe(false);
  });

  it('returns 1 when FILE cannot be written', async () => {
    const out = path.join(dir, 'no-such-dir', 'x.ndjson');
    const { io, out: output } = memoryIo();
    expect(await runExport([...base(), '--since', '0', '--out', out], io, {})).toBe(1);
    expect(output.stderr).toMatch(`failed: cannot write ${out}.tmp: ENOENT`);
  });
});

describe('export TIME', () => {
  it('reads ISO dates and date-times (UTC unless an offset is given) and epoch milliseconds', () => {
    expect(parseTime('since', '2026-11-01')).toBe(Date.UTC(2026, 10, 1));
    expect(parseTime('since', '2026-11-01T10:00:00Z')).toBe(Date.UTC(2026, 10, 1, 10));
    expect(parseTime('since', '2026-11-01T10:00')).toBe(Date.UTC(2026, 10, 1, 10));
    expect(parseTime('since', '2026-11-01T10:00:00.250+02:00')).toBe(Date.UTC(2026, 10, 1, 8, 0, 0, 250));
    expect(parseTime('since', '1700000000000')).toBe(1_700_000_000_000);
    for (const bad of [
      '',
      'now',
      '2026-11-1',
      '2026-02-29',
      '2026-11-01T24:00',
      '2026-11-01 10:00',
      '-5',
      '1e12',
    ])
      expect(() => parseTime('since', bad), bad).toThrow(/--since must be/);
  });
});
