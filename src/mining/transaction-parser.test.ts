import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { pushInChunks } from '../../test/support/push-in-chunks.js';
import { ByteInterner } from './byte-interner.js';
import {
  type LayoutOption,
  MalformedInputError,
  type ParsedTransactions,
  TransactionParser,
} from './transaction-parser.js';
import { transactionItems } from './transactions.js';

const encoder = new TextEncoder();

function parse(text: string, layout: LayoutOption = 'auto', cuts: number[] = []): ParsedTransactions {
  const bytes = encoder.encode(text);
  const parser = new TransactionParser(layout);
  pushInChunks(bytes, cuts, (chunk) => parser.push(chunk));
  return parser.end();
}

/** Transactions as sorted item-name lists, in order. */
function baskets(p: ParsedTransactions): string[][] {
  const ts = p.transactions;
  return Array.from({ length: ts.size }, (_, t) =>
    transactionItems(ts, t)
      .map((i) => ts.itemNames[i]!)
      .sort(),
  );
}

function customers(p: ParsedTransactions): (string | null)[] {
  const ts = p.transactions;
  return Array.from({ length: ts.size }, (_, t) => {
    const c = ts.customerOf?.[t] ?? -1;
    return c < 0 ? null : ts.customerIds[c]!;
  });
}

function errorOf(fn: () => unknown): MalformedInputError {
  try {
    fn();
  } catch (err) {
    if (err instanceof MalformedInputError) return err;
    throw err;
  }
  throw new Error('no error');
}

describe('ByteInterner', () => {
  it('gives each distinct byte string one id, in order of first appearance, through table growth', () => {
    const interner = new ByteInterner();
    const words = Array.from({ length: 5000 }, (_, i) => `w${(i * 7919) % 3001}`);
    const expected = new Map<string, number>();
    for (const w of words) {
      const b = encoder.encode(`,${w},`);
      const id = interner.intern(b, 1, b.length - 1);
      if (!expected.has(w)) expected.set(w, expected.size);
      expect(id).toBe(expected.get(w));
    }
    expect(interner.size).toBe(expected.size);
    expect(interner.texts()).toEqual([...expected.keys()]);
    expect(interner.find(encoder.encode('w0'))).toBe(0);
    expect(interner.find(encoder.encode('nope'))).toBe(-1);
    const empty = new Uint8Array(0);
    expect(interner.intern(empty, 0, 0)).toBe(expected.size);
    expect(interner.text(expected.size)).toBe('');
  });
});

describe('TransactionParser: baskets', () => {
  it('reads one basket per line, trims items, drops repeats, skips blank lines and takes CRLF and a BOM', () => {
    const p = parse('\uFEFFbread, milk ,bread\r\n\r\n  \nbeer\ncheese,\tbread\n');
    expect(p.layout).toBe('baskets');
    expect(baskets(p)).toEqual([['bread', 'milk'], ['beer'], ['bread', 'cheese']]);
    expect(p.transactions.itemNames).toEqual(['bread', 'milk', 'beer', 'cheese']);
    expect(p.rows).toBe(6);
    expect(p.lines).toBe(5);
    expect(p.hasCustomers).toBe(false);
    expect(p.transactions.customerOf).toBeNull();
  });

  it('reads the last line without a line break, and unicode items', () => {
    expect(baskets(parse('ä,ö\nß'))).toEqual([['ä', 'ö'], ['ß']]);
  });

  it('reads quoted fields: commas and doubled quotes inside, spaces kept inside, a stray quote is a character', () => {
    const p = parse('"a, b", c ,"say ""hi"""\n  " x " ,12" pizza\n');
    expect(baskets(p)).toEqual([['a, b', 'c', 'say "hi"'].sort(), [' x ', '12" pizza'].sort()]);
  });

  it('keeps a line break inside a quoted field, and names a later bad line by its own number', () => {
    const p = parse('"two\r\nlines",a\nb\n');
    expect(baskets(p)).toEqual([['a', 'two\r\nlines'], ['b']]);
    expect(p.lines).toBe(3);
    expect(errorOf(() => parse('"x\ny",a\nb,,c\n'))).toMatchObject({
      line: 3,
      reason: expect.stringMatching(/empty item/),
    });
  });

  it('names the line of an empty item, an unclosed quote or text after a closing quote', () => {
    expect(errorOf(() => parse('a,b\nc,,d\n'))).toMatchObject({
      line: 2,
      reason: expect.stringMatching(/empty item \(field 2 of 3\)/),
    });
    expect(errorOf(() => parse('a,b\n\nc,\n'))).toMatchObject({
      line: 3,
      reason: expect.stringMatching(/empty item/),
    });
    expect(errorOf(() => parse('a\n"b,c\n'))).toMatchObject({
      line: 2,
      reason: expect.stringMatching(/not closed/),
    });
    expect(errorOf(() => parse('"a"b,c\n'))).toMatchObject({
      line: 1,
      reason: expect.stringMatching(/after the closing quote/),
    });
    expect(errorOf(() => parse('"a",\n'))).toMatchObject({
      line: 1,
      reason: expect.stringMatching(/empty item/),
    });
  });

  it('with --format baskets takes a header-like first line as a basket', () => {
    expect(baskets(parse('transaction_id,item\nx\n', 'baskets'))).toEqual([
      ['item', 'transaction_id'],
      ['x'],
    ]);
  });
});

describe('TransactionParser: long format', () => {
  const csv = [
    'transaction_id,item,customer_id',
    't1,bread,c1',
    't1,milk,c1',
    't2,beer,c2',
    't1,bread,c1', // a repeat, and t1's rows are not adjacent
    't3,milk,',
    't3,eggs,c3',
    '"t,4","quoted, item",c1',
    '',
  ].join('\n');

  it('groups rows by transaction id wherever they are, keeps customers, drops repeated items', () => {
    const p = parse(csv);
    expect(p.layout).toBe('long');
    expect(baskets(p)).toEqual([['bread', 'milk'], ['beer'], ['eggs', 'milk'], ['quoted, item']]);
    expect(customers(p)).toEqual(['c1', 'c2', 'c3', 'c1']);
    expect(p.transactions.customerIds).toEqual(['c1', 'c2', 'c3']);
    expect(p.hasCustomers).toBe(true);
    expect(p.rows).toBe(7);
  });

  it('finds the columns by name in any order, ignores other columns, and works without customers', () => {
    const p = parse('Item,price,Transaction_ID\nbread,1.0,t1\nmilk,2.0,t1\nbeer,3,t2\n');
    expect(baskets(p)).toEqual([['bread', 'milk'], ['beer']]);
    expect(p.hasCustomers).toBe(false);
    expect(p.transactions.customerOf).toBeNull();
  });

  it('names the line of a row with the wrong number of fields, an empty id or item, or two customers', () => {
    const head = 'transaction_id,item,customer_id\n';
    expect(errorOf(() => parse(`${head}t1,a,c1\nt1,b\n`))).toMatchObject({
      line: 3,
      reason: 'expected 3 fields (transaction_id,item,customer_id), found 2',
    });
    expect(errorOf(() => parse(`${head}t1,a,c1,x\n`))).toMatchObject({
      line: 2,
      reason: expect.stringMatching(/found 4/),
    });
    expect(errorOf(() => parse(`${head}\n\n,a,c1\n`))).toMatchObject({
      line: 4,
      reason: 'empty transaction_id',
    });
    expect(errorOf(() => parse(`${head}t1, ,c1\n`))).toMatchObject({ line: 2, reason: 'empty item' });
    expect(errorOf(() => parse(`${head}t1,a,c1\nt2,a,c2\nt1,b,c2\n`))).toMatchObject({
      line: 4,
      reason: "transaction 't1' has customer 'c2' here but 'c1' on an earlier line",
    });
    expect(errorOf(() => parse('transaction_id,item,item\n'))).toMatchObject({
      line: 1,
      reason: expect.stringMatching(/twice/),
    });
  });

  it('with --format long requires the header', () => {
    expect(errorOf(() => parse('a,b\n', 'long'))).toMatchObject({
      line: 1,
      reason: expect.stringMatching(/needs a header/),
    });
    expect(errorOf(() => parse('', 'long'))).toMatchObject({
      line: 1,
      reason: expect.stringMatching(/no header/),
    });
  });

  it('parses the same whatever the chunk boundaries', () => {
    const whole = parse(csv);
    fc.assert(
      fc.property(fc.array(fc.integer({ min: 0, max: csv.length }), { maxLength: 12 }), (cuts) => {
        const p = parse(csv, 'auto', cuts);
        expect(baskets(p)).toEqual(baskets(whole));
        expect(customers(p)).toEqual(customers(whole));
        expect(p.lines).toBe(whole.lines);
      }),
      { numRuns: 300 },
    );
  });

  it('agrees with a naive string parser on random long files, chunked anywhere', () => {
    const arbRow = fc.record({
      tx: fc.integer({ min: 1, max: 15 }),
      item: fc.constantFrom('a', 'b', 'c', 'dé', 'e e', 'x,y', 'q"q'),
    });
    fc.assert(
      fc.property(
        fc.array(arbRow, { minLength: 1, maxLength: 60 }),
        fc.array(fc.nat(), { maxLength: 6 }),
        (rows, cuts) => {
          const quote = (s: string) => (/[",]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s);
          const text = ['transaction_id,item', ...rows.map((r) => `tx${r.tx},${quote(r.item)}`)].join('\n');
          const expected = new Map<string, Set<string>>();
          for (const r of rows) {
            const key = `tx${r.tx}`;
            if (!expected.has(key)) expected.set(key, new Set());
            expected.get(key)!.add(r.item);
          }
          const p = parse(
            text,
            'auto',
            cuts.map((c) => c % (text.length + 1)),
          );
          expect(baskets(p)).toEqual([...expected.values()].map((s) => [...s].sort()));
        },
      ),
      { numRuns: 300 },
    );
  });
});
