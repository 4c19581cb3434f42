import { availableParallelism } from 'node:os';
import { describe, expect, it } from 'vitest';
import { DEMO_API_KEY, loadConfig } from './config.js';
import { ConfigError } from './errors.js';

describe('loadConfig', () => {
  it('has defaults that start the embedded demo', () => {
    const c = loadConfig({}, '/srv/offerloop');
    expect(c.http).toEqual({
      host: '127.0.0.1',
      port: 8080,
      bodyLimit: 65536,
      publicDocs: true,
      trustProxy: false,
      maxConnections: 16_384,
      requestTimeoutMs: 10_000,
      keepAliveTimeoutMs: 72_000,
      maxEventLoopDelayMs: 50,
    });
    expect(c.decisions.timeoutMs).toBe(250);
    expect(c.rules.dir).toBe('/srv/offerloop/rules');
    expect(c.data).toMatchObject({ profilesFile: null, demoCustomers: 100_000 });
    expect(c.auth.demoKey).toBe(true);
    expect(c.auth.keys.map((k) => k.key)).toEqual([DEMO_API_KEY]);
    // A guard against runaway clients, not a throttle of one server's own decision rate.
    expect([c.auth.keys[0]!.rate, c.auth.keys[0]!.ipRate]).toEqual([100_000, 20]);
    expect(Object.isFrozen(c) && Object.isFrozen(c.http)).toBe(true);
  });

  it('parses API keys with scopes, and then there is no demo key', () => {
    const c = loadConfig({ OFFERLOOP_API_KEYS: 'agent-key=decide+feedback, ops-key=admin+report' });
    expect(c.auth.demoKey).toBe(false);
    expect(c.http.publicDocs).toBe(false);
    expect(c.auth.keys.map((k) => [k.key, [...k.scopes]])).toEqual([
      ['agent-key', ['decide', 'feedback']],
      ['ops-key', ['admin', 'report']],
    ]);
  });

  it('reads per-key origins and rate limits, with defaults from the environment', () => {
    const c = loadConfig({
      OFFERLOOP_API_KEYS:
        'desk-key=decide;origins=https://Desk.example|http://localhost:3000,pk-web=banner;rate=500;ipRate=5',
      OFFERLOOP_RATE_LIMIT: '2000',
      OFFERLOOP_TRUST_PROXY: '1',
    });
    const [desk, web] = c.auth.keys;
    expect([...desk!.origins]).toEqual(['https://desk.example', 'http://localhost:3000']);
    expect([desk!.rate, desk!.ipRate]).toEqual([2000, 20]);
    expect([...web!.scopes]).toEqual(['banner']);
    expect([web!.rate, web!.ipRate]).toEqual([500, 5]);
    expect(c.http.trustProxy).toBe(1);
    expect(c.ws).toEqual({
      maxMessageBytes: 16384,
      sendBufferBytes: 1048576,
      heartbeatMs: 30000,
      maxSubscriptions: 32,
      maxSessionsPerKey: 10_000,
    });
  });

  it('runs one worker per core on Redis, one on the embedded store unless told otherwise', () => {
    const redis = { OFFERLOOP_API_KEYS: 'ops-key=admin', REDIS_URL: 'redis://localhost:6379' };
    expect(loadConfig(redis).workers).toEqual({ count: availableParallelism(), source: 'cores' });
    expect(loadConfig({}).workers).toEqual({ count: 1, source: 'embedded' });
    expect(loadConfig({ OFFERLOOP_WORKERS: '3' }).workers).toEqual({ count: 3, source: 'env' });
    expect(loadConfig({ ...redis, OFFERLOOP_WORKERS: '1' }).workers).toEqual({ count: 1, source: 'env' });
    expect(() => loadConfig({ OFFERLOOP_WORKERS: '0' })).toThrow(
      /OFFERLOOP_WORKERS must be an integer from 1/,
    );
  });

  it('reads the overload limits, 0 turning shedding and the connection limit off', () => {
    const c = loadConfig({
      OFFERLOOP_MAX_EVENT_LOOP_DELAY_MS: '0',
      OFFERLOOP_MAX_CONNECTIONS: '0',
      OFFERLOOP_DECISION_TIMEOUT_MS: '40',
      OFFERLOOP_WS_MAX_SESSIONS_PER_KEY: '2',
      OFFERLOOP_REQUEST_TIMEOUT_MS: '5000',
      OFFERLOOP_KEEP_ALIVE_TIMEOUT_MS: '65000',
    });
    expect(c.http).toMatchObject({
      maxEventLoopDelayMs: 0,
      maxConnections: 0,
      requestTimeoutMs: 5000,
      keepAliveTimeoutMs: 65_000,
    });
    expect([c.decisions.timeoutMs, c.ws.maxSessionsPerKey]).toEqual([40, 2]);
    expect(() => loadConfig({ OFFERLOOP_DECISION_TIMEOUT_MS: '0' })).toThrow(
      /OFFERLOOP_DECISION_TIMEOUT_MS must be an integer from 1/,
    );
  });

  it('refuses bad key options with the entry they are in', () => {
    expect(() =>
      loadConfig({ OFFERLOOP_API_KEYS: 'k-one=decide;origins=desk.example,k-two=banner;rate=0;colour=red' }),
    ).toThrow(
      /entry 1: 'desk.example' is not an origin[\s\S]*entry 2: rate must be a positive integer[\s\S]*entry 2: unknown option 'colour'/,
    );
  });

  it('refuses Redis without API keys, with a message that says what to set', () => {
    expect(() => loadConfig({ REDIS_URL: 'redis://localhost:6379' })).toThrow(
      /OFFERLOOP_API_KEYS is required/,
    );
  });

  it('selects one Redis or a cluster, with prefix and deadline', () => {
    const keys = { OFFERLOOP_API_KEYS: 'ops-key=admin' };
    expect(loadConfig({ ...keys, REDIS_URL: 'redis://localhost:6379' }).redis).toEqual({
      url: 'redis://localhost:6379',
      clusterNodes: [],
      prefix: 'offerloop',
      timeoutMs: 100,
    });
    const cluster = loadConfig({
      ...keys,
      REDIS_CLUSTER_NODES: 'redis://10.0.0.1:7000, redis://10.0.0.2:7000',
      REDIS_PREFIX: 'bank-a',
      REDIS_TIMEOUT_MS: '40',
    }).redis;
    expect(cluster).toEqual({
      url: null,
      clusterNodes: ['redis://10.0.0.1:7000', 'redis://10.0.0.2:7000'],
      prefix: 'bank-a',
      timeoutMs: 40,
    });
    expect(loadConfig({}).redis).toBeNull();
  });

  it('refuses both Redis modes at once, and a prefix that would be a hash tag', () => {
    expect(() =>
      loadConfig({
        OFFERLOOP_API_KEYS: 'ops-key=admin',
        REDIS_URL: 'redis://a:1',
        REDIS_CLUSTER_NODES: 'redis://b:1',
        REDIS_PREFIX: '{x}',
      }),
    ).toThrow(/not both[\s\S]*REDIS_PREFIX must be/);
  });

  it('lists every problem at once', () => {
    try {
      loadConfig({
        PORT: 'eighty',
        OFFERLOOP_API_KEYS: 'k1=decide+fly',
        REDIS_URL: 'http://x',
        OFFERLOOP_WATCH_RULES: 'maybe',
      });
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(ConfigError);
      const problems = (err as ConfigError).problems.join('\n');
      expect(problems).toMatch(/PORT must be an integer from 0 to 65535, got 'eighty'/);
      expect(problems).toMatch(/unknown scope 'fly'/);
      expect(problems).toMatch(/at least 4 characters/);
      expect(problems).toMatch(/REDIS_URL must be a redis:\/\/ or rediss:\/\/ URL/);
      expect(problems).toMatch(/OFFERLOOP_WATCH_RULES must be true or false/);
    }
  });

  it('reads the feedback log settings, windows in hours, and refuses a conversion window shorter than reactions', () => {
    const c = loadConfig(
      { FEEDBACK_SPOOL_DIR: 'spool', FEEDBACK_REACTION_WINDOW_HOURS: '2', FEEDBACK_SHARDS: '4' },
      '/srv/offerloop',
    );
    expect(c.feedback).toMatchObject({
      spoolDir: '/srv/offerloop/spool',
      reactionWindowMs: 2 * 3_600_000,
      conversionWindowMs: 168 * 3_600_000,
      shards: 4,
      consumers: 1,
    });
    expect(() =>
      loadConfig({ FEEDBACK_REACTION_WINDOW_HOURS: '48', FEEDBACK_CONVERSION_WINDOW_HOURS: '24' }),
    ).toThrow(/FEEDBACK_CONVERSION_WINDOW_HOURS must be at least FEEDBACK_REACTION_WINDOW_HOURS/);
  });

  it('reads webhooks by name with their secrets from the environment, and refuses one without a secret', () => {
    const c = loadConfig({
      OFFERLOOP_WEBHOOKS: 'crm=https://crm.example/hook, ops-desk=http://127.0.0.1:9000/in',
      OFFERLOOP_WEBHOOK_SECRET_CRM: 'crm-secret-0123456789',
      OFFERLOOP_WEBHOOK_SECRET_OPS_DESK: 'ops-secret-0123456789',
    });
    expect(c.triggers.webhooks).toEqual([
      { name: 'crm', url: 'https://crm.example/hook', secret: 'crm-secret-0123456789' },
      { name: 'ops-desk', url: 'http://127.0.0.1:9000/in', secret: 'ops-secret-0123456789' },
    ]);
    expect(c.triggers).toMatchObject({ eventIdTtlMs: 24 * 3_600_000, webhookMaxAttempts: 8 });
    expect(() => loadConfig({ OFFERLOOP_WEBHOOKS: 'crm=https://crm.example/hook' })).toThrow(
      /OFFERLOOP_WEBHOOK_SECRET_CRM must be set, at least 16 bytes/,
    );
    expect(() =>
      loadConfig({
        OFFERLOOP_WEBHOOKS: 'CRM=ftp://x',
        OFFERLOOP_WEBHOOK_SECRET_CRM: 'crm-secret-0123456789',
      }),
    ).toThrow(/OFFERLOOP_WEBHOOKS: 'CRM=ftp:\/\/x' must be name=url/);
  });

  it('never puts a key in the name used for logs', () => {
    const c = loadConfig({ OFFERLOOP_API_KEYS: 'super-secret-key=admin' });
    expect(c.auth.keys[0]?.name).not.toContain('secret');
  });
});
