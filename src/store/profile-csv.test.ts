import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { CsvProfileParser, CsvProfileReader, splitCsvLine } from './profile-csv.js';
import { readProfilesFile } from './profile-file.js';
import { type ParsedLine, profileLines } from './profile-lines.js';

const HEADER = 'id,holdings,affinities,consent,segment,age,vip,balance';

function headerError(line: string): string {
  try {
    CsvProfileParser.fromHeader(line);
  } catch (err) {
    return (err as Error).message;
  }
  throw new Error(`no error for header ${JSON.stringify(line)}`);
}

describe('splitCsvLine', () => {
  it('splits plain fields, keeping empty ones', () => {
    expect(splitCsvLine('a,b,,d,')).toEqual(['a', 'b', '', 'd', '']);
    expect(splitCsvLine('')).toEqual(['']);
  });

  it('unquotes quoted fields with commas and doubled quotes', () => {
    expect(splitCsvLine('"a,b","say ""hi""",""""," x "')).toEqual(['a,b', 'say "hi"', '"', ' x ']);
    expect(splitCsvLine('"",x,""')).toEqual(['', 'x', '']);
  });

  it('drops the \\r of a CRLF line ending', () => {
    expect(splitCsvLine('a,b\r')).toEqual(['a', 'b']);
    expect(splitCsvLine('a,"b"\r')).toEqual(['a', 'b']);
  });

  it('says why a line is not CSV', () => {
    expect(splitCsvLine('a,"b')).toBe(
      'field 2: quoted field not closed on its line (this reader takes no line breaks inside quotes)',
    );
    expect(splitCsvLine('"a"b,c')).toBe('field 1: text after the closing quote');
    expect(splitCsvLine('a,b"c')).toBe('field 2: a quote in an unquoted field');
  });
});

describe('CsvProfileParser', () => {
  const parser = CsvProfileParser.fromHeader(HEADER);

  it('turns a full row into a ProfileRecord', () => {
    const line = 'c-1,card-gold;loan,card-gold:0.91;travel-ins:0.3,web;email,premium,42,true,-1250.5';
    expect(parser.parse(line)).toStrictEqual({
      id: 'c-1',
      holdings: ['card-gold', 'loan'],
      affinities: [
        { product: 'card-gold', score: 0.91 },
        { product: 'travel-ins', score: 0.3 },
      ],
      consent: { web: true, email: true },
      attributes: { segment: 'premium', age: 42, vip: true, balance: -1250.5 },
    });
  });

  it('leaves empty cells absent', () => {
    expect(parser.parse('c-2,,,,,,,')).toStrictEqual({ id: 'c-2' });
    expect(parser.parse('c-3,loan;,,,,0,false,')).toStrictEqual({
      id: 'c-3',
      holdings: ['loan'],
      attributes: { age: 0, vip: false },
    });
  });

  it('keeps text that only looks like a number a string', () => {
    const p = CsvProfileParser.fromHeader('id,zip,account,ratio,note');
    expect(p.parse('c-4,01234,12345678901234567890,1e3,TRUE')).toStrictEqual({
      id: 'c-4',
      attributes: { zip: '01234', account: '12345678901234567890', ratio: '1e3', note: 'TRUE' },
    });
  });

  it('reads quoted cells with commas and doubled quotes', () => {
    const p = CsvProfileParser.fromHeader('"id",name,holdings');
    expect(p.columns).toEqual(['id', 'name', 'holdings']);
    expect(p.parse('"c,5","Smith, ""Jo""","a;""b"""')).toStrictEqual({
      id: 'c,5',
      attributes: { name: 'Smith, "Jo"' },
      holdings: ['a', '"b"'],
    });
  });

  it('says why a row is bad', () => {
    expect(parser.parse('c-1,,card-gold:x,,,,,')).toBe(
      "column 3 (affinities): 'card-gold:x' is not product:score",
    );
    expect(parser.parse('c-1,,card-gold,,,,,')).toBe(
      "column 3 (affinities): 'card-gold' is not product:score",
    );
    expect(parser.parse('c-1,,card-gold:,,,,,')).toBe(
      "column 3 (affinities): 'card-gold:' is not product:score",
    );
    expect(parser.parse('c-1,,:0.5,,,,,')).toBe("column 3 (affinities): ':0.5' is not product:score");
    expect(parser.parse('c-1,,,web;fax,,,,')).toBe(
      "column 4 (consent): unknown channel 'fax' (expected one of call_center, web, mobile, sales_force, email)",
    );
    expect(parser.parse(',,,,,,,')).toBe('column 1 (id): empty');
    expect(parser.parse('c-1,,,,')).toBe('expected 8 fields, got 5');
    expect(parser.parse('c-1,"loan,,,,,,')).toBe(
      'field 2: quoted field not closed on its line (this reader takes no line breaks inside quotes)',
    );
  });

  it('reports what the profile schema refuses', () => {
    expect(parser.parse('c-1,,card-gold:1.5,,,,,')).toBe('/affinities/0/score must be <= 1');
    expect(parser.parse(`${'x'.repeat(129)},,,,,,,`)).toBe('/id must NOT have more than 128 characters');
  });
});

describe('CsvProfileParser.fromHeader', () => {
  it('needs an id column', () => {
    expect(headerError('holdings,age')).toBe("CSV header: no 'id' column (columns: holdings, age)");
  });

  it('refuses duplicate columns', () => {
    expect(headerError('id,age,segment,age')).toBe("CSV header: duplicate column 'age' (columns 2 and 4)");
  });

  it('refuses attribute names the schema would refuse', () => {
    const hint =
      'is not a valid attribute name (letters, digits and _, not starting with a digit, at most 64 characters)';
    expect(headerError('id,first name')).toBe(`CSV header: column 2 'first name' ${hint}`);
    expect(headerError('id,2nd')).toBe(`CSV header: column 2 '2nd' ${hint}`);
    expect(headerError('id,')).toBe(`CSV header: column 2 '' ${hint}`);
    expect(headerError('id,__proto__')).toBe(`CSV header: column 2 '__proto__' ${hint}`);
  });

  it('refuses a header that is not CSV', () => {
    expect(headerError('id,"age')).toBe(
      'CSV header: field 2: quoted field not closed on its line (this reader takes no line breaks inside quotes)',
    );
  });

  it('ignores a byte order mark', () => {
    expect(CsvProfileParser.fromHeader('\uFEFFid,age').parse('c-1,7')).toStrictEqual({
      id: 'c-1',
      attributes: { age: 7 },
    });
  });
});

/** What the reader makes of `text`, fed in pieces of `size` bytes. */
function readCsv(text: string, size = 7): ParsedLine[] {
  const bytes = new TextEncoder().encode(text);
  const reader = new CsvProfileReader();
  const out: ParsedLine[] = [];
  for (let i = 0; i < bytes.length; i += size) out.push(...reader.push(bytes.subarray(i, i + size)));
  out.push(...reader.end());
  return out;
}

describe('CsvProfileReader', () => {
  it('reads quoted fields over several lines (LF or CRLF), numbering each record by its first line', () => {
    const text =
      '\uFEFFid,note,holdings\r\n' +
      'c-1,"two\r\nlines",loan\r\n' +
      '\r\n' +
      'c-2,"say ""hi"",\n\nthen, bye",\r\n' +
      '"c-3","","card;\n"\n';
    for (const size of [1, 3, 7, 1000]) {
      expect(readCsv(text, size)).toStrictEqual([
        { line: 2, record: { id: 'c-1', holdings: ['loan'], attributes: { note: 'two\r\nlines' } } },
        { line: 5, record: { id: 'c-2', attributes: { note: 'say "hi",\n\nthen, bye' } } },
        { line: 8, record: { id: 'c-3', holdings: ['card'] } },
      ]);
    }
  });

  it('goes on after a bad record, reports a quote left open at the end, and takes lone CRs as line breaks', () => {
    for (const size of [1, 2, 7, 1000]) {
      expect(readCsv('id,age,note\rc-1,"7"x,\r\rc-2,8,"a\rb"\r\nc-3,"9\r', size)).toStrictEqual([
        { line: 2, error: 'field 2: text after the closing quote' },
        { line: 4, record: { id: 'c-2', attributes: { age: 8, note: 'a\nb' } } },
        { line: 6, error: 'field 2: quoted field not closed at the end of the input' },
      ]);
    }
  });

  it('throws on a header that is not a profile header, or not CSV', () => {
    expect(() => readCsv('\n\nname,age\nx,1\n')).toThrow("CSV header: no 'id' column (columns: name, age)");
    expect(() => readCsv('id,"age\n')).toThrow(
      'CSV header: field 2: quoted field not closed at the end of the input',
    );
  });
});

describe('profileLines and readProfilesFile on CSV files', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'offerloop-profile-csv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('read multi-line quoted fields from a file', async () => {
    const file = path.join(dir, 'profiles.csv');
    const rows = Array.from({ length: 5000 }, (_, i) => `c-${i},"line one\nline ${i}",${i}`);
    writeFileSync(file, `id,address,age\n${rows.join('\n')}\nc-bad,x\n`);
    const parsed: ParsedLine[] = [];
    for await (const line of profileLines(file)) parsed.push(line);
    expect(parsed).toHaveLength(5001);
    expect(parsed[4999]).toStrictEqual({
      line: 2 + 2 * 4999,
      record: { id: 'c-4999', attributes: { address: 'line one\nline 4999', age: 4999 } },
    });
    expect(parsed[5000]).toStrictEqual({ line: 10_002, error: 'expected 3 fields, got 2' });

    const result = await readProfilesFile(file);
    expect(result.profiles).toHaveLength(5000);
    expect(result.profiles[1]?.attributes.address).toBe('line one\nline 1');
    expect(result.bad).toStrictEqual([{ line: 10_002, reason: 'expected 3 fields, got 2' }]);
  });
});
