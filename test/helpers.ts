import { mkdirSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance } from 'fastify';
import pino from 'pino';
import { loadConfig } from '../src/config.js';

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

/** A config as the server would read it from these environment variables; a spool dir of its own unless given. */
export function testConfig(env: Record<string, string> = {}) {
  return loadConfig({
    FEEDBACK_SPOOL_DIR: freshSpoolDir(),
    OFFERLOOP_RULES: FIXTURE_RULES,
    OFFERLOOP_PROFILES: FIXTURE_PROFILES,
    OFFERLOOP_WATCH_RULES: 'false',
    ...env,
  });
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
