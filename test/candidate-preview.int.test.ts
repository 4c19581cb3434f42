import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_RULES, postDecision, type TestServer, testServer } from './helpers.js';
import {
  auth,
  FIXTURE_RECORDS,
  KEYS,
  loadRecords,
  type OfferloopNode,
  type RedisTarget,
  redisDeployments,
  startNode,
} from './support/offerloop-node.js';

// Candidate rulesets: uploaded by an admin key, checked like a reload, previewed, never live.

const NOW = Date.parse('2026-11-22T12:00:00Z');
const fixtureFile = (name: string) => readFileSync(path.join(FIXTURE_RULES, name), 'utf8');
const FILES = ['campaigns.yaml', 'offers.yaml', 'policies.yaml', 'segments.yaml'];

/** The fixture rules with the gold card renamed: a candidate whose offers show where they came from. */
function candidateFiles(): Record<string, string> {
  const files = Object.fromEntries(FILES.map((f) => [f, fixtureFile(f)]));
  files['offers.yaml'] = files['offers.yaml']!.replace('name: Gold card', 'name: Gold card, reworded');
  return files;
}

const upload = (app: FastifyInstance, name: string, files: Record<string, string>, key = 'admin-key') =>
  app.inject({
    method: 'PUT',
    url: `/v1/ruleset/candidates/${name}`,
    headers: auth(key),
    payload: { files },
  });

const GOLD = { customerId: 'cust-1', channel: 'web', placement: 'home-hero' };
const goldName = (body: { offers: { offerId: string; name: string }[] }) =>
  body.offers.find((o) => o.offerId === 'gold-card')?.name;

describe('candidate rulesets on the embedded store', () => {
  let server: TestServer;
  let app: FastifyInstance;
  beforeAll(async () => {
    server = await testServer({ OFFERLOOP_API_KEYS: KEYS }, () => NOW);
    app = server.app;
  });
  afterAll(() => server.close());

  it('previews a candidate without making it live, and lists it', async () => {
    const put = await upload(app, 'wording', candidateFiles());
    expect(put.statusCode).toBe(200);
    expect(put.json()).toMatchObject({ name: 'wording', files: FILES, by: 'adm…' });
    const live = server.services.rules.current.version;
    expect(put.json().version).not.toBe(live);

    const preview = (
      await postDecision(app, 'agent-key', { ...GOLD, preview: true, candidate: 'wording' })
    ).json();
    expect(preview).toMatchObject({ preview: true, decisionId: null, rulesetVersion: put.json().version });
    expect(goldName(preview)).toBe('Gold card, reworded');
    // The live ruleset still serves, unchanged, and recorded nothing of the preview.
    expect(server.services.rules.current.version).toBe(live);
    expect((await server.services.history.read('cust-1')).events).toEqual([]);
    const real = (await postDecision(app, 'agent-key', GOLD)).json();
    expect(real.rulesetVersion).toBe(live);
    expect(goldName(real)).toBe('Gold card');

    const listed = await app.inject({ url: '/v1/ruleset/candidates', headers: auth('admin-key') });
    expect(listed.json().candidates.map((c: { name: string }) => c.name)).toEqual(['wording']);
  });

  it('refuses a candidate that does not compile, with file, line and reason, and keeps what it held', async () => {
    const files = candidateFiles();
    files['offers.yaml'] = `${files['offers.yaml']}\n  - id: broken\n    campaign: nowhere\n`;
    const res = await upload(app, 'wording', files);
    expect(res.statusCode).toBe(422);
    expect(res.json().error.message).toMatch(/offers\.yaml:\d+:\d+: /);
    // The good upload of that name is still what a preview runs on.
    const preview = (
      await postDecision(app, 'agent-key', { ...GOLD, preview: true, candidate: 'wording' })
    ).json();
    expect(goldName(preview)).toBe('Gold card, reworded');
  });

  it('answers a clear 4xx to a bad request, and changes nothing', async () => {
    const noPreview = await postDecision(app, 'agent-key', { ...GOLD, candidate: 'wording' });
    expect(noPreview.statusCode).toBe(400);
    expect(noPreview.json().error.message).toBe(
      'a candidate ruleset is only previewed: send "preview": true',
    );
    const unknown = await postDecision(app, 'agent-key', { ...GOLD, preview: true, candidate: 'nope' });
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.message).toBe("no candidate ruleset 'nope'");
    expect((await upload(app, 'Bad Name', candidateFiles())).statusCode).toBe(400);
    expect((await upload(app, 'x', { '../etc.yaml': 'offers: []' })).statusCode).toBe(400);
    expect((await upload(app, 'x', candidateFiles(), 'agent-key')).statusCode).toBe(403);
    expect((await server.services.history.read('cust-1')).events.length).toBeGreaterThan(0);
    const deleted = await app.inject({
      method: 'DELETE',
      url: '/v1/ruleset/candidates/wording',
      headers: auth('admin-key'),
    });
    expect(deleted.statusCode).toBe(204);
    const gone = await postDecision(app, 'agent-key', { ...GOLD, preview: true, candidate: 'wording' });
    expect(gone.statusCode).toBe(404);
  });
});

describe.each(redisDeployments())('candidate rulesets on %s', (_name, makeTarget) => {
  let target: RedisTarget;
  let a: OfferloopNode;
  let b: OfferloopNode;
  beforeAll(async () => {
    target = makeTarget();
    await loadRecords(target, FIXTURE_RECORDS);
    [a, b] = await Promise.all([startNode(target), startNode(target)]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
  });

  it('an upload to one server is previewed on another, and an upload anew replaces it there', async () => {
    expect((await upload(a.app, 'shared', candidateFiles())).statusCode).toBe(200);
    const onB = (
      await postDecision(b.app, 'agent-key', { ...GOLD, preview: true, candidate: 'shared' })
    ).json();
    expect(goldName(onB)).toBe('Gold card, reworded');
    const files = candidateFiles();
    files['offers.yaml'] = files['offers.yaml']!.replace('Gold card, reworded', 'Gold card, again');
    expect((await upload(a.app, 'shared', files)).statusCode).toBe(200);
    const again = (
      await postDecision(b.app, 'agent-key', { ...GOLD, preview: true, candidate: 'shared' })
    ).json();
    expect(goldName(again)).toBe('Gold card, again');
    expect(b.services.rules.current.version).toBe(a.services.rules.current.version);
  });
});
