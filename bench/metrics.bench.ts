// Request-path metrics benchmark: what one observation costs, prom-client's own Counter and
// Histogram (through a labels() child, as a caller would keep it) against our series
// (src/metrics/metric-families.ts), resolved once and kept. Run: npm run bench:metrics
// The claim checked: a decision records several of each, so the difference is per request.
// Prints a table and one JSON line ({"bench":"metrics",...}); also writes bench/results/metrics.json.

import { Counter, Histogram, Registry } from 'prom-client';
import { CounterFamily, HistogramFamily } from '../src/metrics/metric-families.js';
import { HTTP_BUCKETS } from '../src/metrics/metrics.js';
import { envNumber, machine, round, writeResult } from './support.js';

const registry = new Registry();
const promCounter = new Counter({
  name: 'prom_counter',
  help: 'h',
  labelNames: ['channel'],
  registers: [registry],
}).labels('web');
const promHistogram = new Histogram({
  name: 'prom_histogram',
  help: 'h',
  labelNames: ['method', 'route', 'status_code'],
  buckets: HTTP_BUCKETS,
  registers: [registry],
}).labels('POST', '/v1/decisions', '200');
const ourCounter = new CounterFamily({ name: 'our_counter', help: 'h', labelNames: ['channel'] }).series(
  'web',
);
const ourHistogram = new HistogramFamily({
  name: 'our_histogram',
  help: 'h',
  labelNames: ['method', 'route', 'status_code'],
  buckets: HTTP_BUCKETS,
}).series('POST', '/v1/decisions', '200');

// Latencies as a decision sees them: mostly under a millisecond, some more.
const values = Float64Array.from({ length: 4096 }, (_, i) => 0.0002 + ((i * 7919) % 4096) / 4096 / 100);
let i = 0;
const next = () => values[i++ & 4095]!;

// A loop of CALLS calls timed as one, ROUNDS times, median: each call is a few ns, too short to
// time alone (and tinybench keeps every sample: tens of millions of them here).
const CALLS = 2_000_000;
const ROUNDS = Math.max(3, Math.floor(envNumber('BENCH_ROUNDS', 7)));
const tasks: [string, () => void][] = [
  ['prom-client counter inc', () => promCounter.inc()],
  ['our counter inc', () => ourCounter.inc()],
  ['prom-client histogram observe', () => promHistogram.observe(next())],
  ['our histogram observe', () => ourHistogram.observe(next())],
];
const rows = tasks.map(([task, call]) => {
  const perCall: number[] = [];
  for (let r = 0; r < ROUNDS + 1; r++) {
    const started = process.hrtime.bigint();
    for (let n = 0; n < CALLS; n++) call();
    const ns = Number(process.hrtime.bigint() - started) / CALLS;
    if (r > 0) perCall.push(ns); // the first round warms up
  }
  perCall.sort((a, b) => a - b);
  return { task, 'ns per call (median)': round(perCall[Math.floor(perCall.length / 2)]!, 1), rounds: ROUNDS };
});
console.table(rows);
const result = { bench: 'metrics', ...machine(), calls: CALLS, rows };
console.log(JSON.stringify(result));
await writeResult('metrics', result);
