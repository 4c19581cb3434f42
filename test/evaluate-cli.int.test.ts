import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogEntry } from '../src/feedback/feedback-event.js';
import { catalogProducts, rulesFileTexts } from '../src/sim/catalog.js';
import { generatePopulation } from '../src/sim/population.js';
import { simulate, simulationRules } from '../src/sim/simulation.js';

const run = promisify(execFile);
const root = fileURLToPath(new URL('..', import.meta.url));
const bin = path.join(root, 'bin/offerloop');

const SEED = 'evaluate-cli';
const CUSTOMERS = 1000;
const INTERACTIONS = 5000;

interface Failed {
  code: number;
  stdout: string;
  stderr: string;
}

/** Runs the CLI; resolves with the exit code and output whatever the code. */
async function offerloop(args: string[]): Promise<Failed> {
  try {
    const { stdout, stderr } = await run(bin, args, { cwd: root });
    return { code: 0, stdout, stderr };
  } catch (err) {
    return err as Failed;
  }
}

/** One line as `offerloop export` writes it. */
function exportLine(entry: LogEntry, n: number): string {
  const { kind, ...rest } = entry;
  const at = entry.kind === 'decision' ? entry.decision.at : entry.event.at;
  return JSON.stringify({ id: `${at}-${n}`, shard: 0, kind, time: new Date(at).toISOString(), ...rest });
}

// The CLI runs the compiled code, as users run it after `npm install` (which builds dist/).
describe('offerloop evaluate', () => {
  let dir: string;
  let rules: string;
  let profiles: string;
  let log: string;
  let records: string[];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'offerloop-evaluate-'));
    rules = path.join(dir, 'rules');
    profiles = path.join(dir, 'profiles.ndjson');
    log = path.join(dir, 'log.ndjson');
    // The simulator's world, written as the files an operator would have.
    const files = simulationRules({ seed: SEED });
    await mkdir(rules);
    for (const { name, text } of rulesFileTexts(files)) await writeFile(path.join(rules, name), text);
    records = [...generatePopulation(CUSTOMERS, catalogProducts(files), { seed: SEED, affinities: 20 })].map(
      (r) => JSON.stringify(r),
    );
    await writeFile(profiles, `${records.join('\n')}\n`);
    const lines: string[] = [];
    await simulate({
      customers: CUSTOMERS,
      interactions: INTERACTIONS,
      seed: SEED,
      exploration: 0.2,
      onLog: (entry) => lines.push(exportLine(entry, lines.length)),
    });
    // Line 4 is broken; line 6 is an entry the export could not decode.
    lines.splice(3, 0, '{"kind":"decision","decision":');
    lines.splice(5, 0, JSON.stringify({ id: '1-0', shard: 0, kind: 'malformed', reason: 'x', fields: {} }));
    await writeFile(log, `${lines.join('\n')}\n`);
  }, 60_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('prints one JSON object with --json, and reports a broken line by its number', async () => {
    const { code, stdout, stderr } = await offerloop([
      'evaluate',
      '--rules',
      rules,
      '--log',
      log,
      '--profiles',
      profiles,
      '--json',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.log).toMatchObject({ decisions: INTERACTIONS, badLines: 1, malformedEntries: 1 });
    expect(report.learning).toBe(true);
    expect(report.exploration).toBe(0);
    expect(report.logged.decisions).toBe(INTERACTIONS);
    expect(report.logged.acceptRate).toBeGreaterThan(0);
    for (const name of ['ips', 'snips', 'doublyRobust']) {
      const e = report[name];
      expect(e.n).toBe(INTERACTIONS);
      expect(e.estimate).toBeGreaterThan(0);
      expect(e.ci95[0]).toBeLessThan(e.estimate);
      expect(e.ci95[1]).toBeGreaterThan(e.estimate);
      expect(e.effectiveSampleSize).toBeGreaterThan(100);
    }
    // The logging rules, greedy: most logged offers (all but the explored ones) are the candidate's.
    expect(report.candidate.matchRate).toBeGreaterThan(0.7);
    expect(report.skipped).toEqual({ unknownCustomer: 0, noProbability: 0 });
    expect(stderr).toMatch(/1 of [\d,]+ lines of .*log\.ndjson are not log entries/);
    expect(stderr).toMatch(/line 4: not JSON/);
    expect(stderr).toMatch(/1 entry of .* marked "malformed"/);
  });

  it('prints a table by default; --no-learning and --exploration change the candidate', async () => {
    const { code, stdout } = await offerloop([
      'evaluate',
      '--rules',
      rules,
      '--log',
      log,
      '--profiles',
      profiles,
      '--no-learning',
      '--exploration',
      '0.1',
    ]);
    expect(code).toBe(0);
    expect(stdout).toMatch(/ε-greedy \(ε 0\.1\), affinities only/);
    for (const row of ['logged policy', 'IPS', 'SNIPS', 'doubly robust'])
      expect(stdout).toMatch(new RegExp(`^  ${row} +0\\.\\d{4} +\\[0\\.\\d{4}, 0\\.\\d{4}\\]`, 'm'));
    expect(stdout).toMatch(/^match rate \d+\.\d%/m);
  });

  it('skips and counts the decisions of customers it has no profile for', async () => {
    const few = path.join(dir, 'few.ndjson');
    await writeFile(few, records.slice(0, 100).join('\n'));
    const { code, stdout } = await offerloop([
      'evaluate',
      '--rules',
      rules,
      '--log',
      log,
      '--profiles',
      few,
      '--json',
    ]);
    expect(code).toBe(0);
    const report = JSON.parse(stdout);
    expect(report.skipped.unknownCustomer).toBeGreaterThan(INTERACTIONS * 0.8);
    expect(report.logged.decisions + report.skipped.unknownCustomer).toBe(INTERACTIONS);
  });

  it('exits 2 with the usage when a flag is missing', async () => {
    const { code, stderr } = await offerloop(['evaluate', '--rules', rules, '--log', log]);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--profiles is required/);
    expect(stderr).toMatch(/Usage: offerloop evaluate --rules DIR --log FILE --profiles FILE/);
  });

  it('exits 1 when nothing in the log can be evaluated, or a file is missing', async () => {
    const junk = path.join(dir, 'junk.ndjson');
    await writeFile(junk, 'junk\n{"kind":"feedback"}\n');
    const nothing = await offerloop(['evaluate', '--rules', rules, '--log', junk, '--profiles', profiles]);
    expect(nothing.code).toBe(1);
    expect(nothing.stderr).toMatch(/line 1: not JSON/);
    expect(nothing.stderr).toMatch(/line 2: feedback entry without an "event" object/);
    expect(nothing.stderr).toMatch(/no decisions to evaluate/);
    const missing = await offerloop([
      'evaluate',
      '--rules',
      rules,
      '--log',
      log,
      '--profiles',
      path.join(dir, 'missing.ndjson'),
    ]);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/cannot read --profiles .*missing\.ndjson: ENOENT/);
  });

  it('is listed in the main usage', async () => {
    const { stdout } = await offerloop(['--help']);
    expect(stdout).toMatch(/evaluate --rules DIR --log FILE --profiles FILE/);
  });
});
