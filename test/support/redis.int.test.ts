import { existsSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
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
