import { mkdirSync, mkdtempSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { buildServer } from '../src/server.js';
import { createServices, type Services } from '../src/services.js';

export const FIXTURE_RULES = fileURLToPath(new URL('./fixtures/rules', import.meta.url));
export const FIXTURE_PROFILES = fileURLToPath(new URL('./fixtures/profiles.ndjson', import.meta.url));
export const EXAMPLE_RULES = fileURLToPath(new URL('../rules', import.meta.url));

/** A logger that keeps quiet in tests unless OFFERLOOP_TEST_LOG is set. */
export const testLog = pino({ level: process.env.OFFERLOOP_TEST_LOG ?? 'silent' });

/**
 * A spool dir of its own for each test server, all under one folder of the system's temp dir
 * (vitest ends its workers with SIGTERM, before any exit handler could tidy up).
 */
function freshSpoolDir(): string {
  const root = path.join(tmpdir(), 'offerloop-test-spools');
  mkdirSync(root, { recursive: true });
  return mkdtempSync(path.join(root, 'spool-'));
}

/**
 * A config as the server would read it from these environment variables; a spool dir of its own
 * unless given. No load shedding unless a test sets it: on a busy CI machine the test process
 * itself may be kept waiting long enough to shed a request of a test about something else.
 */
export function testConfig(env: Record<string, string> = {}) {
  return loadConfig({
    FEEDBACK_SPOOL_DIR: freshSpoolDir(),
    OFFERLOOP_MAX_EVENT_LOOP_DELAY_MS: '0',
    OFFERLOOP_RULES: FIXTURE_RULES,
    OFFERLOOP_PROFILES: FIXTURE_PROFILES,
    OFFERLOOP_WATCH_RULES: 'false',
    // An erasure's second sweep: what is in flight in a test lands within this.
    OFFERLOOP_ERASURE_SETTLE_MS: '100',
    ...env,
  });
}

/** The example rules with a generated demo population (which has phone numbers) of this many customers. */
export function demoWorld(customers: number): Record<string, string> {
  return {
    OFFERLOOP_RULES: EXAMPLE_RULES,
    OFFERLOOP_PROFILES: '',
    OFFERLOOP_DEMO_CUSTOMERS: String(customers),
  };
}

/** A server as `npm start` builds it, not listening (inject, or listen()). */
export interface TestServer {
  readonly app: FastifyInstance;
  readonly services: Services;
  close(): Promise<void>;
}

/** Builds services and app from testConfig(env); `clock` fixes the time services see. */
export async function testServer(
  env: Record<string, string> = {},
  clock?: () => number,
): Promise<TestServer> {
  const config = testConfig(env);
  const services = await createServices(config, testLog, clock);
  try {
    const app = await buildServer(config, services, testLog);
    return {
      app,
      services,
      async close() {
        await app.close();
        await services.close();
      },
    };
  } catch (err) {
    await services.close();
    throw err;
  }
}

/** Listens on a free port of 127.0.0.1; answers the port. */
export async function listen(app: FastifyInstance): Promise<number> {
  await app.listen({ port: 0, host: '127.0.0.1' });
  return (app.server.address() as AddressInfo).port;
}

/** POST /v1/decisions through inject, with a Bearer key. */
export function postDecision(app: FastifyInstance, key: string, payload: object) {
  return app.inject({
    method: 'POST',
    url: '/v1/decisions',
    headers: { authorization: `Bearer ${key}` },
    payload,
  });
}
