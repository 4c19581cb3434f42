// Market-basket mining benchmark: `offerloop mine` (bin/offerloop, as users run it, one child
// process per run so that its peak RSS is its own) on 1,000,000 transactions of about 5 items over
// 1,000 products, at minimum support 0.001 and minimum confidence 0.1. Run: npm run bench:mine
// Target (issue 7): under 30 s, file read to files written, with memory reported.
// Data: Zipf-like product popularity (exponent 0.8: the top product is in ~28 % of baskets, like
// "whole milk" in arules' Groceries), basket sizes 1 + Poisson(4), 250,000 customers, and 100
// planted pairs a → b (b joins a's basket with a rate of 0.30 … 0.60). Written once in two layouts,
// long (transaction_id,item,customer_id: ~5 million rows) and baskets (one line per transaction),
// then reused while bench-data.json matches.
// Knob: BENCH_TRANSACTIONS (1000000). Exits 1 when the layouts disagree or a planted pair is missed.

import { execFile } from 'node:child_process';
import { closeSync, openSync, writeSync } from 'node:fs';
import { mkdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import type { MineSummary } from '../src/cli/mine-command.js';
import { Rng } from '../src/domain/random.js';
import { parseRuleLine, type RuleRecord } from '../src/mining/rules.js';
import {
  CLI_SCRIPT,
  knob,
  publishResult,
  REPO_ROOT,
  RESULTS_DIR,
  round,
  runBench,
  say,
  verdict,
} from './support.js';

const TRANSACTIONS = Math.floor(knob('TRANSACTIONS', 1_000_000));
const SUPPORT = 0.001;
const CONFIDENCE = 0.1;
const DATA_DIR = path.join(RESULTS_DIR, 'data', `mine-${TRANSACTIONS}`);
const PRODUCTS = 1000;
const CUSTOMERS = Math.max(1, Math.floor(TRANSACTIONS / 4));
const ZIPF = 0.8;
const MEAN_EXTRA_ITEMS = 4;
const PLANTED = 100;
const SEED = 'mine-bench';
const TARGET_SECONDS = 30;

const run = promisify(execFile);

interface Planted {
  readonly a: string;
  readonly b: string;
  readonly rate: number;
}

const productName = (i: number) => `sku-${String(i + 1).padStart(4, '0')}`;

/** The planted pairs: a and b among the products of popularity rank 10 … 409, each used once. */
function plantedPairs(): Planted[] {
  const rng = new Rng(SEED, 'planted');
  const pool = rng.shuffle(Array.from({ length: 400 }, (_, i) => i + 10));
  return Array.from({ length: PLANTED }, (_, k) => ({
    a: productName(pool[2 * k]!),
    b: productName(pool[2 * k + 1]!),
    rate: 0.3 + (0.3 * k) / (PLANTED - 1),
  }));
}

// ---------------------------------------------------------------------------------------------
// Data: generated once, reused while the marker matches.

interface DataSet {
  readonly long: string;
  readonly baskets: string;
  readonly longBytes: number;
  readonly basketBytes: number;
  readonly items: number;
  readonly reused: boolean;
  readonly generateMs: number | null;
}

async function prepareData(planted: readonly Planted[]): Promise<DataSet> {
  const marker = path.join(DATA_DIR, 'bench-data.json');
  const long = path.join(DATA_DIR, 'transactions.csv');
  const baskets = path.join(DATA_DIR, 'baskets.csv');
  const want = JSON.stringify({
    transactions: TRANSACTIONS,
    products: PRODUCTS,
    customers: CUSTOMERS,
    zipf: ZIPF,
    planted: PLANTED,
    seed: SEED,
    version: 1,
  });
  let info: { items: number } | null = null;
  try {
    const saved = JSON.parse(await readFile(marker, 'utf8')) as { want: string; items: number };
    if (saved.want === want) info = { items: saved.items };
    await stat(long);
    await stat(baskets);
  } catch {
    info = null;
  }
  let generateMs: number | null = null;
  if (info === null) {
    say('mine', `generating ${TRANSACTIONS} transactions into ${DATA_DIR}`);
    await rm(DATA_DIR, { recursive: true, force: true });
    await mkdir(DATA_DIR, { recursive: true });
    const started = performance.now();
    const items = generate(long, baskets, planted);
    generateMs = Math.round(performance.now() - started);
    await writeFile(marker, `${JSON.stringify({ want, items })}\n`);
    info = { items };
  }
  return {
    long,
    baskets,
    longBytes: (await stat(long)).size,
    basketBytes: (await stat(baskets)).size,
    items: info.items,
    reused: generateMs === null,
    generateMs,
  };
}

/** Writes both files; returns the number of item rows. */
function generate(longFile: string, basketFile: string, planted: readonly Planted[]): number {
  const rng = new Rng(SEED);
  // Zipf-like popularity over a random permutation, so that popularity and names are unrelated.
  const cdf = new Float64Array(PRODUCTS);
  let total = 0;
  for (let r = 0; r < PRODUCTS; r++) {
    total += 1 / (r + 1) ** ZIPF;
    cdf[r] = total;
  }
  const byRank = Array.from({ length: PRODUCTS }, (_, i) => i);
  // Ranks 10 … 409 are the planted products; keep names aligned with plantedPairs() (rank = id).
  const names = byRank.map(productName);
  const partner = new Map<number, { b: number; rate: number }>();
  const index = new Map(names.map((n, i) => [n, i]));
  for (const p of planted) partner.set(index.get(p.a)!, { b: index.get(p.b)!, rate: p.rate });
  const draw = () => {
    const x = rng.next() * total;
    let lo = 0;
    let hi = PRODUCTS - 1;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (cdf[mid]! < x) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  };
  const poisson = (mean: number) => {
    const l = Math.exp(-mean);
    let k = 0;
    let p = rng.next();
    while (p > l) {
      k++;
      p *= rng.next();
    }
    return k;
  };
  const longFd = openSync(longFile, 'w');
  const basketFd = openSync(basketFile, 'w');
  let longChunk: string[] = ['transaction_id,item,customer_id'];
  let basketChunk: string[] = [];
  let rows = 0;
  const basket: number[] = [];
  try {
    for (let t = 1; t <= TRANSACTIONS; t++) {
      basket.length = 0;
      const size = 1 + poisson(MEAN_EXTRA_ITEMS);
      for (let tries = 0; basket.length < size && tries < size * 4; tries++) {
        const item = draw();
        if (basket.includes(item)) continue;
        basket.push(item);
        const p = partner.get(item);
        if (p !== undefined && !basket.includes(p.b) && rng.chance(p.rate)) basket.push(p.b);
      }
      const customer = `cust-${1 + Math.floor(rng.next() * CUSTOMERS)}`;
      for (const item of basket) longChunk.push(`tx-${t},${names[item]},${customer}`);
      basketChunk.push(basket.map((i) => names[i]).join(','));
      rows += basket.length;
      if (longChunk.length >= 65_536) {
        writeSync(longFd, `${longChunk.join('\n')}\n`);
        longChunk = [];
      }
      if (basketChunk.length >= 65_536) {
        writeSync(basketFd, `${basketChunk.join('\n')}\n`);
        basketChunk = [];
      }
    }
    if (longChunk.length > 0) writeSync(longFd, `${longChunk.join('\n')}\n`);
    if (basketChunk.length > 0) writeSync(basketFd, `${basketChunk.join('\n')}\n`);
  } finally {
    closeSync(longFd);
    closeSync(basketFd);
  }
  return rows;
}

// ---------------------------------------------------------------------------------------------
// One run of `offerloop mine` in a child process.

interface MineRun {
  readonly layout: string;
  readonly wallSeconds: number;
  readonly summary: MineSummary;
  readonly rules: RuleRecord[];
  readonly rulesText: string;
}

async function mineOnce(layout: 'long' | 'baskets', file: string, out: string): Promise<MineRun> {
  await rm(out, { recursive: true, force: true });
  const args = [
    'mine',
    ...['--transactions', file, '--format', layout],
    ...['--min-support', String(SUPPORT), '--min-confidence', String(CONFIDENCE)],
    ...['--out', out, '--json'],
  ];
  const started = performance.now();
  const { stdout } = await run(CLI_SCRIPT, args, { cwd: REPO_ROOT, maxBuffer: 1 << 26 });
  const wallSeconds = (performance.now() - started) / 1000;
  const summary = JSON.parse(stdout) as MineSummary;
  const rulesText = await readFile(path.join(out, 'rules.ndjson'), 'utf8');
  const rules = rulesText
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => {
      const r = parseRuleLine(l);
      if (typeof r === 'string') throw new Error(`bad rule line: ${r}`);
      return r;
    });
  return { layout, wallSeconds, summary, rules, rulesText };
}

/** Transactions holding both items of each planted pair, counted from the baskets file. */
async function plantedCounts(basketFile: string, planted: readonly Planted[]): Promise<number[]> {
  const byA = new Map<string, number[]>();
  planted.forEach((p, k) => {
    byA.set(p.a, [...(byA.get(p.a) ?? []), k]);
  });
  const counts = planted.map(() => 0);
  for (const line of (await readFile(basketFile, 'utf8')).split('\n')) {
    if (line === '') continue;
    const items = line.split(',');
    for (const item of items) {
      for (const k of byA.get(item) ?? []) if (items.includes(planted[k]!.b)) counts[k]!++;
    }
  }
  return counts;
}

/** Planted pairs found as rules a ⇒ b, among those frequent enough to be found at all. */
function plantedFound(
  rules: readonly RuleRecord[],
  planted: readonly Planted[],
  pairCounts: readonly number[],
  minCount: number,
) {
  let frequent = 0;
  let found = 0;
  let foundInfrequent = 0;
  let maxError = 0;
  let minLift = Number.POSITIVE_INFINITY;
  planted.forEach(({ a, b, rate }, k) => {
    const isFrequent = pairCounts[k]! >= minCount;
    if (isFrequent) frequent++;
    const r = rules.find((x) => x.antecedent.length === 1 && x.antecedent[0] === a && x.consequent[0] === b);
    if (r === undefined) return;
    if (!isFrequent || r.count !== pairCounts[k]) foundInfrequent++;
    found++;
    maxError = Math.max(maxError, Math.abs(r.confidence - rate));
    minLift = Math.min(minLift, r.lift);
  });
  return {
    frequent,
    found,
    wrongCounts: foundInfrequent,
    maxConfidenceError: round(maxError, 4),
    minLift: round(minLift, 2),
  };
}

async function main(): Promise<void> {
  const planted = plantedPairs();
  const data = await prepareData(planted);
  const runs: MineRun[] = [];
  for (const [layout, file] of [
    ['long', data.long],
    ['baskets', data.baskets],
  ] as const) {
    say('mine', `offerloop mine --format ${layout} …`);
    runs.push(await mineOnce(layout, file, path.join(RESULTS_DIR, `mine-out-${layout}`)));
  }

  const pairCounts = await plantedCounts(data.baskets, planted);
  const rows = runs.map((r) => {
    const s = r.summary;
    const p = plantedFound(r.rules, planted, pairCounts, s.minCount);
    return {
      layout: r.layout,
      'file MB': round(s.input.bytes / 1e6, 1),
      transactions: s.input.transactions,
      'read s': s.seconds.read,
      'mine s': s.seconds.mine,
      'rules s': s.seconds.rules,
      'affinities s': s.seconds.affinities,
      'total s': s.seconds.total,
      'wall s': round(r.wallSeconds, 2),
      itemsets: s.itemsets.total,
      'by length': s.itemsets.byLength.join('/'),
      rules: s.rules.count,
      customers: s.affinities?.customers ?? 0,
      'peak RSS MB': s.memory.peakRssMB,
      'peak heap MB': s.memory.peakHeapMB,
      planted: `${p.found}/${p.frequent}`,
      verdict: verdict(r.wallSeconds < TARGET_SECONDS),
      _planted: p,
    };
  });
  const sameRules = runs.every((r) => r.rulesText === runs[0]!.rulesText);
  console.table(rows.map(({ _planted, ...rest }) => rest));
  const p = rows[0]!._planted;
  console.log(
    `min support ${SUPPORT} = ${runs[0]!.summary.minCount} transactions; min confidence ${CONFIDENCE}; ` +
      `planted pairs: ${p.frequent} of ${planted.length} are in ≥ ${runs[0]!.summary.minCount} transactions, ` +
      `${p.found} found as rules a ⇒ b, ${p.wrongCounts} with a count that differs from a direct count ` +
      `(largest |confidence − planted rate| ${p.maxConfidenceError}, smallest lift ${p.minLift}); ` +
      `rules.ndjson identical for both layouts: ${sameRules ? 'yes' : 'NO'}`,
  );
  const problems = !sameRules ? ['rules.ndjson differs between the layouts'] : [];
  for (const r of rows)
    if (r._planted.found !== r._planted.frequent || r._planted.wrongCounts > 0)
      problems.push(
        `${r.layout}: planted pairs ${r._planted.found}/${r._planted.frequent}, ${r._planted.wrongCounts} wrong counts`,
      );
  await publishResult(
    'mine',
    {
      config: {
        transactions: TRANSACTIONS,
        products: PRODUCTS,
        minSupport: SUPPORT,
        minConfidence: CONFIDENCE,
      },
      targetSeconds: TARGET_SECONDS,
      sameRulesAcrossLayouts: sameRules,
      runs: rows.map(({ _planted, ...rest }, i) => ({
        ...rest,
        planted: _planted,
        summary: runs[i]!.summary,
      })),
    },
    problems,
  );
}

runBench('mine', main);
