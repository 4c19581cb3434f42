import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { CliIo } from '../cli/args.js';
import { runGenerate } from '../cli/generate-command.js';
import type { ProfileRecord } from '../domain/profile.js';
import { loadRuleset } from '../ruleset/load.js';
import type { RulesFile } from '../ruleset/source.js';
import { catalogProducts } from './catalog.js';

// End-to-end test of `offerloop generate` (src/cli/generate-command.ts); it lives with the
// generators it drives.

const dirs: string[] = [];
async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'offerloop-generate-'));
  dirs.push(dir);
  return dir;
}
afterAll(async () => {
  await Promise.all(dirs.map((d) => rm(d, { recursive: true, force: true })));
});

function bufferIo(tty = false): CliIo & { out: () => string; err: () => string } {
  const out: string[] = [];
  const err: string[] = [];
  return {
    stdout: { write: (s: string) => out.push(s), isTTY: tty },
    stderr: { write: (s: string) => err.push(s), isTTY: tty },
    out: () => out.join(''),
    err: () => err.join(''),
  };
}

async function readRules(dir: string): Promise<Record<string, RulesFile>> {
  const names = (await readdir(join(dir, 'rules'))).sort();
  const files: Record<string, RulesFile> = {};
  for (const name of names) files[name] = parse(await readFile(join(dir, 'rules', name), 'utf8'));
  return files;
}

describe('runGenerate', () => {
  it('writes rules, profiles and transactions that fit together', async () => {
    const dir = join(await tempDir(), 'nested', 'out');
    const io = bufferIo();
    const code = await runGenerate(
      [
        '--offers',
        '20',
        '--customers',
        '300',
        '--out',
        dir,
        '--affinities',
        '5',
        '--baskets',
        '2',
        '--seed',
        'e2e',
      ],
      io,
    );
    expect(io.err()).toBe('');
    expect(code).toBe(0);

    const rules = await readRules(dir);
    expect(Object.keys(rules)).toEqual(['campaigns.yaml', 'offers.yaml', 'policies.yaml', 'segments.yaml']);
    // The real loader validates every file against the ruleset schema and resolves references.
    expect((await loadRuleset(join(dir, 'rules'))).offers.length).toBeGreaterThan(0);
    const products = new Set(catalogProducts(rules));
    expect(products.size).toBe(10);

    const lines = (await readFile(join(dir, 'profiles.ndjson'), 'utf8')).split('\n');
    expect(lines.pop()).toBe('');
    const profiles = lines.map((l) => JSON.parse(l) as ProfileRecord);
    expect(profiles.map((p) => p.id)).toEqual(profiles.map((_, i) => `cust-${i + 1}`));
    for (const p of profiles) {
      expect(p.affinities!.length).toBeLessThanOrEqual(5);
      for (const a of p.affinities!) expect(products.has(a.product)).toBe(true);
      for (const h of p.holdings!) expect(products.has(h)).toBe(true);
    }

    const csv = (await readFile(join(dir, 'transactions.csv'), 'utf8')).split('\n');
    expect(csv.shift()).toBe('transaction_id,item,customer_id');
    expect(csv.pop()).toBe('');
    const rows = csv.map((l) => l.split(','));
    expect(new Set(rows.map((r) => r[0])).size).toBe(600);
    const ids = new Set(profiles.map((p) => p.id));
    for (const [, item, customer] of rows) {
      expect(products.has(item!)).toBe(true);
      expect(ids.has(customer!)).toBe(true);
    }

    expect(io.out()).toContain('20 offers over 10 products');
    expect(io.out()).toContain('300 customers');
    expect(io.out()).toContain('600 baskets');
  });

  it('is reproducible: the same seed writes the same files, another seed other ones', async () => {
    const run = async (seed: string) => {
      const dir = await tempDir();
      expect(
        await runGenerate(['--offers=8', '--customers=50', `--out=${dir}`, `--seed=${seed}`], bufferIo()),
      ).toBe(0);
      return Promise.all(
        ['rules/offers.yaml', 'profiles.ndjson', 'transactions.csv'].map((f) =>
          readFile(join(dir, f), 'utf8'),
        ),
      );
    };
    const a = await run('7');
    expect(await run('7')).toEqual(a);
    expect((await run('8'))[1]).not.toEqual(a[1]);
  });

  it('reports progress on stderr for large runs, one line per 10% when stderr is not a terminal', async () => {
    const dir = await tempDir();
    const io = bufferIo(false);
    const args = [
      '--offers',
      '5',
      '--customers',
      '50000',
      '--out',
      dir,
      '--affinities',
      '1',
      '--baskets',
      '0',
    ];
    expect(await runGenerate(args, io)).toBe(0);
    const progress = io.err().trimEnd().split('\n');
    expect(progress).toHaveLength(10);
    expect(progress[0]).toMatch(/^generating: 10% /);
    expect(progress[9]).toBe('generating: 100% (50,000 / 50,000 customers)');
    const tty = bufferIo(true);
    expect(await runGenerate(args, tty)).toBe(0);
    expect(tty.err()).toMatch(/^\rgenerating: \d+%/);
    expect(tty.err().endsWith('100% (50,000 / 50,000 customers)\n')).toBe(true);
  }, 20_000);

  it('returns 2 with a message and the usage for a bad command line', async () => {
    const cases: [string[], string][] = [
      [['--customers', '10', '--out', 'x'], '--offers is required'],
      [['--offers', 'many', '--customers', '10', '--out', 'x'], "--offers must be a number, got 'many'"],
      [['--offers', '0', '--customers', '10', '--out', 'x'], '--offers must be at least 1'],
      [['--offers', '5', '--customers', '10'], '--out is required'],
      [
        ['--offers', '5', '--customers', '10', '--out', 'x', '--baskets', '-1'],
        '--baskets must be at least 0',
      ],
      [['--offers', '5', '--customers', '10', '--out', 'x', 'extra'], "unexpected argument 'extra'"],
      [['--offers', '5', '--customers', '10', '--out', 'x', '--seed', ' '], '--seed must not be empty'],
    ];
    for (const [argv, message] of cases) {
      const io = bufferIo();
      expect(await runGenerate(argv, io)).toBe(2);
      expect(io.err()).toContain(message);
      expect(io.err()).toContain('Usage: offerloop generate');
      expect(io.out()).toBe('');
    }
  });

  it('prints the usage for --help', async () => {
    const io = bufferIo();
    expect(await runGenerate(['--help'], io)).toBe(0);
    expect(io.out()).toContain('Usage: offerloop generate --offers N --customers M --out DIR');
    expect(io.out()).toContain('--affinities K');
    expect(io.out()).toContain('(default 20)');
  });

  it('returns 1 with a message when it cannot write', async () => {
    const file = join(await tempDir(), 'a-file');
    await writeFile(file, 'not a directory');
    const io = bufferIo();
    expect(await runGenerate(['--offers', '5', '--customers', '10', '--out', file], io)).toBe(1);
    expect(io.err()).toMatch(/^offerloop generate: .*(ENOTDIR|EEXIST)/);
  });
});
