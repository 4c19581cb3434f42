import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProfileRecord } from '../src/domain/profile.js';
import { parseRuleLine, type RuleRecord } from '../src/mining/rules.js';
import { parseLine } from '../src/store/profile-lines.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'bin/offerloop');

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; resolves with the exit code and output whatever the code. */
async function offerloop(args: string[]): Promise<Result> {
  try {
    const { stdout, stderr } = await run(bin, args, { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return err as Result;
  }
}

async function lines(file: string): Promise<string[]> {
  return (await readFile(file, 'utf8')).split('\n').filter((l) => l !== '');
}

async function rulesOf(file: string): Promise<RuleRecord[]> {
  return (await lines(file)).map((l) => {
    const r = parseRuleLine(l);
    if (typeof r === 'string') throw new Error(`${l}: ${r}`);
    return r;
  });
}

/** Each line as `offerloop load` reads it (the same parser and schema), failing on a bad one. */
async function profilesOf(file: string): Promise<ProfileRecord[]> {
  return (await lines(file)).map((l, i) => {
    const r = parseLine(l, null);
    if (typeof r === 'string' || r === null) throw new Error(`${file}:${i + 1}: ${r}`);
    return r;
  });
}

// The CLI runs the compiled code, as users run it after `npm install` (which builds dist/).
describe('offerloop mine', () => {
  let dir: string;
  let gen: string;

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'offerloop-mine-'));
    gen = path.join(dir, 'gen');
    const g = await offerloop([
      'generate',
      '--offers',
      '40',
      '--customers',
      '1500',
      '--out',
      gen,
      '--seed',
      '11',
    ]);
    expect(g.code).toBe(0);
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('mines the long transactions of `offerloop generate`, writes sorted rules and loadable affinities', async () => {
    const out = path.join(dir, 'long');
    const transactions = path.join(gen, 'transactions.csv');
    const { code, stdout } = await offerloop([
      'mine',
      '--transactions',
      transactions,
      '--min-support',
      '0.005',
      '--min-confidence',
      '0.2',
      '--out',
      out,
      '--json',
    ]);
    expect(code).toBe(0);
    const summary = JSON.parse(stdout);
    const rows = (await lines(transactions)).length - 1;
    expect(summary.input).toMatchObject({ layout: 'long', rows, customers: 1500 });
    expect(summary.minCount).toBe(Math.ceil(0.005 * summary.input.transactions));
    expect(summary.itemsets.byLength[0]).toBeGreaterThan(0);

    const rules = await rulesOf(path.join(out, 'rules.ndjson'));
    expect(rules.length).toBe(summary.rules.count);
    expect(rules.length).toBeGreaterThan(0);
    for (const r of rules) {
      expect(Object.keys(r)).toEqual(['antecedent', 'consequent', 'support', 'confidence', 'lift', 'count']);
      expect(r.antecedent.length).toBeGreaterThan(0);
      expect(r.consequent).toHaveLength(1);
      expect([...r.antecedent].sort()).toEqual(r.antecedent);
      expect(r.confidence).toBeGreaterThanOrEqual(0.2);
      expect(r.support).toBe(r.count / summary.input.transactions);
    }
    // Sorted by consequent, then confidence (highest first), then antecedent.
    for (let i = 1; i < rules.length; i++) {
      const a = rules[i - 1]!;
      const b = rules[i]!;
      const c = a.consequent[0]! < b.consequent[0]! ? -1 : a.consequent[0]! > b.consequent[0]! ? 1 : 0;
      expect(c <= 0).toBe(true);
      if (c === 0) expect(a.confidence).toBeGreaterThanOrEqual(b.confidence);
    }

    const affinities = await profilesOf(path.join(out, 'affinities.ndjson'));
    expect(affinities).toHaveLength(1500);
    expect(summary.affinities).toMatchObject({ customers: 1500 });
    for (const p of affinities) {
      expect(Object.keys(p)).toEqual(['id', 'holdings', 'affinities']);
      expect(p.affinities!.length).toBeLessThanOrEqual(20);
      // Never a product the customer bought; best first.
      for (const a of p.affinities!) expect(p.holdings).not.toContain(a.product);
      const scores = p.affinities!.map((a) => a.score);
      expect([...scores].sort((x, y) => y - x)).toEqual(scores);
    }
    // Rules that fire: every affinity is the confidence of some rule whose antecedent they hold.
    const someone = affinities.find((p) => p.affinities!.length > 0)!;
    const first = someone.affinities![0]!;
    const best = Math.max(
      ...rules
        .filter(
          (r) =>
            r.consequent[0] === first.product && r.antecedent.every((x) => someone.holdings!.includes(x)),
        )
        .map((r) => r.confidence),
    );
    expect(first.score).toBe(Math.round(best * 1e4) / 1e4);
  });

  it('merges mined affinities into --profiles, keeping attributes, consent and holdings', async () => {
    const out = path.join(dir, 'merged');
    const { code, stdout } = await offerloop([
      'mine',
      '--transactions',
      path.join(gen, 'transactions.csv'),
      '--min-support',
      '0.005',
      '--min-confidence',
      '0.2',
      '--profiles',
      path.join(gen, 'profiles.ndjson'),
      '--top',
      '5',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(
      /wrote .*profiles\.ndjson: 1,500 profiles, [\d,]+ with mined affinities merged, 0 appended/,
    );
    const input = await profilesOf(path.join(gen, 'profiles.ndjson'));
    const merged = await profilesOf(path.join(out, 'profiles.ndjson'));
    const mined = new Map((await profilesOf(path.join(out, 'affinities.ndjson'))).map((p) => [p.id, p]));
    expect(merged.map((p) => p.id)).toEqual(input.map((p) => p.id));
    let changed = 0;
    merged.forEach((p, i) => {
      const before = input[i]!;
      expect(p.attributes).toEqual(before.attributes);
      expect(p.consent).toEqual(before.consent);
      expect(p.holdings).toEqual(before.holdings);
      const m = mined.get(p.id)!;
      // A profile nothing was mined for is left as it was (8 affinities here), others keep 5.
      if (m.affinities!.length > 0) expect(p.affinities!.length).toBeLessThanOrEqual(5);
      // Mined affinities also leave out what the profile holds.
      for (const a of m.affinities!) expect(before.holdings ?? []).not.toContain(a.product);
      // Each product: the higher of the profile's and the mined score, the top 5 of the union.
      const union = new Map<string, number>();
      for (const a of [...(before.affinities ?? []), ...m.affinities!]) {
        union.set(a.product, Math.max(union.get(a.product) ?? 0, a.score));
      }
      const top = [...union.values()].sort((x, y) => y - x).slice(0, 5);
      expect(p.affinities!.map((a) => a.score)).toEqual(
        m.affinities!.length > 0 ? top : before.affinities!.map((a) => a.score),
      );
      if (JSON.stringify(p.affinities) !== JSON.stringify(before.affinities)) changed++;
    });
    expect(changed).toBeGreaterThan(0);
  });

  it('mines baskets (one per line) with the exact textbook figures and no affinities', async () => {
    const file = path.join(dir, 'allelectronics.csv');
    // Han & Kamber, Table 6.1.
    await writeFile(file, 'I1,I2,I5\nI2,I4\nI2,I3\nI1,I2,I4\nI1,I3\nI2,I3\nI1,I3\nI1,I2,I3,I5\nI1,I2,I3\n');
    const out = path.join(dir, 'baskets');
    const { code, stdout } = await offerloop([
      'mine',
      '--transactions',
      file,
      '--min-support',
      '0.22',
      '--min-confidence',
      '0.7',
      '--out',
      out,
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/baskets format.*9 transactions, 23 items of 5 products/);
    expect(stdout).toMatch(
      /minimum support 0\.22 = 2 transactions: 13 frequent itemsets \(1: 5, 2: 6, 3: 2\)/,
    );
    expect(stdout).toMatch(/no customer ids in the input: no affinities written/);
    expect(existsSync(path.join(out, 'affinities.ndjson'))).toBe(false);
    expect(await rulesOf(path.join(out, 'rules.ndjson'))).toEqual([
      { antecedent: ['I2', 'I5'], consequent: ['I1'], support: 2 / 9, confidence: 1, lift: 1.5, count: 2 },
      { antecedent: ['I5'], consequent: ['I1'], support: 2 / 9, confidence: 1, lift: 1.5, count: 2 },
      { antecedent: ['I1', 'I5'], consequent: ['I2'], support: 2 / 9, confidence: 1, lift: 9 / 7, count: 2 },
      { antecedent: ['I4'], consequent: ['I2'], support: 2 / 9, confidence: 1, lift: 9 / 7, count: 2 },
      { antecedent: ['I5'], consequent: ['I2'], support: 2 / 9, confidence: 1, lift: 9 / 7, count: 2 },
    ]);
  });

  it('writes longer consequents and empty antecedents when asked', async () => {
    const file = path.join(dir, 'small.csv');
    await writeFile(file, 'a,b,c\na,b,c\na,b\nc\n');
    const out = path.join(dir, 'small');
    const args = [
      'mine',
      '--transactions',
      file,
      '--min-support',
      '0.5',
      '--min-confidence',
      '0.6',
      '--out',
      out,
    ];
    expect((await offerloop([...args, '--max-consequent', '2', '--min-length', '1'])).code).toBe(0);
    const rules = await rulesOf(path.join(out, 'rules.ndjson'));
    const names = rules.map((r) => `${r.antecedent.join('+')}=>${r.consequent.join('+')}`);
    expect(names).toContain('=>a'); // {} ⇒ {a}: confidence 3/4
    expect(names).toContain('a=>b+c'); // 2/3
    expect(names).toContain('c=>a+b'); // 2/3
    expect(names).not.toContain('=>a+b+c');
  });

  it('reports a malformed line by file and number, with exit code 1', async () => {
    const long = path.join(dir, 'bad-long.csv');
    await writeFile(long, 'transaction_id,item,customer_id\nt1,a,c1\nt1,b,c1\nt2,a\n');
    const r1 = await offerloop([
      'mine',
      '--transactions',
      long,
      '--min-support',
      '0.1',
      '--min-confidence',
      '0.1',
      '--out',
      path.join(dir, 'x'),
    ]);
    expect(r1.code).toBe(1);
    expect(r1.stderr).toBe(
      `offerloop mine: ${long}:4: expected 3 fields (transaction_id,item,customer_id), found 2\n`,
    );
    const baskets = path.join(dir, 'bad-baskets.csv');
    await writeFile(baskets, 'a,b\n\nb,,c\n');
    const r2 = await offerloop([
      'mine',
      '--transactions',
      baskets,
      '--min-support',
      '0.1',
      '--min-confidence',
      '0.1',
      '--out',
      path.join(dir, 'x'),
    ]);
    expect(r2.code).toBe(1);
    expect(r2.stderr).toMatch(new RegExp(`${baskets}:3: empty item \\(field 2 of 3\\)`));
    const missing = await offerloop([
      'mine',
      '--transactions',
      path.join(dir, 'nope.csv'),
      '--min-support',
      '0.1',
      '--min-confidence',
      '0.1',
      '--out',
      path.join(dir, 'x'),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/ENOENT|no such file/);
  });

  it('stops on a bad line of --profiles with its number, exit code 1', async () => {
    const profiles = path.join(dir, 'bad-profiles.ndjson');
    await writeFile(profiles, '{"id":"cust-1"}\n{"id":"cust-2","affinities":[{"product":"x","score":7}]}\n');
    const r = await offerloop([
      'mine',
      '--transactions',
      path.join(gen, 'transactions.csv'),
      '--min-support',
      '0.01',
      '--min-confidence',
      '0.2',
      '--profiles',
      profiles,
      '--out',
      path.join(dir, 'y'),
    ]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`${profiles}:2: /affinities/0/score must be <= 1`));
  });

  it('rejects bad options with exit code 2 and the usage', async () => {
    const base = ['mine', '--transactions', 'x.csv', '--out', path.join(dir, 'z')];
    const cases: [string[], RegExp][] = [
      [[...base, '--min-confidence', '0.1'], /--min-support is required/],
      [[...base, '--min-support', '1.5', '--min-confidence', '0.1'], /--min-support must be at most 1/],
      [
        [...base, '--min-support', '0.1', '--min-confidence', '0.1', '--score', 'magic'],
        /--score must be one of/,
      ],
      [
        [...base, '--min-support', '0.1', '--min-confidence', '0.1', '--format', 'xml'],
        /--format must be one of/,
      ],
      [
        [
          ...base,
          '--min-support',
          '0.1',
          '--min-confidence',
          '0.1',
          '--min-length',
          '3',
          '--max-length',
          '2',
        ],
        /--max-length \(2\) is below --min-length \(3\)/,
      ],
      [[...base, '--min-support', '0.1', '--min-confidence', '0.1', 'extra'], /unexpected argument 'extra'/],
    ];
    for (const [args, message] of cases) {
      const r = await offerloop(args);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toMatch(message);
      expect(r.stderr).toMatch(/Usage: offerloop mine/);
    }
    const help = await offerloop(['mine', '--help']);
    expect(help.code).toBe(0);
    expect(help.stdout).toMatch(/--min-support S/);
  });
});
