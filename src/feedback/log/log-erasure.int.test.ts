import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { ErasedIds, ErasureHasher } from '../../store/erased-ids.js';
import { FeedbackSpool } from './feedback-spool.js';
import { customerOfSpoolLine, pseudonymiseJson, pseudonymiseSpoolLine, pseudonymsOf } from './log-erasure.js';

const hasher = new ErasureHasher('a pepper of sixteen bytes or more');
const erase = pseudonymsOf(['cust-4321', 'visitor-9'], (id) => hasher.pseudonym(id));
const P = hasher.pseudonym('cust-4321');

const decision = JSON.stringify({ decisionId: 'd-1', customerId: 'cust-4321', channel: 'web', offers: [] });
const reaction = JSON.stringify({ eventId: 'e-1', decisionId: 'd-1', offerId: 'o', customerId: 'cust-4321' });
const other = JSON.stringify({ eventId: 'e-2', customerId: 'cust-43210', type: 'purchase' });

describe('pseudonyms', () => {
  it('are keyed, stable per id, and name neither the id nor its tombstone', () => {
    expect(P).toMatch(/^erased-[A-Za-z0-9_-]{22}$/);
    expect(hasher.pseudonym('cust-4321')).toBe(P);
    expect(new ErasureHasher('another pepper, sixteen+ bytes').pseudonym('cust-4321')).not.toBe(P);
    expect(P).not.toContain('4321');
    expect(hasher.tombstone('cust-4321')).not.toContain(P.slice('erased-'.length));
  });

  it('replace the id in an entry of the person, in place, and leave others alone', () => {
    expect(JSON.parse(pseudonymiseJson(decision, erase)!)).toEqual({
      ...JSON.parse(decision),
      customerId: P,
    });
    expect(pseudonymiseJson(decision, erase)!.indexOf('"customerId"')).toBe(decision.indexOf('"customerId"'));
    expect(pseudonymiseJson(other, erase)).toBeNull();
    expect(pseudonymiseJson('not json', erase)).toBeNull();
  });

  it('rewrite spool lines of every kind, and nothing else', () => {
    expect(pseudonymiseSpoolLine(`d ${decision}`, erase)).toBe(`d ${pseudonymiseJson(decision, erase)}`);
    expect(pseudonymiseSpoolLine(`f 1700 ${reaction}`, erase)).toBe(
      `f 1700 ${pseudonymiseJson(reaction, erase)}`,
    );
    expect(pseudonymiseSpoolLine(`o 1700 ${other}`, erase)).toBe(`o 1700 ${other}`);
    expect(customerOfSpoolLine(`f 1700 ${reaction}`)).toBe('cust-4321');
  });

  it('are known by every server from the tombstone alone', () => {
    const erased = new ErasedIds(hasher);
    expect(erased.has('cust-4321')).toBe(false);
    erased.addTombstones([hasher.tombstone('cust-4321')]);
    expect(erased.has('cust-4321')).toBe(true);
    expect(erased.has('cust-43210')).toBe(false);
    expect(erased.covers(P)).toBe(true);
    expect(erased.recordedAs('cust-4321')).toBe(P);
    expect(erased.recordedAs('cust-1')).toBe('cust-1');
  });
});

describe('FeedbackSpool.rewrite', () => {
  let dir = '';
  afterEach(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("pseudonymises a person's lines in every segment, the open one too, and keeps the rest as they were", async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spool-erasure-'));
    const spool = await FeedbackSpool.open(dir, pino({ level: 'silent' }));
    await spool.append([`d ${decision}`, `o 1 ${other}`]);
    await spool.rotate();
    await spool.append([`f 1700 ${reaction}`]); // in the open segment
    const changed = await spool.rewrite((line) => pseudonymiseSpoolLine(line, erase));
    expect(changed).toBe(2);
    const text = readdirSync(dir)
      .map((n) => readFileSync(path.join(dir, n), 'utf8'))
      .join('');
    expect(text).not.toMatch(/cust-4321"/);
    expect(text).toContain(other);
    expect(text).toContain(P);
    expect(readdirSync(dir).every((n) => n.endsWith('.log'))).toBe(true);
    expect(await spool.lines((line) => customerOfSpoolLine(line) === P)).toHaveLength(2);
    await spool.close();
  });

  it('takes rewrites asked for at once one after the other (an erasure is swept twice and heard back)', async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'spool-erasure-'));
    const spool = await FeedbackSpool.open(dir, pino({ level: 'silent' }));
    for (let i = 0; i < 5; i++) {
      await spool.append([`d ${decision}`, `o 1 ${other}`]);
      await spool.rotate();
    }
    const counts = await Promise.all(
      [1, 2, 3].map(() => spool.rewrite((line) => pseudonymiseSpoolLine(line, erase))),
    );
    // The first changes the person's five lines; the others find nothing left to change.
    expect(counts).toEqual([5, 0, 0]);
    expect(readdirSync(dir).every((n) => n.endsWith('.log'))).toBe(true);
    expect(await spool.lines((line) => customerOfSpoolLine(line) === P)).toHaveLength(5);
    await spool.close();
  });
});
