import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_RULES } from './helpers.js';
import {
  auth,
  eventually,
  FIXTURE_RECORDS,
  loadRecords,
  type OfferloopNode,
  type RedisTarget,
  redisDeployments,
  startNode,
} from './support/offerloop-node.js';

// A rollback by API on one server is served by every server: the files of each version that loaded
// are kept in Redis, and the version to serve is announced on a channel.

describe.each(redisDeployments())('a ruleset rollback on %s', (_name, makeTarget) => {
  let target: RedisTarget;
  let dir: string;
  let a: OfferloopNode;
  let b: OfferloopNode;
  beforeAll(async () => {
    target = makeTarget();
    dir = await mkdtemp(path.join(tmpdir(), 'offerloop-rollback-'));
    await cp(FIXTURE_RULES, dir, { recursive: true });
    await loadRecords(target, FIXTURE_RECORDS);
    [a, b] = await Promise.all([
      startNode(target, { OFFERLOOP_RULES: dir }),
      startNode(target, { OFFERLOOP_RULES: dir }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([a?.close(), b?.close()]);
    await rm(dir, { recursive: true, force: true });
  });

  const reload = (node: OfferloopNode) =>
    node.app.inject({ method: 'POST', url: '/v1/ruleset/reload', headers: auth('admin-key') });

  it('reaches the other server within a second, and its history says so', async () => {
    const first = a.services.rules.current.version;
    const file = path.join(dir, 'offers.yaml');
    await writeFile(file, (await readFile(file, 'utf8')).replace('value: 100', 'value: 102'));
    await Promise.all([reload(a), reload(b)]);
    const second = a.services.rules.current.version;
    expect(second).not.toBe(first);
    expect(b.services.rules.current.version).toBe(second);

    const res = await a.app.inject({
      method: 'POST',
      url: '/v1/ruleset/rollback',
      headers: auth('admin-key'),
      payload: { version: first },
    });
    expect(res.statusCode).toBe(200);
    expect(a.services.rules.current.version).toBe(first);
    await eventually(async () => expect(b.services.rules.current.version).toBe(first), 1000);
    expect(b.services.rules.history()[0]).toMatchObject({ cause: 'rollback', version: first, by: 'adm…' });
  });
});
