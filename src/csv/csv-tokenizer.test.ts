import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pushInChunks } from '../../test/support/push-in-chunks.js';
import { type CsvOptions, type CsvRecord, CsvTokenizer } from './csv-tokenizer.js';

const encoder = new TextEncoder();
const decoder = new TextDecoder('utf-8', { ignoreBOM: true });

interface Row {
  line: number;
  fields: string[];
  error?: string;
}

function rowOf(r: CsvRecord): Row {
  const fields = Array.from({ length: r.count }, (_, f) =>
    decoder.decode(r.bytes.subarray(r.starts[f]!, r.ends[f]!)),
  );
  return r.error === null ? { line: r.line, fields } : { line: r.line, fields, error: r.error };
}

/** The records of `text`, fed in chunks cut at `cuts`. */
function tokenize(text: string, options: CsvOptions = {}, cuts: number[] = []): Row[] {
  const bytes = encoder.encode(text);
  const rows: Row[] = [];
  const tokenizer = new CsvTokenizer((r) => rows.push(rowOf(r)), options);
  pushInChunks(bytes, cuts, (chunk) => tokenizer.push(chunk));
  tokenizer.end();
  return rows;
}

const fieldsOf = (text: string, options?: CsvOptions) => tokenize(text, options).map((r) => r.fields);

describe('CsvTokenizer', () => {
  it('splits plain lines, keeping empty fields, skipping blank lines, with LF or CRLF and no final break', () => {
    expect(tokenize('a,b,,d,\r\n\r\n \t\nx\ny,z')).toEqual([
      { line: 1, fields: ['a', 'b', '', 'd', ''] },
      { line: 4, fields: ['x'] },
      { line: 5, fields: ['y', 'z'] },
    ]);
  });

  it('unquotes quoted fields: commas, doubled quotes and empty quotes', () => {
    expect(fieldsOf('"a,b","say ""hi""",""""," x ","",x,""\n')).toEqual([
      ['a,b', 'say "hi"', '"', ' x ', '', 'x', ''],
    ]);
    expect(fieldsOf('"a",\n')).toEqual([['a', '']]);
  });

  it('keeps line breaks inside quoted fields as they are, and numbers a record by its first line', () => {
    const rows = tokenize('id,note\n1,"two\nlines"\r\n2,"crlf\r\nand ""quote"",\n\nblank"\n3,x\n');
    expect(rows).toEqual([
      { line: 1, fields: ['id', 'note'] },
      { line: 2, fields: ['1', 'two\nlines'] },
      { line: 4, fields: ['2', 'crlf\r\nand "quote",\n\nblank'] },
      { line: 8, fields: ['3', 'x'] },
    ]);
  });

  it('skips a byte order mark at the start only', () => {
    expect(fieldsOf('\uFEFFa,b\n\uFEFFc\n')).toEqual([['a', 'b'], ['\uFEFFc']]);
  });

  it('counts every line read', () => {
    const tokenizer = new CsvTokenizer(() => {});
    tokenizer.push(encoder.encode('a\n\n"b\nc"\nd'));
    tokenizer.end();
    expect(tokenizer.lines).toBe(5);
  });

  it('by default refuses a quote in an unquoted field and text after a closing quote, and goes on with the next line', () => {
    expect(tokenize('a,b"c,d\n"x"y,z\nok\n')).toEqual([
      { line: 1, fields: ['a'], error: 'field 2: a quote in an unquoted field' },
      { line: 2, fields: [], error: 'field 1: text after the closing quote' },
      { line: 3, fields: ['ok'] },
    ]);
    expect(tokenize('a, "b"\n')[0]?.error).toBe('field 2: a quote in an unquoted field');
  });

  it('reports a quoted field still open at the end of the input, at the line it started on', () => {
    expect(tokenize('a\nb,"c\nd\n')).toEqual([
      { line: 1, fields: ['a'] },
      { line: 2, fields: ['b'], error: 'field 2: quoted field not closed at the end of the input' },
    ]);
  });

  it('with trim drops spaces and tabs around fields and quotes; without strictQuotes a stray quote is a character', () => {
    const options = { trim: true, strictQuotes: false };
    expect(fieldsOf(' a ,\t"b, c" , 12" pizza ,"say ""hi"""\n', options)).toEqual([
      ['a', 'b, c', '12" pizza', 'say "hi"'],
    ]);
    expect(fieldsOf(' a , b \n', {})).toEqual([[' a ', ' b ']]);
    expect(tokenize('"a" x,b\n', options)[0]?.error).toBe('field 1: text after the closing quote');
  });

  it('takes a lone CR as an ordinary character', () => {
    expect(fieldsOf('a\rb,"c\rd"\r\n')).toEqual([['a\rb', 'c\rd']]);
  });

  it('reads one line as a whole record with tokenizeLine', () => {
    const rows: Row[] = [];
    const tokenizer = new CsvTokenizer((r) => rows.push(rowOf(r)));
    for (const line of ['', ' \r', '\uFEFF', 'a,"b"\r', 'x,"y']) {
      const bytes = encoder.encode(line);
      tokenizer.tokenizeLine(bytes, 0, bytes.length);
    }
    expect(rows).toEqual([
      { line: 1, fields: [''] },
      { line: 1, fields: [' '] },
      { line: 1, fields: [''] },
      { line: 1, fields: ['a', 'b'] },
      {
        line: 1,
        fields: ['x'],
        error:
          'field 2: quoted field not closed on its line (this reader takes no line breaks inside quotes)',
      },
    ]);
  });

  it('gives the same records wherever the chunks are cut, and agrees with a naive reader', () => {
    const arbField = fc.constantFrom('a', '', 'é', 'x y', 'c,d', 'say "hi"', 'two\nlines', 'cr\r\nlf', '"');
    const quote = (s: string) => (/[",\r\n]/.test(s) || s === '' ? `"${s.replaceAll('"', '""')}"` : s);
    fc.assert(
      fc.property(
        fc.array(fc.array(arbField, { minLength: 1, maxLength: 4 }), { minLength: 1, maxLength: 20 }),
        fc.array(fc.nat(), { maxLength: 8 }),
        fc.boolean(),
        (records, cuts, crlf) => {
          const text = records.map((r) => r.map(quote).join(',')).join(crlf ? '\r\n' : '\n');
          const rows = tokenize(
            text,
            {},
            cuts.map((c) => c % (text.length + 1)),
          );
          expect(rows.map((r) => r.fields)).toEqual(records);
          expect(rows.every((r) => r.error === undefined)).toBe(true);
        },
      ),
      { numRuns: 300 },
    );
  });
});
