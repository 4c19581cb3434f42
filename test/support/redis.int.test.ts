import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  type ClusterNode,
  type RedisClusterProcess,
  type RedisProcess,
  redisCommand,
  startRedis,
  startRedisCluster,
} from './redis.js';

/** 'answered' if PING gets +PONG within `ms`, 'silent' if nothing comes back in time. */
async function pingWithin(port: number, ms: number): Promise<'answered' | 'silent' | 'failed'> {
  const reply = redisCommand(port, 'PING').then(
    (r) => (r === '+PONG\r\n' ? 'answered' : 'failed'),
    () => 'failed' as const,
  );
  return Promise.race([reply, sleep(ms).then(() => 'silent' as const)]);
}

/** The bulk-string payload of a raw RESP reply. */
function bulk(reply: string): string {
  return reply.slice(reply.indexOf('\r\n') + 2, -2);
}

describe('startRedis', () => {
  let redis: RedisProcess | undefined;
  afterAll(() => redis?.stop());

  it('survives kill/start and pause/resume, and stop removes its temp dir', async () => {
    redis = await startRedis({ args: ['--maxmemory', '10mb'] });
    const { port } = redis;
    expect(redis.url).toBe(`redis://127.0.0.1:${port}`);
    expect(port).not.toBe(6379);
    expect(await redisCommand(port, 'PING')).toBe('+PONG\r\n');
    // The extra args reach the server.
    expect(await redisCommand(port, 'CONFIG', 'GET', 'maxmemory')).toContain('10485760');
    const dir = (await redisCommand(port, 'CONFIG', 'GET', 'dir')).split('\r\n')[4]!;
    expect(dir).toMatch(/offerloop-redis-/);
    expect(existsSync(dir)).toBe(true);
    // pid is redis-server's own (setpriv execs it), as CPU meters need.
    const processId = async () =>
      Number(/process_id:(\d+)/.exec(await redisCommand(port, 'INFO', 'server'))?.[1]);
    expect(redis.pid).toBe(await processId());

    await redis.kill();
    await expect(redisCommand(port, 'PING')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect(() => redis?.pid).toThrow(/not running/);

    await redis.start();
    expect(await redisCommand(port, 'PING')).toBe('+PONG\r\n');
    expect(redis.pid).toBe(await processId());
    // Same arguments after a restart.
    expect(await redisCommand(port, 'CONFIG', 'GET', 'maxmemory')).toContain('10485760');

    redis.pause();
    expect(await pingWithin(port, 300)).toBe('silent');
    redis.resume();
    expect(await pingWithin(port, 2_000)).toBe('answered');

    // Stopping while paused must still work; twice is fine.
    redis.pause();
    await redis.stop();
    await redis.stop();
    expect(existsSync(dir)).toBe(false);
    await expect(redisCommand(port, 'PING')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    await expect(redis.start()).rejects.toThrow(/stopped for good/);
  });

  it('reports the server output when it cannot start', async () => {
    await expect(startRedis({ args: ['--no-such-directive', 'x'] })).rejects.toThrow(
      /exited during start-up[\s\S]*no-such-directive/,
    );
  });

  it('starts the given binary', async () => {
    await expect(startRedis({ binary: '/nonexistent/redis-server' })).rejects.toThrow(
      /nonexistent\/redis-server on port \d+ exited during start-up/,
    );
  });

  it('returns bulk replies whole', async () => {
    const r = await startRedis();
    try {
      const info = await redisCommand(r.port, 'INFO', 'memory');
      expect(info).toMatch(/^\$\d+\r\n/);
      expect(Buffer.byteLength(bulk(info))).toBe(Number(info.slice(1, info.indexOf('\r\n'))));
      expect(bulk(info)).toContain('used_memory:');
    } finally {
      await r.stop();
    }
  });
});

describe('startRedisCluster', () => {
  let cluster: RedisClusterProcess | undefined;
  afterAll(() => cluster?.stop());

  it('forms a 3-master cluster that reports cluster_state:ok', async () => {
    cluster = await startRedisCluster();
    expect(cluster.nodes).toHaveLength(3);
    const ports = cluster.nodes.map((url) => Number(new URL(url).port));
    expect(new Set(ports).size).toBe(3);

    for (const port of ports) {
      expect(bulk(await redisCommand(port, 'CLUSTER', 'INFO'))).toMatch(/cluster_state:ok/);
      expect(port + 10_000).toBeLessThan(65_536);
    }
    const lines = bulk(await redisCommand(ports[0]!, 'CLUSTER', 'NODES'))
      .trim()
      .split('\n');
    const masters = lines.filter((line) => line.split(' ')[2]?.split(',').includes('master'));
    expect(masters).toHaveLength(3);
    expect(
      masters.map((line) => Number(line.split(' ')[1]?.split(':')[1]?.split('@')[0])).sort((a, b) => a - b),
    ).toEqual([...ports].sort((a, b) => a - b));
    // All 16384 slots are covered.
    expect(bulk(await redisCommand(ports[0]!, 'CLUSTER', 'INFO'))).toMatch(/cluster_slots_ok:16384/);

    await cluster.stop();
    for (const port of ports) {
      await expect(redisCommand(port, 'PING')).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    }
  });
});

const portOf = (url: string) => Number(new URL(url).port);

/** SET or GET through the cluster as a client would: follows one MOVED to the slot's owner. */
async function clusterCall(seedPort: number, ...args: string[]): Promise<string> {
  const reply = await redisCommand(seedPort, ...args);
  const moved = /^-MOVED \d+ [\d.]+:(\d+)/.exec(reply);
  return moved ? redisCommand(Number(moved[1]), ...args) : reply;
}

/** The master that serves `key`, in `masters`. */
async function ownerOf(masters: readonly ClusterNode[], key: string): Promise<ClusterNode> {
  const slot = Number((await redisCommand(masters[0]!.port, 'CLUSTER', 'KEYSLOT', key)).slice(1));
  const owner = masters.find((m) => m.slots.some(([a, b]) => a <= slot && slot <= b));
  if (!owner) throw new Error(`no master serves slot ${slot}`);
  return owner;
}

const totalSlots = (masters: readonly ClusterNode[]) => masters.reduce((n, m) => n + m.slotCount, 0);

describe('startRedisCluster with replicas: the faults a fault test needs', () => {
  let cluster: RedisClusterProcess | undefined;
  afterAll(() => cluster?.stop());
  const keys = Array.from({ length: 300 }, (_, i) => `key-${i}`);

  /** Every key still reads back its value, from the master that serves it now. */
  async function expectKeysServed(): Promise<void> {
    const masters = await cluster!.masters();
    for (const key of keys) {
      const owner = await ownerOf(masters, key);
      expect(bulk(await redisCommand(owner.port, 'GET', key))).toBe(`v-${key}`);
    }
  }

  it('forms 3 masters with a replica each, every replica attached; all six nodes are seeds', async () => {
    cluster = await startRedisCluster({ replicas: 1, nodeTimeoutMs: 1000 });
    expect(cluster.nodeTimeoutMs).toBe(1000);
    expect(cluster.nodes).toHaveLength(6);
    expect(new Set(cluster.nodes).size).toBe(6);
    expect(await redisCommand(portOf(cluster.nodes[0]!), 'CONFIG', 'GET', 'cluster-node-timeout')).toContain(
      '1000',
    );
    const masters = await cluster.masters();
    const replicas = await cluster.replicas();
    expect(masters).toHaveLength(3);
    expect(replicas).toHaveLength(3);
    expect(totalSlots(masters)).toBe(16_384);
    expect(replicas.map((r) => r.masterId)).toEqual(masters.map((m) => m.id));
    for (const r of replicas) {
      const info = bulk(await redisCommand(r.port, 'INFO', 'replication'));
      expect(info).toMatch(/role:slave/);
      expect(info).toMatch(/master_link_status:up/);
    }
    // Masters in slot order: master 0 serves slot 0.
    expect(masters[0]!.slots[0]![0]).toBe(0);
    for (const key of keys)
      expect(await clusterCall(masters[0]!.port, 'SET', key, `v-${key}`)).toBe('+OK\r\n');
    // Replicated before any fault: the promoted replicas must hold them.
    for (const m of masters) expect(await redisCommand(m.port, 'WAIT', '1', '5000')).toBe(':1\r\n');
    await expect(cluster.killMaster(3)).rejects.toThrow(/no master 3: the cluster has 3/);
    await expect(cluster.failover(7)).rejects.toThrow(/no replica 7/);
  }, 60_000);

  it('killMaster: the replica is promoted to the same slots; the killed node restarts as its replica', async () => {
    const [before] = await cluster!.masters();
    const replica = (await cluster!.replicas())[0]!;
    const killed = await cluster!.killMaster(0);
    expect(killed).toMatchObject({ id: before!.id, state: 'killed' });
    await expect(redisCommand(killed.port, 'PING')).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    const { promoted, ms } = await cluster!.waitForFailover();
    expect(ms).toBeGreaterThan(0);
    expect(promoted).toMatchObject({ id: replica.id, role: 'master', slots: before!.slots });
    const masters = await cluster!.masters();
    expect(masters.map((m) => m.id)).not.toContain(killed.id);
    expect(masters[0]!.id).toBe(replica.id);
    expect(totalSlots(masters)).toBe(16_384);
    const dead = (await cluster!.topology()).find((n) => n.id === killed.id);
    expect(dead).toMatchObject({ state: 'killed', slotCount: 0 });
    expect(dead?.flags).toContain('fail');
    await expectKeysServed();

    const back = await cluster!.restart(killed);
    expect(back).toMatchObject({ id: killed.id, role: 'replica', masterId: promoted.id, state: 'running' });
    expect(await cluster!.replicas()).toHaveLength(3);
    await expect(cluster!.restart(killed)).rejects.toThrow(/is running/);
  }, 60_000);

  it('pauseMaster: a hung master is failed over, and comes back on SIGCONT as a replica', async () => {
    const before = (await cluster!.masters())[1]!;
    const paused = await cluster!.pauseMaster(1);
    expect(paused).toMatchObject({ id: before.id, state: 'paused' });
    const { promoted } = await cluster!.waitForFailover();
    expect(promoted.id).not.toBe(before.id);
    expect(promoted.slots).toEqual(before.slots);
    const back = await cluster!.resumeMaster(paused);
    expect(back).toMatchObject({ id: before.id, role: 'replica', masterId: promoted.id, state: 'running' });
    await expect(cluster!.resumeMaster(paused)).rejects.toThrow(/not paused/);
    await expectKeysServed();
  }, 60_000);

  it('failover: a manual CLUSTER FAILOVER swaps a replica and its master', async () => {
    const master = (await cluster!.masters())[2]!;
    const replicas = await cluster!.replicas();
    const index = replicas.findIndex((r) => r.masterId === master.id);
    const promoted = await cluster!.failover(index);
    expect(promoted).toMatchObject({ id: replicas[index]!.id, role: 'master', slots: master.slots });
    expect((await cluster!.topology()).find((n) => n.id === master.id)).toMatchObject({
      role: 'replica',
      masterId: promoted.id,
    });
    await expectKeysServed();
  }, 60_000);

  it('reshard: slots move with their keys from one master to another', async () => {
    const before = await cluster!.masters();
    const [from, to] = before;
    await cluster!.reshard({ slots: 500, from: 0, to: 1 });
    const after = await cluster!.masters();
    expect(after.find((m) => m.id === from!.id)!.slotCount).toBe(from!.slotCount - 500);
    expect(after.find((m) => m.id === to!.id)!.slotCount).toBe(to!.slotCount + 500);
    expect(totalSlots(after)).toBe(16_384);
    // Some of the keys were in the slots that moved, and they moved with them.
    let moved = 0;
    for (const key of keys) {
      if ((await ownerOf(before, key)).id === from!.id && (await ownerOf(after, key)).id === to!.id) moved++;
    }
    expect(moved).toBeGreaterThan(0);
    await expectKeysServed();
    await expect(cluster!.reshard({ slots: 1, from: 0, to: 0 })).rejects.toThrow(/reshard: masters 0 and 0/);
  }, 60_000);

  it('addNode: an empty master joins and takes slots from every master', async () => {
    const before = await cluster!.masters();
    const added = await cluster!.addNode({ slots: 300 });
    expect(added).toMatchObject({ role: 'master', state: 'running' });
    // redis-cli splits the 300 over the sources in proportion, each share rounded down.
    expect(added.slotCount).toBeLessThanOrEqual(300);
    expect(added.slotCount).toBeGreaterThan(300 - before.length);
    expect(cluster!.nodes).not.toContain(added.url);
    const after = await cluster!.masters();
    expect(after).toHaveLength(4);
    expect(totalSlots(after)).toBe(16_384);
    for (const m of before) expect(after.find((x) => x.id === m.id)!.slotCount).toBeLessThan(m.slotCount);
    await expectKeysServed();
    const empty = await cluster!.addNode();
    expect(empty).toMatchObject({ role: 'master', slotCount: 0 });
    // A master without slots comes last.
    expect((await cluster!.masters()).at(-1)!.id).toBe(empty.id);
  }, 60_000);
});
