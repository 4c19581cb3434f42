import { type CsvRecord, CsvTokenizer, fieldTexts, sliceFields } from '../csv/csv-tokenizer.js';
import { CHANNELS, type Channel, channelIndex } from '../domain/channel.js';
import type { AttributeValue, ProfileRecord } from '../domain/profile.js';
import { profileRecordSchema } from '../domain/profile-schema.js';
import { type ParsedLine, validateProfileRecord } from './profile-record.js';

type ColumnKind = 'id' | 'holdings' | 'affinities' | 'consent' | 'attribute';

const ATTRIBUTE_NAME = new RegExp(profileRecordSchema.properties.attributes.propertyNames.pattern);
/**
 * Plain decimals only. No leading zeros and at most 15 integer digits, so postcodes ("01234")
 * and long account numbers stay strings instead of being silently mangled into numbers.
 */
const DECIMAL = /^-?(?:0|[1-9]\d{0,14})(?:\.\d+)?$/;

/** Splits strings, one line each, with the shared tokenizer. */
class LineSplitter {
  private readonly encoder = new TextEncoder();
  private readonly tokenizer = new CsvTokenizer((record) => this.take(record));
  private bytes = new Uint8Array(1024);
  private text = '';
  private ascii = false;
  private fields: string[] | string = [];

  split(line: string): string[] | string {
    if (this.bytes.length < line.length * 3) this.bytes = new Uint8Array(line.length * 3);
    const { written } = this.encoder.encodeInto(line, this.bytes);
    this.text = line;
    this.ascii = written === line.length;
    this.tokenizer.tokenizeLine(this.bytes, 0, written);
    this.text = '';
    return this.fields;
  }

  private take(record: CsvRecord): void {
    if (record.error !== null) this.fields = record.error;
    // Fields in place in an ASCII line are slices of it.
    else if (this.ascii && record.bytes === this.bytes) this.fields = sliceFields(record, this.text);
    else this.fields = fieldTexts(record);
  }
}

const lineSplitter = new LineSplitter();

/**
 * Splits one CSV line into its fields (RFC 4180 quoting, by CsvTokenizer), or says why not. The
 * line is one whole record: a quote left open at its end is an error.
 */
export function splitCsvLine(line: string): string[] | string {
  return lineSplitter.split(line);
}

/** The items of a `;`-separated cell: trimmed, empty ones (`a;;b`, a trailing `;`) skipped. */
function items(cell: string): string[] {
  const out: string[] = [];
  for (const item of cell.split(';')) {
    const trimmed = item.trim();
    if (trimmed !== '') out.push(trimmed);
  }
  return out;
}

function attributeValue(cell: string): AttributeValue {
  if (cell === 'true') return true;
  if (cell === 'false') return false;
  return DECIMAL.test(cell) ? Number(cell) : cell;
}

/**
 * Reads profiles from CSV: a header line names the columns, then one profile per line.
 * `id` is required; `holdings` (`p1;p2`), `affinities` (`p1:0.9;p2:0.3`) and `consent`
 * (`web;email`) are lists; every other column is an attribute, absent when its cell is empty.
 */
export class CsvProfileParser {
  private constructor(
    private readonly names: readonly string[],
    private readonly kinds: readonly ColumnKind[],
  ) {}

  /** The parser for the header line `line` (a byte-order mark at its start is skipped). */
  static fromHeader(line: string): CsvProfileParser {
    const fields = splitCsvLine(line);
    if (typeof fields === 'string') throw new Error(`CSV header: ${fields}`);
    return CsvProfileParser.fromColumns(fields);
  }

  /** The parser for a header of these column names; throws when they are not a profile's. */
  static fromColumns(fields: readonly string[]): CsvProfileParser {
    const seen = new Map<string, number>();
    const kinds = fields.map((name, i): ColumnKind => {
      const first = seen.get(name);
      if (first !== undefined) {
        throw new Error(`CSV header: duplicate column '${name}' (columns ${first + 1} and ${i + 1})`);
      }
      seen.set(name, i);
      if (name === 'id' || name === 'holdings' || name === 'affinities' || name === 'consent') return name;
      // __proto__ fits the pattern but would set the prototype of the attributes object.
      if (!ATTRIBUTE_NAME.test(name) || name === '__proto__') {
        throw new Error(
          `CSV header: column ${i + 1} '${name}' is not a valid attribute name (letters, digits and _, not starting with a digit, at most 64 characters)`,
        );
      }
      return 'attribute';
    });
    if (!seen.has('id')) throw new Error(`CSV header: no 'id' column (columns: ${fields.join(', ')})`);
    return new CsvProfileParser([...fields], kinds);
  }

  /** The column names, in file order. */
  get columns(): readonly string[] {
    return this.names;
  }

  /**
   * Parses one data line into a record that passed the profile schema, or says why not. For
   * readers that cut files into lines themselves (the bulk loader): a record must be on one line.
   */
  parse(line: string): ProfileRecord | string {
    const fields = splitCsvLine(line);
    return typeof fields === 'string' ? fields : this.parseFields(fields);
  }

  /** Turns the fields of one data record into a record that passed the profile schema, or says why not. */
  parseFields(fields: readonly string[]): ProfileRecord | string {
    if (fields.length !== this.kinds.length) {
      return `expected ${this.kinds.length} fields, got ${fields.length}`;
    }
    const record: ProfileRecord = { id: '' };
    let attributes: Record<string, AttributeValue> | undefined;
    for (let i = 0; i < fields.length; i++) {
      const cell = fields[i]!;
      const name = this.names[i]!;
      switch (this.kinds[i]) {
        case 'id':
          if (cell === '') return `column ${i + 1} (id): empty`;
          record.id = cell;
          break;
        case 'holdings': {
          const holdings = items(cell);
          if (holdings.length > 0) record.holdings = holdings;
          break;
        }
        case 'affinities': {
          const affinities: { product: string; score: number }[] = [];
          for (const item of items(cell)) {
            const colon = item.lastIndexOf(':');
            const score = colon < 0 ? Number.NaN : Number(item.slice(colon + 1));
            const product = item.slice(0, colon).trim();
            // Number('') is 0, so an empty score must be caught by the product/score check too.
            if (product === '' || colon === item.length - 1 || !Number.isFinite(score)) {
              return `column ${i + 1} (${name}): '${item}' is not product:score`;
            }
            affinities.push({ product, score });
          }
          if (affinities.length > 0) record.affinities = affinities;
          break;
        }
        case 'consent': {
          const consent: Partial<Record<Channel, boolean>> = {};
          let any = false;
          for (const channel of items(cell)) {
            if (channelIndex(channel) < 0) {
              return `column ${i + 1} (${name}): unknown channel '${channel}' (expected one of ${CHANNELS.join(', ')})`;
            }
            consent[channel as Channel] = true;
            any = true;
          }
          if (any) record.consent = consent;
          break;
        }
        default:
          if (cell === '') break;
          attributes ??= {};
          attributes[name] = attributeValue(cell);
      }
    }
    if (attributes) record.attributes = attributes;
    return validateProfileRecord(record);
  }
}

const CR = 13;
const LF = 10;
const CR_BYTE = Uint8Array.of(CR);
const LF_BYTE = Uint8Array.of(LF);

/**
 * Reads a CSV profiles file from its bytes, chunk by chunk: the first record is the header, then
 * one profile per record. Quoted fields may span lines; a record is reported at the line it starts
 * on. A lone CR (old Mac files) ends a line, as node:readline and the bulk loader take it. A
 * header that is not a profile's throws.
 */
export class CsvProfileReader {
  private parser: CsvProfileParser | null = null;
  private parsed: ParsedLine[] = [];
  private readonly tokenizer = new CsvTokenizer((record) => this.take(record));
  /** The last chunk ended with a CR: a line break either way, CRLF if the next byte is LF. */
  private pendingCr = false;
  // The chunk being read and, when it is all ASCII, its text: fields in place are slices of it
  // (one decode a chunk instead of one a record).
  private readonly decoder = new TextDecoder('utf-8', { ignoreBOM: true });
  private chunk: Uint8Array | null = null;
  private chunkText = '';

  /** The records that `chunk` completes. */
  push(chunk: Uint8Array): ParsedLine[] {
    if (chunk.length === 0) return [];
    if (this.pendingCr) {
      this.pendingCr = false;
      this.tokenizer.push(chunk[0] === LF ? CR_BYTE : LF_BYTE);
    }
    let end = chunk.length;
    if (chunk[end - 1] === CR) {
      this.pendingCr = true;
      end--;
    }
    let bytes = end === chunk.length ? chunk : chunk.subarray(0, end);
    let copied = false;
    for (let cr = bytes.indexOf(CR); cr >= 0; cr = bytes.indexOf(CR, cr + 1)) {
      if (cr + 1 < end && bytes[cr + 1] === LF) continue; // CRLF; else a lone CR, or one before the held-back CR
      if (!copied) {
        bytes = bytes.slice();
        copied = true;
      }
      bytes[cr] = LF;
    }
    const text = this.decoder.decode(bytes);
    this.chunk = bytes;
    this.chunkText = text.length === bytes.length ? text : '';
    this.tokenizer.push(bytes);
    this.chunk = null;
    this.chunkText = '';
    return this.drain();
  }

  /** The last records, at the end of the file. */
  end(): ParsedLine[] {
    if (this.pendingCr) {
      this.pendingCr = false;
      this.tokenizer.push(LF_BYTE);
    }
    this.tokenizer.end();
    return this.drain();
  }

  private take(record: CsvRecord): void {
    if (this.parser === null) {
      if (record.error !== null) throw new Error(`CSV header: ${record.error}`);
      this.parser = CsvProfileParser.fromColumns(fieldTexts(record));
      return;
    }
    const result = record.error ?? this.parser.parseFields(this.texts(record));
    this.parsed.push(
      typeof result === 'string'
        ? { line: record.line, error: result }
        : { line: record.line, record: result },
    );
  }

  private texts(record: CsvRecord): string[] {
    if (record.bytes !== this.chunk || this.chunkText === '') return fieldTexts(record);
    return sliceFields(record, this.chunkText);
  }

  private drain(): ParsedLine[] {
    const parsed = this.parsed;
    this.parsed = [];
    return parsed;
  }
}
