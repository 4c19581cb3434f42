import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { stableHash32 } from '../src/domain/stable-hash.js';
import { inControlGroup } from '../src/learning/control-group.js';
import type { SelectionRow } from '../src/service/selection-rows.js';
import type { SelectionStatus } from '../src/service/selection-service.js';
import { type TestServer, testServer } from './helpers.js';
import { auth, KEYS, loadRecords, NOW, redisTarget, startNode } from './support/offerloop-node.js';
import { type RedisProcess, startRedis } from './support/redis.js';
import { consented, RECORDS, rulesDir } from './support/selection-world.js';

// Outbound selections over a generated population, embedded and on Redis, through the API: the
// control group is what stable hashing assigns, consent and caps and budgets hold exactly, each
// row's decision takes feedback, and a second selection respects the contact policy of the first.

const post = (app: FastifyInstance, payload: object, key = 'admin-key') =>
  app.inject({ method: 'POST', url: '/v1/selections', headers: auth(key), payload });

/** Starts a selection, waits for it to finish and reads its list. */
async function select(
  app: FastifyInstance,
  payload: object,
): Promise<{ status: SelectionStatus; rows: SelectionRow[]; body: string }> {
  const res = await post(app, payload);
  expect(res.statusCode).toBe(202);
  const { id } = res.json() as SelectionStatus;
  let status: SelectionStatus;
  for (;;) {
    const got = await app.inject({ method: 'GET', url: `/v1/selections/${id}`, headers: auth('admin-key') });
    expect(got.statusCode).toBe(200);
    status = got.json() as SelectionStatus;
    if (status.state !== 'running') break;
    await new Promise((r) => setTimeout(r, 10));
  }
  expect(status.error).toBeNull();
  expect(status.state).toBe('done');
  const list = await app.inject({
    method: 'GET',
    url: `/v1/selections/${id}/rows`,
    headers: auth('admin-key'),
  });
  expect(list.statusCode).toBe(200);
  const body = list.body;
  const rows =
    status.format === 'ndjson'
      ? body
          .split('\n')
          .filter((l) => l !== '')
          .map((l) => JSON.parse(l) as SelectionRow)
      : parseCsv(body);
  return { status, rows, body };
}

function parseCsv(body: string): SelectionRow[] {
  const [header, ...lines] = body.split('\n').filter((l) => l !== '');
  const columns = header!.split(',');
  return lines.map((line) => {
    const cells = line.split(',');
    const row: Record<string, string | number> = {};
    columns.forEach((c, i) => {
      const cell = cells[i]!;
      row[c] = ['rank', 'score', 'propensity', 'expectedValue'].includes(c) ? Number(cell) : cell;
    });
    return row as unknown as SelectionRow;
  });
}

/** The server's spool directory, of its own, and where it keeps its lists: beside the spool. */
function spoolDir(): { env: { FEEDBACK_SPOOL_DIR: string }; lists: string } {
  const dir = mkdtempSync(path.join(tmpdir(), 'offerloop-selection-spool-'));
  return { env: { FEEDBACK_SPOOL_DIR: path.join(dir, 'spool') }, lists: path.join(dir, 'selections') };
}

interface World {
  readonly server: TestServer;
  /** The directory of the lists the server keeps. */
  readonly lists: string;
  stop(): Promise<void>;
}

const setup: [string, () => Promise<World>][] = [
  [
    'embedded',
    async () => {
      const dir = mkdtempSync(path.join(tmpdir(), 'offerloop-selection-'));
      mkdirSync(dir, { recursive: true });
      const profiles = path.join(dir, 'profiles.ndjson');
      writeFileSync(profiles, `${RECORDS.map((r) => JSON.stringify(r)).join('\n')}\n`);
      const spool = spoolDir();
      const server = await testServer(
        { OFFERLOOP_API_KEYS: KEYS, OFFERLOOP_PROFILES: profiles, OFFERLOOP_RULES: rulesDir(), ...spool.env },
        () => NOW,
      );
      return { server, lists: spool.lists, stop: () => server.close() };
    },
  ],
  [
    'Redis',
    async () => {
      const redis: RedisProcess = await startRedis();
      const target = redisTarget({ url: redis.url });
      await loadRecords(target, RECORDS);
      const spool = spoolDir();
      const server = await startNode(target, { OFFERLOOP_RULES: rulesDir(), ...spool.env });
      return {
        server,
        lists: spool.lists,
        async stop() {
          await server.close();
          await redis.stop();
        },
      };
    },
  ],
];

describe.each(setup)('outbound selection on the %s store', (_name, start) => {
  let server: TestServer;
  let lists: string;
  let stop: () => Promise<void>;
  let app: FastifyInstance;
  beforeAll(async () => {
    ({ server, lists, stop } = await start());
    app = server.app;
  }, 30_000);
  afterAll(() => stop?.());

  it('lists exactly the consenting customers the campaign reaches, its control group by stable hashing', async () => {
    const { status, rows } = await select(app, {
      campaign: 'newsletter',
      channel: 'email',
      format: 'ndjson',
      withControl: true,
    });
    const salt = server.services.rules.current.campaignById.get('newsletter')!.salt;
    const reached = RECORDS.filter((r) => consented(r) && Number(r.attributes?.age) >= 30);
    const control = reached.filter((r) => inControlGroup(stableHash32(r.id), salt, 0.25));
    const inControl = new Set(control.map((r) => r.id));
    const treated = reached.filter((r) => !inControl.has(r.id));
    expect(status.population).toBe(RECORDS.length);
    expect(status.read).toBe(RECORDS.length);
    expect(status.noConsent).toBe(RECORDS.filter((r) => !consented(r)).length);
    expect(status.decided).toBe(reached.length);
    expect(status.excluded).toBe(0);
    expect(status.control).toBe(control.length);
    expect(status.treated).toBe(treated.length);
    const byGroup = (g: string) =>
      rows
        .filter((r) => r.group === g)
        .map((r) => r.customerId)
        .sort();
    expect(byGroup('control')).toEqual(control.map((r) => r.id).sort());
    expect(byGroup('treated')).toEqual(treated.map((r) => r.id).sort());
    // A quarter, give or take the draw: the share is the hash's, not a quota.
    expect(control.length / reached.length).toBeGreaterThan(0.18);
    expect(control.length / reached.length).toBeLessThan(0.32);
    for (const row of rows) {
      expect(row).toMatchObject({ campaignId: 'newsletter', offerId: 'news-offer', rank: 1 });
      expect(row.decisionId).toMatch(/^[0-9a-f-]{36}$/);
      expect(row.expectedValue).toBeCloseTo(row.propensity * 50, 9);
    }
    expect(new Set(rows.map((r) => r.decisionId)).size).toBe(rows.length);
    // Recorded like any decision: the treated were shown the offer, the control group had it held out.
    const touch = async (id: string) =>
      (await server.services.history.lastSeen(id)).events.map((e) => [e.offerId, e.channel, e.outcome]);
    expect(await touch(treated[0]!.id)).toEqual([['news-offer', 'email', 'impression']]);
    expect(await touch(control[0]!.id)).toEqual([['news-offer', 'email', 'held_out']]);
  });

  it('takes feedback on a row: its decision id closes the loop', async () => {
    const { rows } = await select(app, { campaign: 'capped', channel: 'email', limit: 1 });
    expect(rows).toHaveLength(1);
    const row = rows[0]!;
    const res = await app.inject({
      method: 'POST',
      url: '/v1/feedback',
      headers: auth('agent-key'),
      payload: {
        events: [
          {
            eventId: `sel-${row.decisionId}`,
            decisionId: row.decisionId,
            offerId: row.offerId,
            customerId: row.customerId,
            type: 'accept',
            channel: 'email',
          },
        ],
      },
    });
    expect(res.statusCode).toBe(202);
    expect(res.json().results[0].status).toBe('accepted');
  });

  it('never exceeds caps and budgets: they fill exactly', async () => {
    // The budget of 60 at 0.5 a contact pays for 120 contacts; mail-a (worth more) stops at its cap of 33.
    const mailing = await select(app, { campaign: 'mailing', channel: 'email' });
    expect(mailing.status.treated).toBe(120);
    expect(mailing.rows).toHaveLength(120);
    expect(mailing.rows.filter((r) => r.offerId === 'mail-a')).toHaveLength(33);
    expect(mailing.rows.filter((r) => r.offerId === 'mail-b')).toHaveLength(87);
    expect(mailing.rows.every((r) => r.group === 'treated')).toBe(true);
    // One treated customer was listed by the feedback test above: 76 left of the cap of 77.
    const capped = await select(app, { campaign: 'capped', channel: 'email', format: 'csv' });
    expect(capped.status.treated).toBe(76);
    expect(capped.body.split('\n')[0]).toBe(
      'customerId,decisionId,campaignId,offerId,rank,group,score,propensity,expectedValue',
    );
    // Caps spent: the next run reaches nobody, and decides nobody.
    const again = await select(app, { campaign: 'capped', channel: 'email' });
    expect(again.status).toMatchObject({ treated: 0, decided: 0 });
    expect(again.rows).toHaveLength(0);
  });

  it('a second selection respects the contact policy of the first', async () => {
    const first = await select(app, { campaign: 'newsletter', channel: 'email', withControl: true });
    // Everybody contacted by email this week (the lists above) is left out; the control group is held out again.
    expect(first.status.treated).toBe(0);
    expect(first.status.excluded).toBeGreaterThan(0);
    const control = first.rows.filter((r) => r.group === 'control');
    expect(control.length).toBe(first.status.control);
    expect(first.rows.every((r) => r.group === 'control')).toBe(true);
  });

  it('refuses bad input naming the field, an unknown campaign, a key without admin', async () => {
    const channel = await post(app, { campaign: 'newsletter', channel: 'fax' });
    expect(channel.statusCode).toBe(400);
    expect(channel.json().error.message).toMatch(/channel/);
    const noOffers = await post(app, { campaign: 'web-only', channel: 'email' });
    expect(noOffers.statusCode).toBe(400);
    expect(noOffers.json().error.message).toMatch(/channel/);
    const limit = await post(app, { campaign: 'newsletter', channel: 'email', limit: 0 });
    expect(limit.statusCode).toBe(400);
    expect(limit.json().error.message).toMatch(/limit/);
    const format = await post(app, { campaign: 'newsletter', channel: 'email', format: 'xlsx' });
    expect(format.statusCode).toBe(400);
    expect(format.json().error.message).toMatch(/format/);
    const unknown = await post(app, { campaign: 'nope', channel: 'email' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.message).toMatch(/nope/);
    expect((await post(app, { campaign: 'newsletter', channel: 'email' }, 'agent-key')).statusCode).toBe(403);
    const missing = await app.inject({
      method: 'GET',
      url: '/v1/selections/sel-none/rows',
      headers: auth('admin-key'),
    });
    expect(missing.statusCode).toBe(404);
  });

  it('never serves a customer erased since the list was written', async () => {
    const { status, rows } = await select(app, {
      campaign: 'newsletter',
      channel: 'email',
      withControl: true,
    });
    const gone = rows[0]!.customerId;
    await server.services.erasure.erase(gone);
    const again = await app.inject({
      method: 'GET',
      url: `/v1/selections/${status.id}/rows`,
      headers: auth('admin-key'),
    });
    const ids = parseCsv(again.body).map((r) => r.customerId);
    expect(ids).toHaveLength(rows.length - 1);
    expect(ids).not.toContain(gone);
    // Nor is the person in any list file this server keeps.
    const dir = lists;
    const files = readdirSync(dir);
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      const text = readFileSync(path.join(dir, file), 'utf8');
      const kept = file.endsWith('.ndjson')
        ? text
            .split('\n')
            .filter(Boolean)
            .map((line) => (JSON.parse(line) as SelectionRow).customerId)
        : parseCsv(text).map((r) => r.customerId);
      expect(kept, file).not.toContain(gone);
    }
  });

  it('runs one at a time: a second start meanwhile is refused with 409', async () => {
    const [a, b] = await Promise.all([
      post(app, { campaign: 'newsletter', channel: 'email' }),
      post(app, { campaign: 'newsletter', channel: 'email' }),
    ]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([202, 409]);
    expect((a.statusCode === 409 ? a : b).json().error.code).toBe('selection_running');
    await server.services.selections.idle();
  });
});
