import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'bin/offerloop');

// The CLI runs the compiled code, as users run it after `npm install` (which builds dist/).
describe('bin/offerloop', () => {
  it('prints usage with --help', async () => {
    const { stdout } = await run(bin, ['--help'], { cwd: root });
    expect(stdout).toMatch(/usage: offerloop <command>/);
    expect(stdout).toMatch(/generate --offers N --customers M --out DIR/);
  });

  it('rejects an unknown command with exit code 2', async () => {
    await expect(run(bin, ['frobnicate'], { cwd: root })).rejects.toMatchObject({ code: 2 });
  });

  it('generates a ruleset, profiles and transactions that the server can load', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'offerloop-gen-'));
    try {
      await run(bin, ['generate', '--offers', '30', '--customers', '50', '--out', out, '--seed', '7'], {
        cwd: root,
      });
      expect(
        (await readdir(path.join(out, 'rules'))).filter((f) => f.endsWith('.yaml')).length,
      ).toBeGreaterThan(0);
      const lines = (await readFile(path.join(out, 'profiles.ndjson'), 'utf8')).trim().split('\n');
      expect(lines).toHaveLength(50);
      expect(JSON.parse(lines[0] ?? '{}').id).toBe('cust-1');
      const { loadRuleset } = await import('../src/ruleset/load.js');
      expect((await loadRuleset(path.join(out, 'rules'))).offers).toHaveLength(30);
      const csv = await readFile(path.join(out, 'transactions.csv'), 'utf8');
      expect(csv.split('\n')[0]).toBe('transaction_id,item,customer_id');
    } finally {
      await rm(out, { recursive: true, force: true });
    }
  });
});
