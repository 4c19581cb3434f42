// Outbound selection benchmark: SelectionService as the server builds it (createServices) over
// BENCH_CUSTOMERS (1,000,000) generated customers, 500 offers (the data of bench:load, generated
// once into bench/results/data/), campaign camp-0001 on email. Every customer is read; those with
// consent the campaign reaches are decided for real (history read, impressions appended, caps
// counted, the decision logged). Embedded: the profiles in memory. Redis: the same customers loaded
// into a local redis-server (BENCH_REDIS=0 skips it), read bucket by bucket, each decision's history
// read and append a round trip. Run: npm run bench:select.
// Reported: wall seconds, customers read and decided per second, CPU µs per customer read (this
// process; Redis' own apart), and what the list holds.

import { mkdtemp } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import pino from 'pino';
import { loadConfig } from '../src/config.js';
import { createServices } from '../src/services.js';
import { REFERENCE_DATE } from '../src/sim/population.js';
import {
  generatedData,
  knob,
  processCpuMs,
  publishResult,
  redisWithProfiles,
  round,
  runBench,
  say,
} from './support.js';

const CUSTOMERS = Math.floor(knob('CUSTOMERS', 1_000_000));
const OFFERS = 500;
const CAMPAIGN = 'camp-0001';
const PREFIX = 'bench';
/** Noon on the population's reference day: every generated offer and campaign is in force. */
const NOW = Date.parse(`${REFERENCE_DATE}T12:00:00Z`);

interface Figures {
  readonly store: string;
  readonly customers: number;
  readonly seconds: number;
  readonly readPerSec: number;
  readonly decided: number;
  readonly decidedPerSec: number;
  readonly cpuUsPerCustomer: number;
  readonly redisCpuUsPerCustomer: number | null;
  readonly treated: number;
  readonly control: number;
  readonly noConsent: number;
  readonly unreachable: number;
  readonly rows: number;
}

async function measure(env: Record<string, string>, redisPid: number | null): Promise<Figures> {
  const spool = await mkdtemp(path.join(tmpdir(), 'offerloop-select-bench-'));
  const config = loadConfig({
    OFFERLOOP_WATCH_RULES: 'false',
    OFFERLOOP_LEARNING: 'false',
    FEEDBACK_CONSUMERS: '0',
    FEEDBACK_SPOOL_DIR: path.join(spool, 'spool'),
    OFFERLOOP_API_KEYS: 'bench-key=admin',
    ...env,
  });
  const services = await createServices(config, pino({ level: 'error' }), () => NOW);
  try {
    say('select', `${env.REDIS_URL === undefined ? 'embedded' : 'redis'}: running`);
    const redisBefore = redisPid === null ? null : processCpuMs(redisPid);
    const cpuBefore = process.cpuUsage();
    const started = await services.selections.start({ campaign: CAMPAIGN, channel: 'email' });
    await services.selections.idle();
    const cpu = process.cpuUsage(cpuBefore);
    const redisAfter = redisPid === null ? null : processCpuMs(redisPid);
    const s = services.selections.get(started.id);
    if (s.state !== 'done') throw new Error(`the selection ${s.state}: ${s.error}`);
    const seconds = s.seconds!;
    return {
      store: s.store,
      customers: s.read,
      seconds: round(seconds, 2),
      readPerSec: Math.round(s.read / seconds),
      decided: s.decided,
      decidedPerSec: Math.round(s.decided / seconds),
      cpuUsPerCustomer: round((cpu.user + cpu.system) / s.read, 2),
      redisCpuUsPerCustomer:
        redisBefore === null || redisAfter === null
          ? null
          : round(((redisAfter - redisBefore) * 1000) / s.read, 2),
      treated: s.treated,
      control: s.control,
      noConsent: s.noConsent,
      unreachable: s.unreachable,
      rows: s.rows,
    };
  } finally {
    await services.close();
  }
}

async function main(): Promise<void> {
  const data = await generatedData('select', OFFERS, CUSTOMERS);
  const runs: Figures[] = [];
  runs.push(await measure({ OFFERLOOP_RULES: data.rules, OFFERLOOP_PROFILES: data.profiles }, null));
  if (process.env.BENCH_REDIS !== '0') {
    const server = await redisWithProfiles('select', data.profiles, PREFIX);
    try {
      runs.push(
        await measure(
          { OFFERLOOP_RULES: data.rules, REDIS_URL: server.url, REDIS_PREFIX: PREFIX },
          server.pid,
        ),
      );
    } finally {
      await server.stop();
    }
  }
  console.table(runs);
  await publishResult('select', {
    config: { customers: CUSTOMERS, offers: OFFERS, campaign: CAMPAIGN },
    runs,
  });
}

runBench('select', main);
