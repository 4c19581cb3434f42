import { createReadStream } from 'node:fs';
import { basename } from 'node:path';
import { createInterface } from 'node:readline';
import pino from 'pino';
import { CHANNELS } from '../domain/channel.js';
import type { CapUsage } from '../domain/contact.js';
import { formatProblem, RulesetError } from '../errors.js';
import { LogCounters } from '../evaluation/policy-evaluation.js';
import type { WhatIfReport, WhatIfSide, WhatIfTotals } from '../evaluation/what-if.js';
import { loadRuleset } from '../ruleset/load.js';
import type { RulesetSnapshot } from '../ruleset/snapshot.js';
import { WhatIfService, type WhatIfStatus } from '../service/what-if-service.js';
import { MemoryCapCounters } from '../store/cap-counters.js';
import { MemoryProfileStore } from '../store/memory-profile-store.js';
import { MemoryPopulation, type PopulationSource } from '../store/population-source.js';
import { readProfilesFile } from '../store/profile-file.js';
import { readCapSnapshot } from '../store/redis/redis-cap-snapshot.js';
import { RedisConnection } from '../store/redis/redis-connection.js';
import { RedisKeys } from '../store/redis/redis-keys.js';
import { RedisPopulation } from '../store/redis/redis-population.js';
import { type CliIo, flagsOnly, formatFlags, oneOf, parseCommand, processIo } from './args.js';
import { parseLogLine } from './evaluate-command.js';
import { parseTime } from './export-command.js';
import { formatCount, Progress } from './progress.js';
import { checkPopulationFlags, REDIS_FLAGS, redisTargetOf } from './redis-flags.js';

const FLAGS = {
  candidate: {
    type: 'string',
    required: true,
    placeholder: 'DIR',
    description: 'the candidate rules directory',
  },
  rules: {
    type: 'string',
    placeholder: 'DIR',
    description: 'the live rules directory (default: $OFFERLOOP_RULES or rules)',
  },
  channel: { type: 'string', required: true, placeholder: 'CHANNEL', description: CHANNELS.join(', ') },
  volume: {
    type: 'integer',
    required: true,
    min: 1,
    max: 100_000_000,
    placeholder: 'N',
    description: 'contacts: a stable sample of about N customers (all when N ≥ the population)',
  },
  limit: {
    type: 'integer',
    default: 1,
    min: 1,
    max: 20,
    placeholder: 'K',
    description: 'offers per contact',
  },
  profiles: {
    type: 'string',
    placeholder: 'FILE',
    description: 'the population from a file (NDJSON or CSV) instead of Redis',
  },
  ...REDIS_FLAGS,
  log: {
    type: 'string',
    placeholder: 'FILE',
    description: 'learn propensities from a feedback log (offerloop export); none: the priors',
  },
  at: { type: 'string', placeholder: 'TIME', description: 'when the contacts happen (default: now)' },
  json: { type: 'boolean', description: 'print one JSON object instead of tables' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

export const WHAT_IF_USAGE = `Usage: offerloop what-if --candidate DIR [--rules DIR] --channel CHANNEL --volume N [--limit K]
                         [--profiles FILE | --redis URL | --cluster URL,URL] [--prefix P]
                         [--log FILE] [--at TIME] [--json]

Runs a candidate ruleset and the live one through the real engine over the same customers (a
stable sample of about N of the population, from a file or the current population version in
Redis), each contacted once on the channel, and prints them side by side with the difference:
customers with an offer, offers, campaigns and segments reached, expected accepts (the sum of the
propensities of the offers shown) and expected value, budget and cap use and where they bind.
Caps and budgets count from the servers' counters in Redis (from zero with --profiles). Contact
histories are not read (see docs/what-if.md).
A progress bar goes to stderr, the report to stdout.

Options:
${formatFlags(FLAGS)}
`;

type Env = Readonly<Record<string, string | undefined>>;

class CommandError extends Error {}

/** `offerloop what-if …`; returns the exit code (0 done, 1 failed, 2 usage error). */
export async function runWhatIf(
  argv: readonly string[],
  io: CliIo = processIo,
  env: Env = process.env,
): Promise<number> {
  const args = parseCommand(argv, { name: 'what-if', usage: WHAT_IF_USAGE }, io, () => {
    const flags = flagsOnly(argv, FLAGS);
    checkPopulationFlags(flags);
    return {
      ...flags,
      channel: oneOf('channel', flags.channel, CHANNELS),
      rules: flags.rules ?? (env.OFFERLOOP_RULES || 'rules'),
      at: flags.at === undefined ? Date.now() : parseTime('at', flags.at),
      redisConfig: flags.profiles === undefined ? redisTargetOf(flags, env, 'redis://127.0.0.1:6379') : null,
    };
  });
  if (typeof args === 'number') return args;

  let redis: RedisConnection | null = null;
  try {
    const live = await rulesOf('rules', args.rules, args.at);
    const candidate = await rulesOf('candidate', args.candidate, args.at);
    const counters = args.log === undefined ? null : await readCounters(args.log);
    let population: PopulationSource;
    let usage: CapUsage = new MemoryCapCounters();
    if (args.redisConfig === null) {
      population = await filePopulation(args.profiles!, io);
    } else {
      const log = pino({ level: 'error' }, pino.destination(2));
      redis = await RedisConnection.open(args.redisConfig, log);
      const keys = new RedisKeys(args.redisConfig.prefix);
      population = new RedisPopulation(redis, keys);
      // The servers' shared counters as they are now: caps and budgets bind where they would.
      usage = await readCapSnapshot(redis, keys, args.at);
    }
    const name = basename(args.candidate);
    const service = new WhatIfService({
      rules: { current: live },
      candidates: { snapshot: async () => candidate },
      learning: { model: (snapshot: RulesetSnapshot) => counters?.model(snapshot) },
      population,
      usage,
      clock: () => args.at,
      defaultLimit: args.limit,
    });
    const started = await service.start({ candidate: name, channel: args.channel, volume: args.volume });
    if (started.population === 0) throw new CommandError('the population is empty');
    const progress = new Progress(io.stderr, 'what-if', { total: started.total });
    const timer = setInterval(() => progress.update(service.get(started.id).done), 100);
    await service.idle();
    clearInterval(timer);
    const status = service.get(started.id);
    if (status.state === 'failed') throw new CommandError(status.error ?? 'the run failed');
    progress.finish(
      `${formatCount(status.done)} customers decided on both rulesets in ${status.seconds?.toFixed(1)} s`,
    );
    io.stdout.write(args.json ? `${JSON.stringify(status)}\n` : textReport(status, status.result!));
    return 0;
  } catch (err) {
    io.stderr.write(`\nofferloop what-if: ${messageOf(err)}\n`);
    return 1;
  } finally {
    redis?.close();
  }
}

async function rulesOf(flag: string, dir: string, at: number): Promise<RulesetSnapshot> {
  try {
    return await loadRuleset(dir, at);
  } catch (err) {
    if (err instanceof RulesetError) {
      const shown = err.problems.slice(0, 10).map((p) => `  ${formatProblem(p)}`);
      throw new CommandError([`--${flag} ${dir} does not load:`, ...shown].join('\n'));
    }
    throw new CommandError(`--${flag} ${dir}: ${(err as Error).message}`);
  }
}

/** The feedback counters of an exported log: what the server would have learned from it. */
async function readCounters(file: string): Promise<LogCounters> {
  const counters = new LogCounters();
  const input = createInterface({
    input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  try {
    for await (const text of input) {
      const parsed = parseLogLine(text);
      if (parsed !== null && typeof parsed === 'object') counters.add(parsed);
    }
  } catch (err) {
    throw new CommandError(`cannot read --log ${file}: ${(err as Error).message}`);
  }
  return counters;
}

async function filePopulation(file: string, io: CliIo): Promise<PopulationSource> {
  let result: Awaited<ReturnType<typeof readProfilesFile>>;
  try {
    result = await readProfilesFile(file);
  } catch (err) {
    throw new CommandError(`--profiles ${file}: ${(err as Error).message}`);
  }
  if (result.badCount > 0)
    io.stderr.write(`what-if: ${result.badCount} lines of ${file} are not valid profiles and were skipped\n`);
  return new MemoryPopulation(new MemoryProfileStore(result.profiles));
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

// --- the text report ---

const TOTALS: readonly [keyof WhatIfTotals, string][] = [
  ['decisions', 'customers decided'],
  ['customersWithOffer', 'customers with an offer'],
  ['offersShown', 'offers shown'],
  ['heldOut', 'held out (control groups)'],
  ['expectedAccepts', 'expected accepts'],
  ['expectedValue', 'expected value'],
  ['spend', 'channel cost spent'],
  ['offersReached', 'offers reached'],
  ['campaignsReached', 'campaigns reached'],
  ['segmentsReached', 'segments reached'],
  ['bound', 'caps and budgets run out'],
];

const num = (n: number, digits = 1) =>
  Number.isInteger(n) ? formatCount(n) : n.toLocaleString('en-US', { maximumFractionDigits: digits });
const signed = (n: number, digits = 1) => (n > 0 ? `+${num(n, digits)}` : num(n, digits));

function table(rows: readonly (readonly string[])[]): string {
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  return rows
    .map((r) =>
      r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join('  '),
    )
    .join('\n');
}

function textReport(status: WhatIfStatus, report: WhatIfReport): string {
  const live = report.live;
  const candidate = report.candidate!;
  const diff = report.difference!;
  const head = [
    `what-if on ${report.channel}, ${report.limit} offer(s) per contact, at ${report.now}: ` +
      `${formatCount(status.done)} of ${formatCount(status.population)} customers (${status.store}), ` +
      `${status.seconds?.toFixed(1)} s`,
    `live ${live.rulesetVersion}${live.learned ? ' (learned)' : ' (priors)'}, ` +
      `candidate ${candidate.name} ${candidate.rulesetVersion}${candidate.learned ? ' (learned)' : ' (priors)'}`,
    '',
  ];
  const totals = table([
    ['', 'live', 'candidate', 'difference'],
    ...TOTALS.map(([key, label]) => [
      label,
      num(live.totals[key]),
      num(candidate.totals[key]),
      signed(diff.totals[key]),
    ]),
  ]);
  return `${[...head, totals, '', campaignTable(live, candidate), ''].join('\n')}\n`;
}

function campaignTable(live: WhatIfSide, candidate: WhatIfSide): string {
  const ids = [...new Set([...live.campaigns, ...candidate.campaigns].map((c) => c.id))];
  const bound = (side: WhatIfSide, id: string) => {
    const c = side.campaigns.find((x) => x.id === id);
    if (c === undefined) return '-';
    const use = c.budgetUse === null ? '' : `${Math.round(c.budgetUse * 100)}% budget`;
    const binding = c.boundBy === null ? '' : `${c.boundBy} at ${formatCount(c.boundAtDecision!)}`;
    return [use, binding].filter((s) => s !== '').join(', ') || '-';
  };
  const shown = (side: WhatIfSide, id: string) => side.campaigns.find((x) => x.id === id)?.shown ?? 0;
  const accepts = (side: WhatIfSide, id: string) =>
    side.campaigns.find((x) => x.id === id)?.expectedAccepts ?? 0;
  return table([
    ['campaign', 'shown live', 'candidate', 'accepts live', 'candidate', 'live: use, binds', 'candidate'],
    ...ids.map((id) => [
      id,
      num(shown(live, id)),
      num(shown(candidate, id)),
      num(accepts(live, id)),
      num(accepts(candidate, id)),
      bound(live, id),
      bound(candidate, id),
    ]),
  ]);
}
