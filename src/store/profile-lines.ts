import { createReadStream } from 'node:fs';
import { createInterface } from 'node:readline';
import type { ProfileRecord } from '../domain/profile.js';
import { CsvProfileParser } from './profile-csv.js';
import { parseRecordLine } from './profile-file.js';

export type ProfileFormat = 'ndjson' | 'csv';

/** One line of an input file: a record, or why it is not one. */
export type ParsedLine =
  | { readonly line: number; readonly record: ProfileRecord }
  | { readonly line: number; readonly error: string };

export function formatOf(file: string): ProfileFormat {
  return /\.csv$/i.test(file) ? 'csv' : 'ndjson';
}

/**
 * The lines of a profiles file (NDJSON, or CSV with a header), each parsed into a record or the
 * reason it is not one, with its line number. Blank lines are skipped. `onBytes` reports how much
 * of the file was read, for a progress bar.
 */
export async function* profileLines(
  file: string,
  format: ProfileFormat = formatOf(file),
  onBytes?: (bytes: number) => void,
): AsyncGenerator<ParsedLine> {
  const stream = createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 });
  let bytes = 0;
  if (onBytes) stream.on('data', (chunk) => onBytes((bytes += Buffer.byteLength(chunk))));
  const input = createInterface({ input: stream, crlfDelay: Number.POSITIVE_INFINITY });
  let csv: CsvProfileParser | null = null;
  let line = 0;
  for await (const text of input) {
    line++;
    if (text.trim() === '') continue;
    if (format === 'csv' && csv === null) {
      csv = CsvProfileParser.fromHeader(text);
      continue;
    }
    const result = csv !== null ? csv.parse(text) : parseRecordLine(text);
    yield typeof result === 'string' ? { line, error: result } : { line, record: result };
  }
}
