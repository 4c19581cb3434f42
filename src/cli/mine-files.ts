import { open, stat } from 'node:fs/promises';
import { join } from 'node:path';
import type { Affinity } from '../mining/affinities.js';
import type { CustomerAffinities } from '../mining/customer-affinities.js';
import { type AssociationRule, ruleRecord } from '../mining/rules.js';
import {
  type LayoutOption,
  type ParsedTransactions,
  TransactionParser,
} from '../mining/transaction-parser.js';
import { profileLines } from '../store/profile-lines.js';
import type { CliIo } from './args.js';
import { BatchedLines } from './line-writer.js';
import type { AffinitiesSummary, ProfilesSummary } from './mine-report.js';
import { formatCount, Progress } from './progress.js';

// The file steps of `offerloop mine`: read the transactions, write the rules, the customers'
// affinities and the merged profiles. What goes into the files is worked out in src/mining/.

/** Files from this size on get a progress meter on stderr. */
const PROGRESS_FROM_BYTES = 16 << 20;
const READ_CHUNK = 4 << 20;

/** A bad line of the --profiles file: it stops the merge. */
export class MalformedProfileError extends Error {
  override readonly name = 'MalformedProfileError';
  constructor(file: string, line: number, reason: string) {
    super(`${file}:${line}: ${reason}`);
  }
}

/** Reads and parses the transactions file, with a progress meter on large files. */
export async function readTransactionsFile(
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

/** DIR/rules.ndjson, one rule a line in the order given; returns the file's path. */
export async function writeRulesFile(
  dir: string,
  rules: readonly AssociationRule[],
  itemNames: readonly string[],
): Promise<string> {
  const file = join(dir, 'rules.ndjson');
  await (await BatchedLines.open(file)).writeAll(async (out) => {
    for (const rule of rules) await out.push(JSON.stringify(ruleRecord(rule, itemNames)));
  });
  return file;
}

/**
 * DIR/affinities.ndjson: one line per customer, `{id, holdings, affinities}`, a profile record
 * that `offerloop load` takes. With `profilesFile`, DIR/profiles.ndjson too: each of its profiles
 * with the customer's mined affinities merged in, and the customers it lacks appended. A customer
 * whose id cannot be a profile's is skipped.
 */
export async function writeCustomerFiles(
  dir: string,
  customers: CustomerAffinities,
  profilesFile: string | undefined,
): Promise<{ affinities: AffinitiesSummary; profiles: ProfilesSummary | null }> {
  const file = join(dir, 'affinities.ndjson');
  const counts = { customers: 0, withAffinities: 0, affinities: 0, skippedIds: 0 };
  let profiles: ProfilesSummary | null = null;
  await (await BatchedLines.open(file)).writeAll(async (out) => {
    /** Writes customer c's line of affinities.ndjson and returns it. */
    const emit = async (c: number, affinities = customers.affinitiesFor(customers.itemsOf(c))) => {
      counts.customers++;
      if (affinities.length > 0) counts.withAffinities++;
      counts.affinities += affinities.length;
      const line = JSON.stringify(customers.minedProfile(c, affinities));
      await out.push(line);
      return line;
    };
    if (profilesFile === undefined) {
      for (let c = 0; c < customers.customers; c++) {
        if (customers.validId(c)) await emit(c);
        else counts.skippedIds++;
      }
    } else {
      profiles = await mergeProfilesFile(profilesFile, dir, customers, emit, () => {
        counts.skippedIds++;
      });
    }
  });
  return { affinities: { file, ...counts }, profiles };
}

/**
 * Streams the profiles file into DIR/profiles.ndjson with the mined affinities merged in (see
 * CustomerAffinities.mergeInto). A bad profile line stops the merge: it would otherwise vanish
 * from the population at the next load.
 */
async function mergeProfilesFile(
  file: string,
  dir: string,
  customers: CustomerAffinities,
  emit: (c: number, affinities?: Affinity[]) => Promise<string>,
  onSkipped: () => void,
): Promise<ProfilesSummary> {
  const seen = new Uint8Array(customers.customers);
  const outFile = join(dir, 'profiles.ndjson');
  let count = 0;
  let merged = 0;
  let appended = 0;
  await (await BatchedLines.open(outFile)).writeAll(async (out) => {
    for await (const parsed of profileLines(file)) {
      if ('error' in parsed) throw new MalformedProfileError(file, parsed.line, parsed.error);
      count++;
      const c = customers.customerOf(parsed.record.id);
      if (c < 0) {
        await out.push(JSON.stringify(parsed.record));
        continue;
      }
      const { affinities, profile } = customers.mergeInto(parsed.record, c);
      if (!seen[c]) {
        seen[c] = 1;
        await emit(c, affinities);
      }
      if (affinities.length > 0) merged++;
      await out.push(JSON.stringify(profile));
    }
    // Customers who bought but have no profile yet: new profiles, or the next load would drop them.
    for (let c = 0; c < customers.customers; c++) {
      if (seen[c]) continue;
      if (!customers.validId(c)) {
        onSkipped();
        continue;
      }
      await out.push(await emit(c));
      appended++;
    }
  });
  return { file: outFile, profiles: count + appended, merged, appended };
}
