import { CHANNELS, type Channel, channelIndex } from '../domain/channel.js';
import type { AttributeValue, ProfileRecord } from '../domain/profile.js';
import { profileRecordSchema } from '../domain/profile-schema.js';
import { validateProfileRecord } from './profile-file.js';

type ColumnKind = 'id' | 'holdings' | 'affinities' | 'consent' | 'attribute';

const ATTRIBUTE_NAME = new RegExp(profileRecordSchema.properties.attributes.propertyNames.pattern);
/**
 * Plain decimals only. No leading zeros and at most 15 integer digits, so postcodes ("01234")
 * and long account numbers stay strings instead of being silently mangled into numbers.
 */
const DECIMAL = /^-?(?:0|[1-9]\d{0,14})(?:\.\d+)?$/;
const QUOTE = 34; // "
const COMMA = 44; // ,

/**
 * Splits one CSV line into its fields (RFC 4180 quoting), or says why not. A quote left open at
 * the end of the line is an error: the loader reads line by line, so a quoted field cannot span lines.
 */
export function splitCsvLine(line: string): string[] | string {
  const end = line.endsWith('\r') ? line.length - 1 : line.length;
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    if (line.charCodeAt(i) === QUOTE) {
      let value = '';
      let from = i + 1;
      for (;;) {
        const q = line.indexOf('"', from);
        if (q < 0) {
          return `field ${fields.length + 1}: unterminated quoted field (multi-line quoted fields are not supported)`;
        }
        if (line.charCodeAt(q + 1) !== QUOTE) {
          value += line.slice(from, q);
          i = q + 1;
          break;
        }
        value += line.slice(from, q + 1); // "" inside quotes is one "
        from = q + 2;
      }
      fields.push(value);
      if (i >= end) return fields;
      if (line.charCodeAt(i) !== COMMA) return `field ${fields.length}: text after the closing quote`;
      i++;
    } else {
      const comma = line.indexOf(',', i);
      const stop = comma < 0 ? end : comma;
      const value = line.slice(i, stop);
      if (value.includes('"')) return `field ${fields.length + 1}: a quote in an unquoted field`;
      fields.push(value);
      if (stop === end) return fields;
      i = stop + 1;
    }
  }
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

  static fromHeader(line: string): CsvProfileParser {
    // Spreadsheet exports often start with a byte order mark, which would otherwise rename column 1.
    const fields = splitCsvLine(line.startsWith('\uFEFF') ? line.slice(1) : line);
    if (typeof fields === 'string') throw new Error(`CSV header: ${fields}`);
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
    return new CsvProfileParser(fields, kinds);
  }

  /** The column names, in file order. */
  get columns(): readonly string[] {
    return this.names;
  }

  /** Parses one data line into a record that passed the profile schema, or says why not. */
  parse(line: string): ProfileRecord | string {
    const fields = splitCsvLine(line);
    if (typeof fields === 'string') return fields;
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
