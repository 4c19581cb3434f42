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
