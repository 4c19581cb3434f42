import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runWhatIf } from '../src/cli/what-if-command.js';
import { inSample } from '../src/evaluation/what-if.js';
import type { WhatIfStatus } from '../src/service/what-if-service.js';
import { generatePopulation } from '../src/sim/population.js';
import { FIXTURE_RULES } from './helpers.js';
import { type RedisProcess, redisCommand, startRedis } from './support/redis.js';

// `offerloop what-if`: the real CLI process, on a profiles file and on Redis.

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'bin/offerloop');

interface Ran {
  code: number;
  stdout: string;
  stderr: string;
}

async function offerloop(args: string[]): Promise<Ran> {
  try {
    const { stdout, stderr } = await run(bin, args, { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return err as Ran;
  }
}

const FILES = ['campaigns.yaml', 'offers.yaml', 'policies.yaml', 'segments.yaml'];
const PRODUCTS = ['card-gold', 'card-platinum', 'travel-ins', 'loyalty', 'savings'];
const RECORDS = [...generatePopulation(2000, PRODUCTS, { seed: 'what-if-cli', affinities: 4 })].map((r) => ({
  ...r,
  consent: { ...r.consent, web: true },
}));
const SAMPLED = RECORDS.filter((r) => inSample(r.id, 0.5)).length;
const AT = '2026-11-22T12:00:00Z';

let dir: string;
let candidate: string;
let profiles: string;
const common = () => [
  'what-if',
  '--candidate',
  candidate,
  '--rules',
  FIXTURE_RULES,
  '--channel',
  'web',
  '--volume',
  '1000',
  '--at',
  AT,
];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'offerloop-what-if-cli-'));
  candidate = path.join(dir, 'smaller-budget');
  await mkdir(candidate);
  for (const f of FILES) {
    let text = await readFile(path.join(FIXTURE_RULES, f), 'utf8');
    if (f === 'campaigns.yaml') text = text.replace('budget: 100\n', 'budget: 2\n');
    await writeFile(path.join(candidate, f), text);
  }
  profiles = path.join(dir, 'profiles.ndjson');
  await writeFile(profiles, `${RECORDS.map((r) => JSON.stringify(r)).join('\n')}\n`);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

describe('offerloop what-if on a profiles file', () => {
  it('prints the report as JSON on stdout, the progress on stderr', async () => {
    const { code, stdout, stderr } = await offerloop([...common(), '--profiles', profiles, '--json']);
    expect(stderr).toMatch(/what-if: .*customers decided on both rulesets/);
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as WhatIfStatus;
    expect(status).toMatchObject({ state: 'done', store: 'embedded', population: 2000, done: SAMPLED });
    const { live, candidate: c, difference } = status.result!;
    expect(c!.name).toBe('smaller-budget');
    expect(c!.campaigns.find((x) => x.id === 'cards')!.boundBy).toBe('budget');
    expect(difference!.totals.offersShown).toBe(c!.totals.offersShown - live.totals.offersShown);
    expect(status.result!.now).toBe('2026-11-22T12:00:00.000Z');
  });

  it('prints tables side by side without --json', async () => {
    const { code, stdout } = await offerloop([...common(), '--profiles', profiles]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/live\s+candidate\s+difference/);
    expect(stdout).toMatch(/expected accepts/);
    expect(stdout).toMatch(/cards .*budget at/);
  });

  it('refuses a bad channel (exit 2) and a candidate that does not load (exit 1)', async () => {
    const bad = await offerloop([...common().slice(0, 5), '--channel', 'fax', '--volume', '1']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/--channel must be one of/);
    const args = common();
    args[2] = path.join(dir, 'nowhere');
    const missing = await offerloop([...args, '--profiles', profiles]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/--candidate .*nowhere/);
  });
});

describe('offerloop what-if on Redis', () => {
  let redis: RedisProcess;
  beforeAll(async () => {
    redis = await startRedis();
    const loaded = await offerloop(['load', '--redis', redis.url, '--grace', '0s', profiles]);
    expect(loaded.code).toBe(0);
  }, 60_000);
  afterAll(() => redis?.stop());

  it('reads the current population version and decides the same sample', async () => {
    const { code, stdout, stderr } = await offerloop([...common(), '--redis', redis.url, '--json']);
    expect(stderr).toMatch(/customers decided/);
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as WhatIfStatus;
    expect(status).toMatchObject({ state: 'done', store: 'redis', population: 2000, done: SAMPLED });
  });

  it("starts caps and budgets from the servers' counters in Redis (in process, as the bench runs it)", async () => {
    // The live cards campaign has spent 99.99 of its budget of 100: one more web contact (0.01) at most.
    await redisCommand(redis.port, 'HSET', 'offerloop:caps:spend', 'c:cards', '99.99');
    let stdout = '';
    const code = await runWhatIf(
      [...common().slice(1), '--redis', redis.url, '--json'],
      { stdout: { write: (t: string) => (stdout += t) }, stderr: { write: () => true } },
      {},
    );
    expect(code).toBe(0);
    const status = JSON.parse(stdout) as WhatIfStatus;
    const cards = status.result!.live.campaigns.find((c) => c.id === 'cards')!;
    expect(cards.shown).toBeLessThanOrEqual(1);
    expect(cards.boundBy).toBe('budget');
    expect(cards.budgetUse).toBeGreaterThan(0.9999);
  });
});
