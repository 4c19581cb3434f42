import { mkdir, stat } from 'node:fs/promises';
import { profileRecordSchema } from '../domain/profile-schema.js';
import { AFFINITY_SCORINGS, type AffinityScoring } from '../mining/affinities.js';
import { CustomerAffinities } from '../mining/customer-affinities.js';
import { DEFAULT_MAX_ITEMSETS, mineFrequentItemsets, minSupportCount } from '../mining/fp-growth.js';
import { TooManyItemsetsError } from '../mining/itemsets.js';
import { DEFAULT_MIN_LENGTH, generateRules, sortRules } from '../mining/rules.js';
import { type LayoutOption, MalformedInputError } from '../mining/transaction-parser.js';
import {
  type CliIo,
  type FlagValues,
  flagsOnly,
  formatFlags,
  parseCommand,
  processIo,
  UsageError,
} from './args.js';
import { readTransactionsFile, writeCustomerFiles, writeRulesFile } from './mine-files.js';
import { formatMineSummary, type MineSummary } from './mine-report.js';

export type { MineSummary } from './mine-report.js';

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

/** Scores are written with this many decimals: the profile codec keeps about 5. */
const SCORE_DECIMALS = 4;

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

/** Samples memory between the steps: peaks of the heap and of array buffers. */
class Meter {
  peakHeap = 0;
  peakArrayBuffers = 0;

  sample(): void {
    const m = process.memoryUsage();
    this.peakHeap = Math.max(this.peakHeap, m.heapUsed);
    this.peakArrayBuffers = Math.max(this.peakArrayBuffers, m.arrayBuffers);
  }
}

/**
 * The whole pipeline: read, mine, write rules, then affinities (and merged profiles). Throws
 * MalformedInputError (with the line), TooManyItemsetsError, MalformedProfileError and I/O errors.
 */
export async function mine(options: MineOptions, io: CliIo = processIo): Promise<MineSummary> {
  const started = performance.now();
  const meter = new Meter();
  const maxLength = options.maxLength;

  // A missing profiles file should fail now, not after the mining.
  if (options.profiles !== undefined) await stat(options.profiles);
  // 1. Read.
  const { parsed, bytes } = await readTransactionsFile(options.transactions, options.format ?? 'auto', io);
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
  const rulesFile = await writeRulesFile(options.out, rules, ts.itemNames);
  meter.sample();
  const rulesDone = performance.now();

  // 4. Affinities, and the merged profiles.
  let customerFiles: Pick<MineSummary, 'affinities' | 'profiles'> = { affinities: null, profiles: null };
  if (parsed.hasCustomers) {
    const customers = new CustomerAffinities(ts, rules, {
      top: options.top ?? DEFAULT_TOP,
      scoring: options.scoring ?? 'confidence',
      decimals: SCORE_DECIMALS,
      maxProduct: profileRecordSchema.properties.affinities.items.properties.product.maxLength,
      maxHoldings: profileRecordSchema.properties.holdings.maxItems,
      maxId: profileRecordSchema.properties.id.maxLength,
    });
    customerFiles = await writeCustomerFiles(options.out, customers, options.profiles);
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
    ...customerFiles,
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

/** `offerloop mine …`; returns the exit code (0 done, 1 failed, 2 usage error). */
export async function runMine(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const options = parseCommand(argv, { name: 'mine', usage: MINE_USAGE }, io, () => optionsOf(argv));
  if (typeof options === 'number') return options;
  try {
    const summary = await mine(options, io);
    io.stdout.write(options.json ? `${JSON.stringify(summary)}\n` : formatMineSummary(summary, options));
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
