import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import { existsSync, mkdtempSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FIXTURE_RULES } from './helpers.js';
import {
  eventually,
  FIXTURE_RECORDS,
  KEYS,
  loadRecords,
  type RedisTarget,
  redisTarget,
} from './support/offerloop-node.js';
import { type RedisProcess, startRedis } from './support/redis.js';
import { TestWsClient } from './support/ws-client.js';

// OFFERLOOP_WORKERS=2 (src/cluster.ts): `node dist/src/main.js` as `npm start` runs it, a primary
// and two workers sharing the port, on one Redis. Each worker has its own memory tier; they stay
// coherent through Redis like separate servers do.

const SERVER_SCRIPT = fileURLToPath(new URL('../dist/src/main.js', import.meta.url));
// On Linux the kernel SIGKILLs the primary when this test process dies; its workers follow it.
const WITH_DEATH_SIGNAL = process.platform === 'linux' && existsSync('/usr/bin/setpriv');

interface Primary {
  readonly proc: ChildProcess;
  readonly pid: number;
  readonly port: number;
  readonly exit: Promise<number | null>;
  /** Every JSON log line so far (primary and workers share stdout). */
  readonly logs: { msg?: string; pid?: number; level?: number; [field: string]: unknown }[];
}

async function freePort(): Promise<number> {
  const probe = net.createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port } = probe.address() as net.AddressInfo;
  await new Promise((resolve) => probe.close(resolve));
  return port;
}

/** Spawns `npm start`'s process; `onLog` sees each JSON log line as it comes. */
async function spawnPrimary(
  env: Record<string, string>,
  onLog: (log: Primary['logs'][number]) => void = () => {},
): Promise<Primary & { readonly tail: string[] }> {
  if (!existsSync(SERVER_SCRIPT)) throw new Error(`${SERVER_SCRIPT} is missing: run \`npm run build\` first`);
  const port = await freePort();
  // Only what we set: an OFFERLOOP_/REDIS_/FEEDBACK_ variable of the shell must not leak in.
  const base = Object.fromEntries(
    Object.entries(process.env).filter(([k]) => !/^(OFFERLOOP_|REDIS_|FEEDBACK_)/.test(k)),
  );
  const options: SpawnOptions = {
    env: { ...base, ...env, PORT: String(port), HOST: '127.0.0.1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  };
  const proc = WITH_DEATH_SIGNAL
    ? spawn('/usr/bin/setpriv', ['--pdeathsig', 'KILL', process.execPath, SERVER_SCRIPT], options)
    : spawn(process.execPath, [SERVER_SCRIPT], options);
  const exit = new Promise<number | null>((resolve) => proc.once('exit', (code) => resolve(code)));
  const logs: Primary['logs'] = [];
  const tail: string[] = [];
  const remember = (line: string) => {
    tail.push(line);
    if (tail.length > 40) tail.shift();
  };
  createInterface({ input: proc.stderr! }).on('line', remember);
  createInterface({ input: proc.stdout! }).on('line', (line) => {
    remember(line);
    try {
      const log = JSON.parse(line) as Primary['logs'][number];
      logs.push(log);
      onLog(log);
    } catch {
      // not a log line
    }
  });
  return { proc, pid: proc.pid!, port, exit, logs, tail };
}

async function startPrimary(env: Record<string, string>): Promise<Primary> {
  let onReady = () => {};
  const ready = new Promise<void>((resolve) => {
    onReady = resolve;
  });
  const primary = await spawnPrimary(env, (log) => {
    if (log.msg === 'offerloop ready') onReady();
  });
  const outcome = await Promise.race([
    ready.then(() => 'ready' as const),
    primary.exit.then(() => 'exited' as const),
    sleep(30_000, 'timeout' as const, { ref: false }),
  ]);
  if (outcome !== 'ready') {
    primary.proc.kill('SIGKILL');
    throw new Error(
      `the server ${outcome === 'exited' ? 'exited' : 'was not ready in 30 s'}:\n${primary.tail.join('\n')}`,
    );
  }
  return primary;
}

interface Answer {
  readonly status: number;
  /** The body parsed, when it is JSON; else {}. */
  readonly json: Record<string, unknown> & { pid?: number };
  readonly text: string;
}

/** One request; `agent` pins it to a keep-alive connection (so to one worker), none: a new connection. */
function request(
  port: number,
  method: string,
  url: string,
  options: { agent?: http.Agent; key?: string; body?: unknown } = {},
): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const payload = options.body === undefined ? undefined : JSON.stringify(options.body);
    const headers: Record<string, string> = {};
    if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
    if (payload !== undefined) headers['content-type'] = 'application/json';
    if (options.agent === undefined) headers.connection = 'close';
    const req = http.request(
      { host: '127.0.0.1', port, method, path: url, headers, agent: options.agent ?? false },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (chunk: string) => {
          text += chunk;
        });
        res.on('end', () => {
          const json = text && res.headers['content-type']?.includes('json') ? JSON.parse(text) : {};
          resolve({ status: res.statusCode ?? 0, json, text });
        });
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

/** The pid of the worker that answers on this connection (readiness details name it). */
async function workerOf(port: number, agent?: http.Agent): Promise<number> {
  const { status, json } = await request(port, 'GET', '/health/ready', { agent });
  expect(status).toBe(200);
  return json.pid!;
}

/** New connections until both workers have answered: the cluster deals connections round-robin. */
async function workerPids(port: number): Promise<Set<number>> {
  const pids = new Set<number>();
  for (let i = 0; i < 40 && pids.size < 2; i++) pids.add(await workerOf(port));
  return pids;
}

/** A keep-alive connection of its own for each worker: [agent, pid] for two different workers. */
async function pinnedAgents(port: number): Promise<[http.Agent, number][]> {
  const byPid = new Map<number, http.Agent>();
  for (let i = 0; i < 40 && byPid.size < 2; i++) {
    const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
    const pid = await workerOf(port, agent);
    if (byPid.has(pid)) agent.destroy();
    else byPid.set(pid, agent);
  }
  return [...byPid].map(([pid, agent]) => [agent, pid]);
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

describe('OFFERLOOP_WORKERS=2 on one Redis', () => {
  let redis: RedisProcess;
  let target: RedisTarget;
  let primary: Primary;
  let agents: [http.Agent, number][] = [];

  beforeAll(async () => {
    redis = await startRedis();
    target = redisTarget({ url: redis.url });
    await loadRecords(target, [
      ...FIXTURE_RECORDS,
      { id: 'cust-call', attributes: { phone: '+1 555 777 0002' }, consent: { call_center: true } },
    ]);
    primary = await startPrimary({
      ...target.env,
      OFFERLOOP_API_KEYS: `${KEYS},prom-key=metrics`,
      OFFERLOOP_WORKERS: '2',
      OFFERLOOP_MAX_EVENT_LOOP_DELAY_MS: '0',
      OFFERLOOP_RULES: FIXTURE_RULES,
      OFFERLOOP_WATCH_RULES: 'false',
      FEEDBACK_SPOOL_DIR: mkdtempSync(path.join(tmpdir(), 'offerloop-workers-spool-')),
    });
  }, 60_000);
  afterAll(async () => {
    for (const [agent] of agents) agent.destroy();
    primary?.proc.kill('SIGKILL');
    await redis?.stop();
  });

  it('runs two workers that both answer on the one port', async () => {
    const pids = await workerPids(primary.port);
    expect(pids.size).toBe(2);
    expect(pids.has(primary.pid)).toBe(false);
    expect(primary.logs.find((l) => l.msg === 'offerloop ready')).toMatchObject({ workers: 2 });
  });

  it('keeps the memory tiers coherent: a PATCH through one worker is seen by a decision on the other', async () => {
    agents = await pinnedAgents(primary.port);
    expect(agents).toHaveLength(2);
    const [[writer], [reader, readerPid]] = agents as [[http.Agent, number], [http.Agent, number]];
    const decide = () =>
      request(primary.port, 'POST', '/v1/decisions', {
        agent: reader,
        key: 'agent-key',
        body: { customerId: 'cust-1', channel: 'web', explain: true },
      });
    // The reader's memory tier now holds cust-1, who may be offered the gold card.
    const before = await decide();
    expect(before.json).toMatchObject({ customerKnown: true, degraded: false });
    const shownBefore = (before.json.offers as { offerId: string }[]).map((o) => o.offerId);
    expect(shownBefore).toContain('gold-card');
    expect((await request(primary.port, 'GET', '/health/ready', { agent: reader })).json.pid).toBe(readerPid);

    // Holding the platinum card makes the gold card ineligible (`when: not holds('card-platinum')`).
    const patched = await request(primary.port, 'PATCH', '/v1/customers/cust-1', {
      agent: writer,
      key: 'admin-key',
      body: { holdings: { add: ['card-platinum'] } },
    });
    expect(patched.status).toBe(200);
    await eventually(async () => {
      const dossier = await request(primary.port, 'GET', '/v1/customers/cust-1', {
        agent: reader,
        key: 'agent-key',
      });
      expect(dossier.json.holdings).toContain('card-platinum');
    }, 2000);
    const after = await decide();
    expect((after.json.offers as { offerId: string }[]).map((o) => o.offerId)).not.toContain('gold-card');
    expect(after.json.suppressed).toContainEqual(
      expect.objectContaining({ offerId: 'gold-card', reason: 'not_eligible' }),
    );
  });

  it('answers /metrics for every worker, whichever worker is asked', async () => {
    const [[first], [second]] = agents as [[http.Agent, number], [http.Agent, number]];
    const decisionsBy = async (agent: http.Agent): Promise<Map<string, number>> => {
      const res = await request(primary.port, 'GET', '/metrics', { agent, key: 'prom-key' });
      expect(res.status).toBe(200);
      const counts = new Map<string, number>();
      for (const [, worker, count] of res.text.matchAll(
        /^offerloop_decisions_total\{channel="call_center",worker="(\d+)"\} (\d+)$/gm,
      )) {
        counts.set(worker!, Number(count));
      }
      return counts;
    };
    const before = await decisionsBy(first);
    const decide = (agent: http.Agent) =>
      request(primary.port, 'POST', '/v1/decisions', {
        agent,
        key: 'agent-key',
        body: { customerId: 'cust-2', channel: 'call_center' },
      });
    for (let i = 0; i < 3; i++) expect((await decide(first)).status).toBe(200);
    for (let i = 0; i < 5; i++) expect((await decide(second)).status).toBe(200);
    // Asked through either worker: the same counts, each worker's own under its label.
    const after = await decisionsBy(first);
    expect(await decisionsBy(second)).toEqual(after);
    expect(after.size).toBe(2);
    const grown = [...after].map(([worker, count]) => count - (before.get(worker) ?? 0));
    expect(grown.sort()).toEqual([3, 5]);
  });

  it('pushes a call event handled by one worker to an agent socket held by the other', async () => {
    const desk = await TestWsClient.open(`ws://127.0.0.1:${primary.port}/v1/ws`, { key: 'agent-key' });
    await desk.request({ type: 'subscribe', agentId: 'agent-w' });
    // Call events on new connections go to either worker; one that reports no local session was
    // handled by the other worker than the desk's, and its push must still arrive through Redis.
    let crossed: string | null = null;
    for (let i = 0; i < 20 && crossed === null; i++) {
      const callId = `w-${i}`;
      const res = await request(primary.port, 'POST', '/v1/interactions/calls', {
        key: 'agent-key',
        body: { type: 'call.started', callId, agentId: 'agent-w', customerId: 'cust-call' },
      });
      expect(res.status).toBe(200);
      if (res.json.sessions === 0) crossed = callId;
    }
    expect(crossed).not.toBeNull();
    const pushed = await desk.next((m) => m.type === 'call' && m.callId === crossed);
    expect(pushed).toMatchObject({ event: 'call.started', customerId: 'cust-call' });
    desk.close();
  });

  it('replaces a worker that dies, and keeps answering meanwhile', async () => {
    const before = await workerPids(primary.port);
    const victim = [...before][0]!;
    process.kill(victim, 'SIGKILL');
    // Once the primary knows (a connection dealt to a worker in the instant it dies is lost: Node's
    // cluster cannot take it back), the other worker goes on serving while the replacement starts.
    await eventually(async () => {
      expect(primary.logs.some((l) => l.msg === 'worker died: starting a new one')).toBe(true);
    }, 5000);
    for (let i = 0; i < 4; i++) expect((await request(primary.port, 'GET', '/health/live')).status).toBe(200);
    await eventually(async () => {
      expect(primary.logs.some((l) => l.msg === 'worker replaced')).toBe(true);
    }, 20_000);
    const now = await workerPids(primary.port);
    expect(now.size).toBe(2);
    expect(now.has(victim)).toBe(false);
    expect(primary.logs.find((l) => l.msg === 'worker died: starting a new one')).toMatchObject({
      workerPid: victim,
      signal: 'SIGKILL',
    });
  }, 30_000);

  it('stops on SIGTERM: every worker shuts down gracefully, then the primary exits 0', async () => {
    for (const [agent] of agents) agent.destroy();
    const workers = await workerPids(primary.port);
    primary.proc.kill('SIGTERM');
    expect(await primary.exit).toBe(0);
    for (const pid of workers) expect(isAlive(pid)).toBe(false);
    const stopped = primary.logs.filter((l) => l.msg === 'stopped').map((l) => l.pid);
    expect(stopped).toEqual(expect.arrayContaining([...workers, primary.pid]));
  }, 40_000);
});

describe('OFFERLOOP_WORKERS=2, stopped while its workers start', () => {
  it('exits 0: a worker killed by the signal before its handler is installed stopped cleanly', async () => {
    // The primary logs 'starting workers' just before it forks them: they take a second to load,
    // so the SIGTERM passed on reaches them before they listen.
    const primary = await spawnPrimary(
      {
        OFFERLOOP_WORKERS: '2',
        OFFERLOOP_RULES: FIXTURE_RULES,
        OFFERLOOP_WATCH_RULES: 'false',
        FEEDBACK_SPOOL_DIR: mkdtempSync(path.join(tmpdir(), 'offerloop-workers-spool-')),
      },
      (log) => {
        if (log.msg === 'starting workers') primary.proc.kill('SIGTERM');
      },
    );
    try {
      expect(await primary.exit).toBe(0);
      expect(primary.logs.some((l) => l.msg === 'worker ready')).toBe(false);
      expect(primary.logs.some((l) => l.msg === 'worker stopped')).toBe(false);
      expect(primary.logs.find((l) => l.msg === 'stopped')).toMatchObject({ exitCode: 0 });
    } finally {
      primary.proc.kill('SIGKILL');
    }
  }, 40_000);
});
