import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ProfileRecord } from '../src/domain/profile.js';
import { inSample } from '../src/evaluation/what-if.js';
import type { WhatIfStatus } from '../src/service/what-if-service.js';
import { generatePopulation } from '../src/sim/population.js';
import { FIXTURE_RULES, type TestServer, testServer } from './helpers.js';
import { auth, KEYS, loadRecords, NOW, redisDeployments, startNode } from './support/offerloop-node.js';

// What-ifs over the loaded population: embedded and on Redis, through the API.

const FILES = ['campaigns.yaml', 'offers.yaml', 'policies.yaml', 'segments.yaml'];
const fixtureFile = (name: string) => readFileSync(path.join(FIXTURE_RULES, name), 'utf8');

/** The fixture rules with the cards campaign's budget cut from 100 to 2: 200 web contacts at 0.01. */
function smallerBudget(): Record<string, string> {
  const files = Object.fromEntries(FILES.map((f) => [f, fixtureFile(f)]));
  files['campaigns.yaml'] = files['campaigns.yaml']!.replace('budget: 100\n', 'budget: 2\n');
  return files;
}

const PRODUCTS = ['card-gold', 'card-platinum', 'travel-ins', 'loyalty', 'savings', 'mortgage'];
const RECORDS: ProfileRecord[] = [
  ...generatePopulation(3000, PRODUCTS, { seed: 'what-if', affinities: 4 }),
].map((r) => ({ ...r, consent: { ...r.consent, web: true } }));
/** The customers a volume of 1,500 out of 3,000 samples, whichever store they are read from. */
const SAMPLED = RECORDS.filter((r) => inSample(r.id, 0.5)).length;

/** Polls GET /v1/what-if/:id on `app` (any server) until the run is no longer running. */
async function finished(app: FastifyInstance, id: string): Promise<WhatIfStatus> {
  for (;;) {
    const res = await app.inject({ method: 'GET', url: `/v1/what-if/${id}`, headers: auth('admin-key') });
    expect(res.statusCode).toBe(200);
    const status = res.json() as WhatIfStatus;
    if (status.state !== 'running') return status;
    await new Promise((r) => setTimeout(r, 20));
  }
}

const start = (app: FastifyInstance, payload: object, key = 'admin-key') =>
  app.inject({ method: 'POST', url: '/v1/what-if', headers: auth(key), payload });

async function uploadCandidate(app: FastifyInstance) {
  const put = await app.inject({
    method: 'PUT',
    url: '/v1/ruleset/candidates/smaller-budget',
    headers: auth('admin-key'),
    payload: { files: smallerBudget() },
  });
  expect(put.statusCode).toBe(200);
}

describe('what-if on the embedded store', () => {
  let server: TestServer;
  let app: FastifyInstance;
  let profilesFile: string;
  beforeAll(async () => {
    const dir = path.join(process.env.TMPDIR ?? '/tmp', `offerloop-what-if-${process.pid}`);
    const { mkdirSync, writeFileSync } = await import('node:fs');
    mkdirSync(dir, { recursive: true });
    profilesFile = path.join(dir, 'profiles.ndjson');
    writeFileSync(profilesFile, `${RECORDS.map((r) => JSON.stringify(r)).join('\n')}\n`);
    server = await testServer({ OFFERLOOP_API_KEYS: KEYS, OFFERLOOP_PROFILES: profilesFile }, () => NOW);
    app = server.app;
    await uploadCandidate(app);
  });
  afterAll(() => server.close());

  it('answers 202 with an id, then progress and the report side by side', async () => {
    const res = await start(app, { candidate: 'smaller-budget', channel: 'web', volume: 1500 });
    expect(res.statusCode).toBe(202);
    const started = res.json() as WhatIfStatus;
    expect(started).toMatchObject({
      state: 'running',
      candidate: 'smaller-budget',
      channel: 'web',
      volume: 1500,
    });
    expect(started.population).toBe(3000);
    expect(started.sampleShare).toBe(0.5);
    const done = await finished(app, started.id);
    expect(done.state).toBe('done');
    expect(done.done).toBe(done.total);
    expect(done.done).toBe(SAMPLED);
    // A stable half of 3,000: 1,500 ± 4σ (σ ≈ 27).
    expect(Math.abs(SAMPLED - 1500)).toBeLessThan(110);
    const { live, candidate, difference } = done.result!;
    expect(live.totals.decisions).toBe(done.done);
    expect(candidate!.totals.decisions).toBe(done.done);
    // The candidate's budget of 2 binds part-way through; the live one's does not.
    const cards = candidate!.campaigns.find((c) => c.id === 'cards')!;
    expect(cards.boundBy).toBe('budget');
    expect(cards.budgetUse).toBeGreaterThan(0.99);
    expect(cards.budgetUse).toBeLessThanOrEqual(1);
    expect(cards.boundAtDecision).toBeLessThan(done.done);
    expect(live.campaigns.find((c) => c.id === 'cards')!.boundBy).toBeNull();
    const cardsDiff = difference!.campaigns.find((c) => c.id === 'cards')!;
    expect(cardsDiff.shown).toBe(cards.shown - live.campaigns.find((c) => c.id === 'cards')!.shown);
    expect(cardsDiff.shown).toBeLessThan(0);
    expect(difference!.totals.expectedAccepts).toBeCloseTo(
      candidate!.totals.expectedAccepts - live.totals.expectedAccepts,
      9,
    );
    expect(live.totals.expectedAccepts).toBeGreaterThan(0);
  });

  it('runs one at a time: a second start meanwhile is refused with 409', async () => {
    const [a, b] = await Promise.all([
      start(app, { channel: 'web', volume: 3000 }),
      start(app, { channel: 'web', volume: 3000 }),
    ]);
    expect([a.statusCode, b.statusCode].sort()).toEqual([202, 409]);
    const refused = a.statusCode === 409 ? a : b;
    expect(refused.json().error.code).toBe('what_if_running');
    const accepted = (a.statusCode === 202 ? a : b).json() as WhatIfStatus;
    const done = await finished(app, accepted.id);
    expect(done.result!.candidate).toBeNull();
    expect(done.result!.difference).toBeNull();
    expect(done.done).toBe(3000);
  });

  it('refuses bad input naming the field, an unknown candidate or id, and a key without admin', async () => {
    const volume = await start(app, { channel: 'web', volume: 0 });
    expect(volume.statusCode).toBe(400);
    expect(volume.json().error.message).toMatch(/volume/);
    const channel = await start(app, { channel: 'fax', volume: 10 });
    expect(channel.statusCode).toBe(400);
    expect(channel.json().error.message).toMatch(/channel/);
    const missing = await start(app, { volume: 10 });
    expect(missing.statusCode).toBe(400);
    expect(missing.json().error.message).toMatch(/channel/);
    const unknown = await start(app, { candidate: 'nope', channel: 'web', volume: 10 });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.message).toMatch(/nope/);
    const id = await app.inject({ method: 'GET', url: '/v1/what-if/wi-none', headers: auth('admin-key') });
    expect(id.statusCode).toBe(404);
    expect((await start(app, { channel: 'web', volume: 10 }, 'agent-key')).statusCode).toBe(403);
  });
});

describe.each(redisDeployments())('what-if on %s', (_name, makeTarget) => {
  let node: TestServer;
  let other: TestServer;
  beforeAll(async () => {
    const target = makeTarget();
    await loadRecords(target, RECORDS);
    [node, other] = await Promise.all([startNode(target), startNode(target)]);
    await uploadCandidate(node.app);
  }, 30_000);
  afterAll(async () => {
    await Promise.all([node?.close(), other?.close()]);
  });

  it('answers a run on any server: its progress and its report are shared', async () => {
    const res = await start(node.app, { candidate: 'smaller-budget', channel: 'web', volume: 1500 });
    expect(res.statusCode).toBe(202);
    const { id } = res.json() as WhatIfStatus;
    const there = await finished(other.app, id);
    const here = await finished(node.app, id);
    expect(there.state).toBe('done');
    expect(there).toEqual(here);
    const unknown = await other.app.inject({
      method: 'GET',
      url: '/v1/what-if/wi-none',
      headers: auth('admin-key'),
    });
    expect(unknown.statusCode).toBe(404);
  });

  it('reads the population bucket by bucket and decides the same sample', async () => {
    const res = await start(node.app, { candidate: 'smaller-budget', channel: 'web', volume: 1500 });
    expect(res.statusCode).toBe(202);
    const done = await finished(node.app, (res.json() as WhatIfStatus).id);
    expect(done.state).toBe('done');
    expect(done.store).toBe('redis');
    expect(done.population).toBe(3000);
    // The sample is drawn from the ids: the same customers as on the embedded store.
    expect(done.done).toBe(SAMPLED);
    expect(done.result!.live.totals.decisions).toBe(done.done);
    const cards = done.result!.candidate!.campaigns.find((c) => c.id === 'cards')!;
    expect(cards.boundBy).toBe('budget');
  });
});
