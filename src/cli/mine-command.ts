import { mkdir, open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { ProfileRecord } from '../domain/profile.js';
import { profileRecordSchema } from '../domain/profile-schema.js';
import {
  AFFINITY_SCORINGS,
  type Affinity,
  AffinityScorer,
  type AffinityScoring,
  mergeAffinities,
} from '../mining/affinities.js';
import { DEFAULT_MAX_ITEMSETS, mineFrequentItemsets, minSupportCount } from '../mining/fp-growth.js';
import { TooManyItemsetsError } from '../mining/itemsets.js';
import {
  type AssociationRule,
  DEFAULT_MIN_LENGTH,
  generateRules,
  nameRanks,
  ruleRecord,
  sortRules,
} from '../mining/rules.js';
import {
  type LayoutOption,
  MalformedInputError,
  type ParsedTransactions,
  TransactionParser,
} from '../mining/transaction-parser.js';
import { itemsByCustomer, type TransactionSet } from '../mining/transactions.js';
import { profileLines } from '../store/profile-lines.js';
import {
  type CliIo,
  type FlagValues,
  flagsOnly,
  formatFlags,
  parseCommand,
  processIo,
  UsageError,
} from './args.js';
import { LineWriter } from './line-writer.js';
import { formatCount, Progress } from './progress.js';

const LAYOUTS = ['auto', 'long', 'baskets'] as const;
export const DEFAULT_TOP = 20;

const FLAGS = {
  transactions: {
    type: 'string',
    required: true,
    placeholder: 'FILE',
    description:
      'purchases: long CSV with a header (transaction_id,item[,customer_id]) or one basket per line',
  },
  'min-support': {
    type: 'number',
    required: true,
    min: 0,
    max: 1,
    placeholder: 'S',
    description: 'smallest share of transactions an itemset must be in',
  },
  'min-confidence': {
    type: 'number',
    required: true,
    min: 0,
    max: 1,
    placeholder: 'C',
    description: 'smallest confidence of a rule',
  },
  'min-lift': {
    type: 'number',
    default: 0,
    min: 0,
    placeholder: 'L',
    description: 'smallest lift of a rule',
  },
  'min-length': {
    type: 'integer',
    default: DEFAULT_MIN_LENGTH,
    min: 1,
    max: 1000,
    placeholder: 'K',
    description: 'fewest items in a rule, antecedent plus consequent (1 adds rules with empty antecedents)',
  },
  'max-length': {
    type: 'integer',
    min: 1,
    max: 1000,
    placeholder: 'K',
    description: 'most items in a rule (default: no limit)',
  },
  'max-consequent': {
    type: 'integer',
    default: 1,
    min: 1,
    max: 1000,
    placeholder: 'K',
    description: 'most items in a consequent',
  },
  out: {
    type: 'string',
    required: true,
    placeholder: 'DIR',
    description: 'output directory (created if missing)',
  },
  profiles: {
    type: 'string',
    placeholder: 'FILE',
    description: 'profiles (NDJSON or CSV) to merge the mined affinities into: writes DIR/profiles.ndjson',
  },
  top: {
    type: 'integer',
    default: DEFAULT_TOP,
    min: 1,
    max: profileRecordSchema.properties.affinities.maxItems,
    placeholder: 'K',
    description: 'affinities kept per customer',
  },
  score: {
    type: 'string',
    default: 'confidence',
    placeholder: AFFINITY_SCORINGS.join('|'),
    description: 'affinity score of a product: best confidence, or best 1 - 1/lift',
  },
  format: {
    type: 'string',
    default: 'auto',
    placeholder: LAYOUTS.join('|'),
    description: 'input layout (auto: a header with transaction_id and item means long)',
  },
  'max-itemsets': {
    type: 'integer',
    default: DEFAULT_MAX_ITEMSETS,
    min: 1,
    placeholder: 'N',
    description: 'give up beyond this many frequent itemsets',
  },
  json: { type: 'boolean', description: 'print the summary as one JSON line' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

export const MINE_USAGE = `Usage: offerloop mine --transactions FILE --min-support S --min-confidence C --out DIR [options]

Mines association rules from purchase transactions (FP-Growth; exact counts) and writes
  DIR/rules.ndjson        one rule per line: {"antecedent":[…],"consequent":[…],"support","confidence","lift","count"}
  DIR/affinities.ndjson   when the transactions name customers: per customer the products bought
                          (holdings) and the top-K products not bought yet, scored by the rules
                          that fire on what they bought, in the format \`offerloop load\` reads
  DIR/profiles.ndjson     with --profiles: those profiles with the mined affinities merged in
                          (per product the higher score, top K), ready for \`offerloop load\`

Rule length counts items, antecedent plus consequent. See docs/mining.md.

Options:
${formatFlags(FLAGS)}
`;

/** Files from this size on get a progress meter on stderr. */
const PROGRESS_FROM_BYTES = 16 << 20;
const READ_CHUNK = 4 << 20;
/** Lines are joined into chunks of about this many characters before they are written. */
const WRITE_CHUNK = 1 << 20;
/** Scores are written with this many decimals: the profile codec keeps about 5. */
const SCORE_DECIMALS = 4;

const MAX_ID = profileRecordSchema.properties.id.maxLength;
const MAX_PRODUCT = profileRecordSchema.properties.affinities.items.properties.product.maxLength;
const MAX_HOLDINGS = profileRecordSchema.properties.holdings.maxItems;

export interface MineOptions {
  readonly transactions: string;
  readonly out: string;
  readonly minSupport: number;
  readonly minConfidence: number;
  readonly minLift?: number;
  readonly minLength?: number;
  readonly maxLength?: number;
  readonly maxConsequent?: number;
  readonly profiles?: string;
  readonly top?: number;
  readonly scoring?: AffinityScoring;
  readonly format?: LayoutOption;
  readonly maxItemsets?: number;
}

export interface MineSummary {
  readonly input: {
    readonly file: string;
    readonly bytes: number;
    readonly layout: 'long' | 'baskets';
    readonly lines: number;
    readonly rows: number;
    readonly transactions: number;
    readonly items: number;
    readonly customers: number;
  };
  readonly minSupport: number;
  readonly minCount: number;
  readonly itemsets: { readonly total: number; readonly byLength: readonly number[] };
  readonly rules: { readonly file: string; readonly count: number };
  readonly affinities: {
    readonly file: string;
    readonly customers: number;
    readonly withAffinities: number;
    readonly affinities: number;
    readonly skippedIds: number;
  } | null;
  readonly profiles: {
    readonly file: string;
    readonly profiles: number;
    readonly merged: number;
    readonly appended: number;
  } | null;
  readonly seconds: {
    readonly read: number;
    readonly mine: number;
    readonly rules: number;
    readonly affinities: number;
    readonly total: number;
  };
  readonly memory: {
    readonly peakRssMB: number;
    readonly peakHeapMB: number;
    readonly peakArrayBuffersMB: number;
  };
}

/** Where the pipeline reports progress (stderr) and how it samples memory. */
class Meter {
  peakHeap = 0;
  peakArrayBuffers = 0;

  sample(): void {
    const m = process.memoryUsage();
    this.peakHeap = Math.max(this.peakHeap, m.heapUsed);
    this.peakArrayBuffers = Math.max(this.peakArrayBuffers, m.arrayBuffers);
  }
}

/** Joins lines into large chunks before they reach the file. */
class ChunkedLines {
  private parts: string[] = [];
  private size = 0;
  lines = 0;

  constructor(private readonly writer: LineWriter) {}

  async push(line: string): Promise<void> {
    this.parts.push(line);
    this.size += line.length + 1;
    this.lines++;
    if (this.size >= WRITE_CHUNK) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = `${this.parts.join('\n')}\n`;
    this.parts = [];
    this.size = 0;
    await this.writer.write(text);
  }

  async end(): Promise<void> {
    await this.flush();
    await this.writer.end();
  }

  /** Closes the file after a failure; never rejects. */
  async abort(): Promise<void> {
    await this.writer.abort();
  }
}

async function openLines(path: string): Promise<ChunkedLines> {
  return new ChunkedLines(await LineWriter.open(path));
}

/** Reads and parses the transactions file, with a progress meter on large files. */
async function readTransactions(
  file: string,
  layout: LayoutOption,
  io: CliIo,
): Promise<{ parsed: ParsedTransactions; bytes: number }> {
  const size = (await stat(file)).size;
  const progress =
    size >= PROGRESS_FROM_BYTES
      ? new Progress(io.stderr, 'mine: reading', { total: size, unit: 'bytes' })
      : null;
  const parser = new TransactionParser(layout);
  const handle = await open(file, 'r');
  // The parser copies what it keeps, so one buffer serves every read.
  const buffer = new Uint8Array(READ_CHUNK);
  let bytes = 0;
  try {
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length, null);
      if (bytesRead === 0) break;
      parser.push(bytesRead === buffer.length ? buffer : buffer.subarray(0, bytesRead));
      bytes += bytesRead;
      progress?.update(bytes);
    }
  } finally {
    await handle.close();
  }
  const parsed = parser.end();
  progress?.finish(
    `${formatCount(parsed.transactions.size)} transactions, ${formatCount(parsed.rows)} items (${parsed.layout} format)`,
  );
  return { parsed, bytes };
}

function roundScore(score: number): number {
  const f = 10 ** SCORE_DECIMALS;
  return Math.round(score * f) / f;
}

/**
 * The whole pipeline: read, mine, write rules, then affinities (and merged profiles). Throws
 * MalformedInputError (with the line), TooManyItemsetsError and I/O errors.
 */
export async function mine(options: MineOptions, io: CliIo = processIo): Promise<MineSummary> {
  const started = performance.now();
  const meter = new Meter();
  const top = options.top ?? DEFAULT_TOP;
  const maxLength = options.maxLength;

  // A missing profiles file should fail now, not after the mining.
  if (options.profiles !== undefined) await stat(options.profiles);
  // 1. Read.
  const { parsed, bytes } = await readTransactions(options.transactions, options.format ?? 'auto', io);
  const ts = parsed.transactions;
  if (ts.size === 0) throw new Error(`${options.transactions} holds no transactions`);
  meter.sample();
  const readDone = performance.now();

  // 2. Frequent itemsets.
  const minCount = minSupportCount(options.minSupport, ts.size);
  const itemsets = mineFrequentItemsets(ts, {
    minCount,
    ...(maxLength === undefined ? {} : { maxLength }),
    maxItemsets: options.maxItemsets ?? DEFAULT_MAX_ITEMSETS,
  });
  meter.sample();
  const mineDone = performance.now();

  // 3. Rules, sorted as the file lists them.
  const rules = sortRules(
    generateRules(itemsets, {
      minConfidence: options.minConfidence,
      minLift: options.minLift ?? 0,
      minLength: options.minLength ?? DEFAULT_MIN_LENGTH,
      ...(maxLength === undefined ? {} : { maxLength }),
      maxConsequent: options.maxConsequent ?? 1,
    }),
    ts.itemNames,
  );
  await mkdir(options.out, { recursive: true });
  const rulesFile = join(options.out, 'rules.ndjson');
  const rulesOut = await openLines(rulesFile);
  try {
    for (const rule of rules) await rulesOut.push(JSON.stringify(ruleRecord(rule, ts.itemNames)));
    await rulesOut.end();
  } catch (err) {
    await rulesOut.abort();
    throw err;
  }
  meter.sample();
  const rulesDone = performance.now();

  // 4. Affinities, and the merged profiles.
  let affinities: MineSummary['affinities'] = null;
  let profiles: MineSummary['profiles'] = null;
  if (parsed.hasCustomers) {
    const result = await writeAffinities(ts, rules, options, top);
    affinities = result.affinities;
    profiles = result.profiles;
  } else if (options.profiles !== undefined) {
    io.stderr.write(
      `offerloop mine: note: ${options.transactions} names no customers (no customer_id column, or no ids in it), so there is nothing to merge into ${options.profiles}\n`,
    );
  }
  meter.sample();
  const end = performance.now();

  const seconds = (from: number, to: number) => Math.round(to - from) / 1000;
  const rss = process.resourceUsage().maxRSS * 1024;
  const mb = (b: number) => Math.round(b / 1e5) / 10;
  return {
    input: {
      file: options.transactions,
      bytes,
      layout: parsed.layout,
      lines: parsed.lines,
      rows: parsed.rows,
      transactions: ts.size,
      items: ts.itemNames.length,
      customers: ts.customerIds.length,
    },
    minSupport: options.minSupport,
    minCount,
    itemsets: { total: itemsets.size, byLength: itemsets.countByLength().slice(1) },
    rules: { file: rulesFile, count: rules.length },
    affinities,
    profiles,
    seconds: {
      read: seconds(started, readDone),
      mine: seconds(readDone, mineDone),
      rules: seconds(mineDone, rulesDone),
      affinities: seconds(rulesDone, end),
      total: seconds(started, end),
    },
    memory: {
      peakRssMB: mb(rss),
      peakHeapMB: mb(meter.peakHeap),
      peakArrayBuffersMB: mb(meter.peakArrayBuffers),
    },
  };
}

/**
 * DIR/affinities.ndjson: one line per customer, `{id, holdings, affinities}`, a profile record
 * that `offerloop load` takes. With --profiles, DIR/profiles.ndjson too: each input profile with
 * the customer's mined affinities merged in, and customers the profiles lack appended.
 */
async function writeAffinities(
  ts: TransactionSet,
  rules: readonly AssociationRule[],
  options: MineOptions,
  top: number,
): Promise<{ affinities: MineSummary['affinities']; profiles: MineSummary['profiles'] }> {
  const names = ts.itemNames;
  const rank = nameRanks(names);
  const support = new Int32Array(names.length);
  for (let i = 0; i < ts.items.length; i++) support[ts.items[i]!]!++;
  // Products whose names cannot be a profile's product are never recommended.
  const exclude = new Uint8Array(names.length);
  names.forEach((name, i) => {
    if (name.length > MAX_PRODUCT) exclude[i] = 1;
  });
  const scorer = new AffinityScorer(
    rules,
    names.length,
    rank,
    {
      top,
      scoring: options.scoring ?? 'confidence',
      exclude,
    },
    support,
  );
  const bought = itemsByCustomer(ts);

  /** What customer c bought, as a profile's holdings: the most often bought first if too many. */
  const holdingsOf = (c: number): string[] => {
    const from = bought.offsets[c]!;
    const to = bought.offsets[c + 1]!;
    const idx: number[] = [];
    for (let i = from; i < to; i++) if (!exclude[bought.items[i]!]) idx.push(i);
    if (idx.length > MAX_HOLDINGS) {
      idx.sort(
        (a, b) => bought.times[b]! - bought.times[a]! || rank[bought.items[a]!]! - rank[bought.items[b]!]!,
      );
      idx.length = MAX_HOLDINGS;
    }
    return idx.map((i) => names[bought.items[i]!]!).sort();
  };
  const minedFor = (held: ArrayLike<number>): Affinity[] => {
    const { items, scores } = scorer.score(held);
    const out: Affinity[] = [];
    for (let i = 0; i < items.length; i++)
      out.push({ product: names[items[i]!]!, score: roundScore(scores[i]!) });
    return out;
  };

  const affinitiesFile = join(options.out, 'affinities.ndjson');
  const affOut = await openLines(affinitiesFile);
  let customers = 0;
  let withAffinities = 0;
  let total = 0;
  let skippedIds = 0;
  /** Writes customer c's line of affinities.ndjson and returns it. */
  const emit = async (c: number, mined: Affinity[]): Promise<string> => {
    customers++;
    if (mined.length > 0) withAffinities++;
    total += mined.length;
    const line = JSON.stringify({ id: ts.customerIds[c]!, holdings: holdingsOf(c), affinities: mined });
    await affOut.push(line);
    return line;
  };
  const validId = (id: string) => id.length >= 1 && id.length <= MAX_ID;
  const held = (c: number) => bought.items.subarray(bought.offsets[c]!, bought.offsets[c + 1]!);

  let profiles: MineSummary['profiles'] = null;
  try {
    if (options.profiles === undefined) {
      for (let c = 0; c < ts.customerIds.length; c++) {
        if (!validId(ts.customerIds[c]!)) {
          skippedIds++;
          continue;
        }
        await emit(c, minedFor(held(c)));
      }
    } else {
      profiles = await mergeProfiles(ts, options.profiles, options.out, top, {
        held,
        itemIndex: new Map(names.map((name, i) => [name, i])),
        minedFor,
        emit,
        validId,
        onSkipped: () => {
          skippedIds++;
        },
      });
    }
    await affOut.end();
  } catch (err) {
    await affOut.abort();
    throw err;
  }
  return {
    affinities: { file: affinitiesFile, customers, withAffinities, affinities: total, skippedIds },
    profiles,
  };
}

interface MergeHelpers {
  held(c: number): Int32Array;
  readonly itemIndex: ReadonlyMap<string, number>;
  minedFor(held: ArrayLike<number>): Affinity[];
  emit(c: number, mined: Affinity[]): Promise<string>;
  validId(id: string): boolean;
  onSkipped(): void;
}

/**
 * Streams the profiles file into DIR/profiles.ndjson with the mined affinities merged in. A
 * profile's holdings count as bought: rules fire on them and they are not recommended. A bad
 * profile line stops the merge (it would otherwise vanish from the population at the next load).
 */
async function mergeProfiles(
  ts: TransactionSet,
  file: string,
  outDir: string,
  top: number,
  h: MergeHelpers,
): Promise<NonNullable<MineSummary['profiles']>> {
  const customerIndex = new Map(ts.customerIds.map((id, c) => [id, c]));
  const seen = new Uint8Array(ts.customerIds.length);
  const outFile = join(outDir, 'profiles.ndjson');
  const out = await openLines(outFile);
  let count = 0;
  let merged = 0;
  let appended = 0;
  try {
    for await (const parsed of profileLines(file)) {
      if ('error' in parsed) throw new MalformedProfileError(file, parsed.line, parsed.error);
      const record: ProfileRecord = parsed.record;
      count++;
      const c = customerIndex.get(record.id);
      if (c === undefined) {
        await out.push(JSON.stringify(record));
        continue;
      }
      const held: number[] = Array.from(h.held(c));
      for (const product of record.holdings ?? []) {
        const item = h.itemIndex.get(product);
        if (item !== undefined) held.push(item);
      }
      const mined = h.minedFor(held);
      if (!seen[c]) {
        seen[c] = 1;
        await h.emit(c, mined);
      }
      if (mined.length > 0) {
        merged++;
        record.affinities = mergeAffinities(record.affinities ?? [], mined, top);
      }
      await out.push(JSON.stringify(record));
    }
    // Customers who bought but have no profile yet: new profiles, or the next load would drop them.
    for (let c = 0; c < ts.customerIds.length; c++) {
      if (seen[c]) continue;
      const id = ts.customerIds[c]!;
      if (!h.validId(id)) {
        h.onSkipped();
        continue;
      }
      await out.push(await h.emit(c, h.minedFor(h.held(c))));
      appended++;
    }
    await out.end();
  } catch (err) {
    await out.abort();
    throw err;
  }
  return { file: outFile, profiles: count + appended, merged, appended };
}

class MalformedProfileError extends Error {
  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
  }
}

function optionsOf(argv: readonly string[]): MineOptions & { json: boolean } {
  const f: FlagValues<typeof FLAGS> = flagsOnly(argv, FLAGS);
  if (!(AFFINITY_SCORINGS as readonly string[]).includes(f.score)) {
    throw new UsageError(`--score must be one of ${AFFINITY_SCORINGS.join(', ')}, got '${f.score}'`);
  }
  if (!(LAYOUTS as readonly string[]).includes(f.format)) {
    throw new UsageError(`--format must be one of ${LAYOUTS.join(', ')}, got '${f.format}'`);
  }
  if (f['max-length'] !== undefined && f['max-length'] < f['min-length']) {
    throw new UsageError(`--max-length (${f['max-length']}) is below --min-length (${f['min-length']})`);
  }
  return {
    transactions: f.transactions,
    out: f.out,
    minSupport: f['min-support'],
    minConfidence: f['min-confidence'],
    minLift: f['min-lift'],
    minLength: f['min-length'],
    ...(f['max-length'] === undefined ? {} : { maxLength: f['max-length'] }),
    maxConsequent: f['max-consequent'],
    ...(f.profiles === undefined ? {} : { profiles: f.profiles }),
    top: f.top,
    scoring: f.score as AffinityScoring,
    format: f.format as LayoutOption,
    maxItemsets: f['max-itemsets'],
    json: f.json,
  };
}

function formatSummary(s: MineSummary, o: MineOptions): string {
  const lines = [
    `read ${s.input.file} (${s.input.layout} format, ${(s.input.bytes / 1e6).toFixed(1)} MB): ` +
      `${formatCount(s.input.transactions)} transactions, ${formatCount(s.input.rows)} items of ` +
      `${formatCount(s.input.items)} products` +
      (s.input.customers > 0 ? `, ${formatCount(s.input.customers)} customers` : '') +
      ` in ${s.seconds.read.toFixed(1)} s`,
    `minimum support ${o.minSupport} = ${formatCount(s.minCount)} transactions: ${formatCount(s.itemsets.total)} ` +
      `frequent itemsets (${s.itemsets.byLength.map((n, i) => `${i + 1}: ${formatCount(n)}`).join(', ') || 'none'}) ` +
      `in ${s.seconds.mine.toFixed(1)} s`,
    `wrote ${s.rules.file}: ${formatCount(s.rules.count)} rules (confidence ≥ ${o.minConfidence}` +
      `${o.minLift ? `, lift ≥ ${o.minLift}` : ''}) in ${s.seconds.rules.toFixed(1)} s`,
  ];
  if (s.affinities !== null) {
    lines.push(
      `wrote ${s.affinities.file}: ${formatCount(s.affinities.customers)} customers, ` +
        `${formatCount(s.affinities.withAffinities)} with affinities (${formatCount(s.affinities.affinities)} in all)` +
        (s.affinities.skippedIds > 0
          ? `; ${formatCount(s.affinities.skippedIds)} customer ids longer than ${MAX_ID} characters skipped`
          : '') +
        ` in ${s.seconds.affinities.toFixed(1)} s`,
    );
  } else {
    lines.push('no customer ids in the input: no affinities written');
  }
  if (s.profiles !== null) {
    lines.push(
      `wrote ${s.profiles.file}: ${formatCount(s.profiles.profiles)} profiles, ${formatCount(s.profiles.merged)} ` +
        `with mined affinities merged, ${formatCount(s.profiles.appended)} appended for customers the profiles lacked`,
    );
  }
  lines.push(
    `total ${s.seconds.total.toFixed(1)} s; peak RSS ${s.memory.peakRssMB} MB, heap ${s.memory.peakHeapMB} MB ` +
      `(sampled between phases)`,
    '',
  );
  return lines.join('\n');
}

/** `offerloop mine …`; returns the exit code (0 done, 1 failed, 2 usage error). */
export async function runMine(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const options = parseCommand(argv, { name: 'mine', usage: MINE_USAGE }, io, () => optionsOf(argv));
  if (typeof options === 'number') return options;
  try {
    const summary = await mine(options, io);
    io.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : formatSummary(summary, options));
    return 0;
  } catch (err) {
    let message: string;
    if (err instanceof MalformedInputError) message = `${options.transactions}:${err.line}: ${err.reason}`;
    else if (err instanceof TooManyItemsetsError) {
      message = `${err.message}: raise --min-support or set --max-length (or raise --max-itemsets)`;
    } else message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`offerloop mine: ${message}\n`);
    return 1;
  }
}
