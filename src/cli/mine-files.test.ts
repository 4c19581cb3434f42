import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { rule } from '../../test/support/rule.js';
import { CustomerAffinities } from '../mining/customer-affinities.js';
import type { CliIo } from './args.js';
import { BatchedLines } from './line-writer.js';
import {
  MalformedProfileError,
  readTransactionsFile,
  writeCustomerFiles,
  writeRulesFile,
} from './mine-files.js';

const dir = mkdtempSync(path.join(tmpdir(), 'offerloop-mine-files-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const quiet: CliIo = { stdout: { write: () => true }, stderr: { write: () => true } };
const lines = (file: string) =>
  readFileSync(file, 'utf8')
    .split('\n')
    .filter((l) => l !== '');

const options = {
  top: 5,
  scoring: 'confidence',
  decimals: 4,
  maxProduct: 64,
  maxHoldings: 10,
  maxId: 128,
} as const;

async function transactions() {
  const file = path.join(dir, 'tx.csv');
  writeFileSync(
    file,
    'transaction_id,item,customer_id\nt1,bread,ann\nt1,butter,ann\nt2,bread,bob\nt3,jam,\n',
  );
  return readTransactionsFile(file, 'auto', quiet);
}

describe('the files of offerloop mine', () => {
  it('reads transactions, writes rules one a line', async () => {
    const { parsed, bytes } = await transactions();
    expect(bytes).toBe(80);
    expect(parsed.transactions.itemNames).toEqual(['bread', 'butter', 'jam']);
    const out = path.join(dir, 'rules');
    await mkdir(out);
    const file = await writeRulesFile(out, [rule([0], [1], 0.5)], parsed.transactions.itemNames);
    expect(file).toBe(path.join(out, 'rules.ndjson'));
    expect(lines(file).map((l) => JSON.parse(l))).toMatchObject([
      { antecedent: ['bread'], consequent: ['butter'], confidence: 0.5 },
    ]);
  });

  it('writes affinities, and merges them into a profiles file, appending customers it lacks', async () => {
    const { parsed } = await transactions();
    const customers = new CustomerAffinities(parsed.transactions, [rule([0], [1], 0.5)], options);

    const alone = path.join(dir, 'alone');
    await mkdir(alone);
    const plain = await writeCustomerFiles(alone, customers, undefined);
    expect(plain).toEqual({
      affinities: {
        file: path.join(alone, 'affinities.ndjson'),
        customers: 2,
        withAffinities: 1,
        affinities: 1,
        skippedIds: 0,
      },
      profiles: null,
    });
    expect(lines(plain.affinities.file).map((l) => JSON.parse(l))).toEqual([
      { id: 'ann', holdings: ['bread', 'butter'], affinities: [] },
      { id: 'bob', holdings: ['bread'], affinities: [{ product: 'butter', score: 0.5 }] },
    ]);

    const merged = path.join(dir, 'merged');
    await mkdir(merged);
    const profiles = path.join(dir, 'profiles.csv');
    writeFileSync(profiles, 'id,note\ncarl,"two\nlines"\nbob,x\n');
    const result = await writeCustomerFiles(merged, customers, profiles);
    expect(result.profiles).toEqual({
      file: path.join(merged, 'profiles.ndjson'),
      profiles: 3,
      merged: 1,
      appended: 1,
    });
    expect(lines(path.join(merged, 'profiles.ndjson')).map((l) => JSON.parse(l))).toEqual([
      { id: 'carl', attributes: { note: 'two\nlines' } },
      { id: 'bob', attributes: { note: 'x' }, affinities: [{ product: 'butter', score: 0.5 }] },
      { id: 'ann', holdings: ['bread', 'butter'], affinities: [] },
    ]);
    expect(result.affinities.customers).toBe(2);
  });

  it('stops at a bad line of the profiles file', async () => {
    const { parsed } = await transactions();
    const customers = new CustomerAffinities(parsed.transactions, [], options);
    const profiles = path.join(dir, 'bad.ndjson');
    writeFileSync(profiles, '{"id":"ann"}\n{"id":7}\n');
    const out = path.join(dir, 'bad');
    await mkdir(out);
    const thrown = await writeCustomerFiles(out, customers, profiles).catch((err: unknown) => err);
    expect(thrown).toBeInstanceOf(MalformedProfileError);
    expect((thrown as Error).message).toBe(`${profiles}:2: /id must be string`);
  });
});

describe('BatchedLines', () => {
  it('writes the lines pushed, each ended by a line break', async () => {
    const file = path.join(dir, 'batched.txt');
    const out = await BatchedLines.open(file);
    await out.writeAll(async (o) => {
      for (let i = 0; i < 3; i++) await o.push(`line ${i}`);
    });
    expect(readFileSync(file, 'utf8')).toBe('line 0\nline 1\nline 2\n');
    expect(out.lines).toBe(3);
  });

  it('closes the file and rethrows when the writing fails', async () => {
    const out = await BatchedLines.open(path.join(dir, 'failed.txt'));
    await expect(
      out.writeAll(async (o) => {
        await o.push('x');
        throw new Error('no more');
      }),
    ).rejects.toThrow('no more');
  });
});
