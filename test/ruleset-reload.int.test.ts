import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Services } from '../src/services.js';
import { FIXTURE_RULES, postDecision, type TestServer, testServer } from './helpers.js';

let dir: string;
let server: TestServer;
let app: FastifyInstance;
let services: Services;
const ops = { authorization: 'Bearer ops-key' };

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'offerloop-reload-'));
  await cp(FIXTURE_RULES, dir, { recursive: true });
  server = await testServer({ OFFERLOOP_RULES: dir, OFFERLOOP_API_KEYS: 'ops-key=admin+decide' });
  ({ app, services } = server);
});
afterAll(async () => {
  await server.close();
  await rm(dir, { recursive: true, force: true });
});

describe('POST /v1/ruleset/reload', () => {
  it('rejects a bad rules file with file, line and reason, and keeps serving the last good ruleset', async () => {
    const before = services.rules.current.version;
    const file = path.join(dir, 'offers.yaml');
    const good = await readFile(file, 'utf8');
    await writeFile(file, good.replace("when: not holds('card-platinum')", 'when: not holds(card-platinum'));

    const res = await app.inject({ method: 'POST', url: '/v1/ruleset/reload', headers: ops });
    expect(res.statusCode).toBe(422);
    const body = res.json();
    expect(body.error.code).toBe('invalid_ruleset');
    expect(body.error.message).toMatch(/offers\.yaml:\d+:\d+: expression: /);
    expect(body.error.details.problems[0]).toMatchObject({ file: 'offers.yaml', path: '/offers/0/when' });

    const decision = await postDecision(app, 'ops-key', { customerId: 'cust-1', channel: 'web' });
    expect(decision.statusCode).toBe(200);
    expect(decision.json().rulesetVersion).toBe(before);

    await writeFile(file, good.replace('value: 100', 'value: 101'));
    const fixed = await app.inject({ method: 'POST', url: '/v1/ruleset/reload', headers: ops });
    expect(fixed.json()).toMatchObject({ ok: true, changed: true });
    expect(fixed.json().version).not.toBe(before);
  });
});

describe('ruleset history and rollback', () => {
  const history = async () => (await app.inject({ url: '/v1/ruleset/history', headers: ops })).json();
  const rollback = (version: string) =>
    app.inject({ method: 'POST', url: '/v1/ruleset/rollback', headers: ops, payload: { version } });

  it('records every attempt: the start, loads and rejections with their files, cause and key', async () => {
    const { current, changes } = await history();
    expect(current).toBe(services.rules.current.version);
    // Newest first: the fix and the rejection of the test above, then the start.
    expect(changes.map((c: { outcome: string; cause: string }) => [c.outcome, c.cause])).toEqual([
      ['loaded', 'reload'],
      ['rejected', 'reload'],
      ['loaded', 'start'],
    ]);
    const [fixed, rejected, start] = changes;
    expect(fixed).toMatchObject({ version: current, previous: start.version, by: 'ops…' });
    expect(fixed.changed).toEqual({ added: [], removed: [], modified: ['offers.yaml'] });
    expect(rejected).toMatchObject({ version: null, previous: start.version });
    expect(rejected.problems[0]).toMatch(/^offers\.yaml:\d+:\d+: expression: /);
    expect(Date.parse(start.at)).not.toBeNaN();
  });

  it('goes back to an earlier version, until the next reload serves the files again', async () => {
    const { changes } = await history();
    const first = changes.at(-1).version;
    const latest = services.rules.current.version;
    const res = await rollback(first);
    expect(res.statusCode).toBe(200);
    expect(services.rules.current.version).toBe(first);
    const decision = await postDecision(app, 'ops-key', { customerId: 'cust-1', channel: 'web' });
    expect(decision.json().rulesetVersion).toBe(first);
    expect((await history()).changes[0]).toMatchObject({
      outcome: 'loaded',
      cause: 'rollback',
      version: first,
    });
    await app.inject({ method: 'POST', url: '/v1/ruleset/reload', headers: ops });
    expect(services.rules.current.version).toBe(latest);
  });

  it('answers 404 for a version never loaded and 400 for no version, changing nothing', async () => {
    const before = services.rules.current.version;
    const unknown = await rollback('abcdef123456');
    expect(unknown.statusCode).toBe(404);
    expect(unknown.json().error.message).toBe("no ruleset version 'abcdef123456' is kept to go back to");
    expect((await rollback('not a version')).statusCode).toBe(400);
    expect(services.rules.current.version).toBe(before);
  });
});
