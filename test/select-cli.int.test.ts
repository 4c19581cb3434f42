import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CliIo } from '../src/cli/args.js';
import { runSelect } from '../src/cli/select-command.js';
import type { SelectionRow } from '../src/service/selection-rows.js';
import { testServer } from './helpers.js';
import { auth, KEYS, loadRecords, redisTarget } from './support/offerloop-node.js';
import { type RedisProcess, startRedis } from './support/redis.js';
import { consented, RECORDS, rulesDir } from './support/selection-world.js';

// `offerloop select` in process: a list from a profiles file, and from Redis, where its decisions
// are recorded for the servers (feedback on a row is accepted; a second list respects the first).

function io() {
  const out = { stdout: '', stderr: '' };
  const cli: CliIo = {
    stdout: { write: (s: string) => (out.stdout += s) },
    stderr: { write: (s: string) => (out.stderr += s) },
  };
  return { out, cli };
}

const dir = mkdtempSync(path.join(tmpdir(), 'offerloop-select-cli-'));
const rules = rulesDir();

describe('offerloop select', () => {
  it('writes the list of a profiles file to stdout, with a summary on stderr', async () => {
    const profiles = path.join(dir, 'profiles.ndjson');
    writeFileSync(profiles, `${RECORDS.map((r) => JSON.stringify(r)).join('\n')}\n`);
    const { out, cli } = io();
    const args = ['--campaign', 'capped', '--channel', 'email', '--rules', rules, '--profiles', profiles];
    const code = await runSelect(args, cli, { FEEDBACK_SPOOL_DIR: path.join(dir, 'spool') });
    expect(out.stderr).not.toMatch(/offerloop select:/);
    expect(code).toBe(0);
    const lines = out.stdout.split('\n').filter((l) => l !== '');
    expect(lines[0]).toBe(
      'customerId,decisionId,campaignId,offerId,rank,group,score,propensity,expectedValue',
    );
    // The cap of 77, over the customers with consent.
    expect(lines).toHaveLength(78);
    const ids = new Set(RECORDS.filter(consented).map((r) => r.id));
    for (const line of lines.slice(1)) expect(ids.has(line.split(',')[0]!)).toBe(true);
    expect(out.stderr).toMatch(/2,000 customers .* 77 to contact/);
  });

  it('refuses an unknown channel or format as a usage error, an unknown campaign as a failure', async () => {
    const bad = io();
    expect(await runSelect(['--campaign', 'capped', '--channel', 'fax'], bad.cli, {})).toBe(2);
    expect(bad.out.stderr).toMatch(/--channel/);
    const format = io();
    expect(
      await runSelect(['--campaign', 'capped', '--channel', 'email', '--format', 'xml'], format.cli, {}),
    ).toBe(2);
    expect(format.out.stderr).toMatch(/--format/);
    const unknown = io();
    const profiles = path.join(dir, 'profiles.ndjson');
    const args = ['--campaign', 'nope', '--channel', 'email', '--rules', rules, '--profiles', profiles];
    expect(await runSelect(args, unknown.cli, { FEEDBACK_SPOOL_DIR: path.join(dir, 'spool') })).toBe(1);
    expect(unknown.out.stderr).toMatch(/no campaign 'nope'/);
  });
});

describe('offerloop select on Redis', () => {
  let redis: RedisProcess;
  let target: ReturnType<typeof redisTarget>;
  beforeAll(async () => {
    redis = await startRedis();
    target = redisTarget({ url: redis.url });
    await loadRecords(target, RECORDS);
  }, 30_000);
  afterAll(() => redis?.stop());

  const select = async (file: string) => {
    const { out, cli } = io();
    const args = [
      ...['--campaign', 'newsletter', '--channel', 'email', '--format', 'ndjson', '--out', file],
      ...['--rules', rules, '--redis', redis.url, '--prefix', target.config.prefix],
    ];
    const code = await runSelect(args, cli, { FEEDBACK_SPOOL_DIR: path.join(dir, 'spool-redis') });
    expect(out.stderr).not.toMatch(/offerloop select:/);
    expect(code).toBe(0);
    return readFileSync(file, 'utf8')
      .split('\n')
      .filter((l) => l !== '')
      .map((l) => JSON.parse(l) as SelectionRow);
  };

  it('records its decisions for the servers: feedback on a row is accepted, a second list respects the first', async () => {
    const rows = await select(path.join(dir, 'first.ndjson'));
    const reached = RECORDS.filter((r) => consented(r) && Number(r.attributes?.age) >= 30);
    expect(rows.length).toBeGreaterThan(reached.length * 0.6);
    expect(rows.every((r) => r.group === 'treated')).toBe(true);

    const server = await testServer({ OFFERLOOP_API_KEYS: KEYS, OFFERLOOP_RULES: rules, ...target.env });
    try {
      const row = rows[0]!;
      const res = await server.app.inject({
        method: 'POST',
        url: '/v1/feedback',
        headers: auth('agent-key'),
        payload: {
          events: [
            {
              eventId: `cli-${row.decisionId}`,
              decisionId: row.decisionId,
              offerId: row.offerId,
              customerId: row.customerId,
              type: 'accept',
            },
          ],
        },
      });
      expect(res.statusCode).toBe(202);
      expect(res.json().results[0].status).toBe('accepted');
    } finally {
      await server.close();
    }
    // One email a week: everybody listed is contacted already.
    expect(await select(path.join(dir, 'second.ndjson'))).toEqual([]);
  });
});
