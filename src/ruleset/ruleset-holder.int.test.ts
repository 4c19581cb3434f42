import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FIXTURE_RULES, testLog } from '../../test/helpers.js';
import { RulesetHolder } from './ruleset-holder.js';

let dir: string;
let holder: RulesetHolder | null = null;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'offerloop-rules-'));
  await cp(FIXTURE_RULES, dir, { recursive: true });
});
afterEach(async () => {
  holder?.close();
  await rm(dir, { recursive: true, force: true });
});

const offersFile = () => path.join(dir, 'offers.yaml');

describe('RulesetHolder', () => {
  it('keeps serving the last good ruleset when a reload finds a bad file, and reports file and line', async () => {
    holder = await RulesetHolder.open(dir, testLog);
    const good = holder.current;
    const text = await readFile(offersFile(), 'utf8');
    await writeFile(offersFile(), text.replace('value: 100', 'value: lots'));

    const result = await holder.reload();
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.version).toBe(good.version);
    expect(result.problems[0]).toMatchObject({ file: 'offers.yaml', line: 9, message: 'must be number' });
    expect(holder.current).toBe(good);

    await writeFile(offersFile(), text.replace('value: 100', 'value: 150'));
    const fixed = await holder.reload();
    expect(fixed).toMatchObject({ ok: true, changed: true });
    expect(holder.current.version).not.toBe(good.version);
    expect(holder.current.offerById.get('gold-card')?.value).toBe(150);
  });

  it('notifies listeners of a new snapshot, and only of a changed one', async () => {
    holder = await RulesetHolder.open(dir, testLog);
    const seen: string[] = [];
    holder.onChange((s) => seen.push(s.version));
    await holder.reload();
    expect(seen).toEqual([]);
    await writeFile(path.join(dir, 'extra.yaml'), 'segments:\n  - id: extra\n    when: customer.age > 1\n');
    await holder.reload();
    expect(seen).toEqual([holder.current.version]);
  });

  it('reloads by itself when a rules file changes', async () => {
    holder = await RulesetHolder.open(dir, testLog);
    const before = holder.current.version;
    const changed = new Promise<string>((resolve) => holder?.onChange((s) => resolve(s.version)));
    holder.watch(20);
    const text = await readFile(offersFile(), 'utf8');
    await writeFile(offersFile(), text.replace('value: 100', 'value: 120'));
    expect(await changed).not.toBe(before);
    expect(holder.current.offerById.get('gold-card')?.value).toBe(120);
  });

  it('refuses to start on a broken ruleset: there is nothing good to keep', async () => {
    await writeFile(path.join(dir, 'bad.yaml'), 'offers: 12\n');
    await expect(RulesetHolder.open(dir, testLog)).rejects.toThrow(/bad\.yaml:1:\d+: must be array/);
  });
});
