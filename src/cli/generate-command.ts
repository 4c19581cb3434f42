import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { finished } from 'node:stream/promises';
import type { ProfileRecord } from '../domain/profile.js';
import { catalogProducts, generateRuleset, rulesFileTexts } from '../sim/catalog.js';
import { DEFAULT_AFFINITIES, generatePopulation } from '../sim/population.js';
import {
  DEFAULT_BASKETS,
  generateTransactions,
  TRANSACTIONS_CSV_HEADER,
  toCsvLines,
} from '../sim/transactions.js';
import {
  type CliIo,
  type CliOutput,
  flagsOnly,
  formatFlags,
  parseCommand,
  processIo,
  UsageError,
} from './args.js';
import { formatCount } from './progress.js';

const FLAGS = {
  offers: {
    type: 'integer',
    required: true,
    min: 1,
    max: 1_000_000,
    placeholder: 'N',
    description: 'offers in the ruleset',
  },
  customers: {
    type: 'integer',
    required: true,
    min: 0,
    max: 1_000_000_000,
    placeholder: 'M',
    description: 'customer profiles (cust-1 … cust-M)',
  },
  out: {
    type: 'string',
    required: true,
    placeholder: 'DIR',
    description: 'output directory (created if missing)',
  },
  affinities: {
    type: 'integer',
    default: DEFAULT_AFFINITIES,
    min: 0,
    max: 10_000,
    placeholder: 'K',
    description: 'top-K product affinities per customer',
  },
  seed: {
    type: 'string',
    default: '42',
    placeholder: 'S',
    description: 'seed: the same seed gives the same data',
  },
  baskets: {
    type: 'integer',
    default: DEFAULT_BASKETS,
    min: 0,
    max: 10_000,
    placeholder: 'B',
    description: 'purchase baskets per customer',
  },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

export const GENERATE_USAGE = `Usage: offerloop generate --offers N --customers M --out DIR [options]

Writes a synthetic, reproducible world:
  DIR/rules/*.yaml         a ruleset of N offers (segments, campaigns, offers, contact policies)
  DIR/profiles.ndjson      M customer profiles with affinities over the ruleset's products
  DIR/transactions.csv     purchase baskets (transaction_id,item,customer_id), for market-basket mining

Options:
${formatFlags(FLAGS)}
`;

/** Customers per batch: profiles of a batch are written, then their baskets. */
const BATCH = 1000;
/** Strings are joined into chunks of about this many characters before they go to the stream. */
const CHUNK = 1 << 18;
/** From this many customers on, progress is reported on stderr. */
const PROGRESS_FROM = 50_000;

/**
 * Joins lines into large chunks and writes them to a file stream, waiting for 'drain' when the
 * stream's buffer is full so that memory stays flat however many lines go through.
 */
class ChunkedWriter {
  private parts: string[] = [];
  private size = 0;
  bytes = 0;

  constructor(private readonly stream: WriteStream) {}

  /** Adds a line; true when the caller should `await flush()`. */
  push(line: string): boolean {
    this.parts.push(line, '\n');
    this.size += line.length + 1;
    return this.size >= CHUNK;
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    // Encoded once here, so that the byte count costs nothing and the stream does not re-encode.
    const chunk = Buffer.from(this.parts.join(''));
    this.parts = [];
    this.size = 0;
    this.bytes += chunk.length;
    // once() rejects if the stream emits 'error' while we wait.
    if (!this.stream.write(chunk)) await once(this.stream, 'drain');
  }

  async close(): Promise<void> {
    await this.flush();
    this.stream.end();
    await finished(this.stream);
  }
}

function openWriter(path: string): Promise<ChunkedWriter> {
  const stream = createWriteStream(path);
  // Surface open errors (missing directory, permissions) here rather than on the first write.
  return new Promise((resolve, reject) => {
    stream.once('error', reject);
    stream.once('open', () => {
      stream.off('error', reject);
      resolve(new ChunkedWriter(stream));
    });
  });
}

class Progress {
  private shown = -1;
  private readonly enabled: boolean;

  constructor(
    private readonly out: CliOutput,
    private readonly total: number,
  ) {
    this.enabled = total >= PROGRESS_FROM;
  }

  update(done: number): void {
    if (!this.enabled) return;
    const percent = Math.floor((done * 100) / this.total);
    if (this.out.isTTY) {
      if (percent === this.shown) return;
      this.out.write(
        `\rgenerating: ${percent}% (${formatCount(done)} / ${formatCount(this.total)} customers)`,
      );
      this.shown = percent;
      if (done === this.total) this.out.write('\n');
    } else {
      const step = Math.floor(percent / 10) * 10;
      if (step === 0 || step <= this.shown) return;
      this.out.write(`generating: ${step}% (${formatCount(done)} / ${formatCount(this.total)} customers)\n`);
      this.shown = step;
    }
  }
}

/** `offerloop generate …`; returns the exit code (0 done, 1 failed, 2 usage error). */
export async function runGenerate(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const flags = parseCommand(argv, { name: 'generate', usage: GENERATE_USAGE }, io, () => {
    const flags = flagsOnly(argv, FLAGS);
    if (flags.seed.trim() === '') throw new UsageError('--seed must not be empty');
    return flags;
  });
  if (typeof flags === 'number') return flags;

  const started = performance.now();
  const { offers, customers, out, affinities, seed, baskets } = flags;
  try {
    const files = generateRuleset({ offers, seed });
    const products = catalogProducts(files);
    const rulesDir = join(out, 'rules');
    await mkdir(rulesDir, { recursive: true });
    // The seed is free text: keep it on the comment line.
    const header = `# Generated by: offerloop generate --offers ${offers} --seed ${seed.replace(/[\r\n]+/g, ' ')}\n`;
    for (const { name, text } of rulesFileTexts(files, header)) await writeFile(join(rulesDir, name), text);

    const profilesPath = join(out, 'profiles.ndjson');
    const transactionsPath = join(out, 'transactions.csv');
    const profileWriter = await openWriter(profilesPath);
    const txWriter = await openWriter(transactionsPath).catch(async (err: unknown) => {
      await profileWriter.close().catch(() => {});
      throw err;
    });
    let transactions = 0;
    let items = 0;
    try {
      const progress = new Progress(io.stderr, customers);
      txWriter.push(TRANSACTIONS_CSV_HEADER);
      const batch: ProfileRecord[] = [];
      let done = 0;
      const writeBatch = async () => {
        for (const profile of batch) {
          if (profileWriter.push(JSON.stringify(profile))) await profileWriter.flush();
        }
        const txs = generateTransactions(batch, {
          seed,
          basketsPerCustomer: baskets,
          products,
          startId: transactions + 1,
        });
        for (const t of txs) {
          transactions++;
          for (const line of toCsvLines([t], { header: false })) {
            items++;
            if (txWriter.push(line)) await txWriter.flush();
          }
        }
        done += batch.length;
        batch.length = 0;
        progress.update(done);
      };
      for (const profile of generatePopulation(customers, products, { seed, affinities })) {
        batch.push(profile);
        if (batch.length === BATCH) await writeBatch();
      }
      if (batch.length > 0) await writeBatch();
    } catch (err) {
      await Promise.allSettled([profileWriter.close(), txWriter.close()]);
      throw err;
    }
    await profileWriter.close();
    await txWriter.close();

    const ruleCounts = Object.values(files).reduce(
      (acc, f) => ({
        segments: acc.segments + (f.segments?.length ?? 0),
        campaigns: acc.campaigns + (f.campaigns?.length ?? 0),
        policies: acc.policies + (f.contactPolicies?.length ?? 0),
      }),
      { segments: 0, campaigns: 0, policies: 0 },
    );
    const seconds = ((performance.now() - started) / 1000).toFixed(1);
    io.stdout.write(
      [
        `wrote ${rulesDir}: ${formatCount(offers)} offers over ${formatCount(products.length)} products, ` +
          `${ruleCounts.campaigns} campaigns, ${ruleCounts.segments} segments, ${ruleCounts.policies} contact policies`,
        `wrote ${profilesPath}: ${formatCount(customers)} customers, up to ${affinities} affinities each ` +
          `(${(profileWriter.bytes / 1e6).toFixed(1)} MB)`,
        `wrote ${transactionsPath}: ${formatCount(transactions)} baskets, ${formatCount(items)} items ` +
          `(${(txWriter.bytes / 1e6).toFixed(1)} MB)`,
        `seed ${seed}, ${seconds} s`,
        '',
      ].join('\n'),
    );
    return 0;
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    io.stderr.write(`offerloop generate: ${message}\n`);
    return 1;
  }
}
