import { Writable } from 'node:stream';
import pino from 'pino';
import { loadConfig } from '../config.js';
import { CHANNELS } from '../domain/channel.js';
import { ConfigError, formatProblem, RulesetError } from '../errors.js';
import { SELECTION_FORMATS } from '../service/selection-rows.js';
import type { SelectionStatus } from '../service/selection-service.js';
import { createServices, type Services } from '../services.js';
import { type CliIo, flagsOnly, formatFlags, oneOf, parseCommand, processIo } from './args.js';
import { formatCount, Progress } from './progress.js';
import { checkPopulationFlags, REDIS_FLAGS, redisTargetOf } from './redis-flags.js';

const FLAGS = {
  campaign: { type: 'string', required: true, placeholder: 'ID', description: 'the campaign to select for' },
  channel: {
    type: 'string',
    required: true,
    placeholder: 'CHANNEL',
    description: `the outbound channel: ${CHANNELS.join(', ')}`,
  },
  limit: { type: 'integer', min: 1, placeholder: 'N', description: 'customers to contact at most' },
  offers: {
    type: 'integer',
    default: 1,
    min: 1,
    max: 20,
    placeholder: 'K',
    description: 'offers of the campaign in one contact',
  },
  format: { type: 'string', default: 'csv', placeholder: 'F', description: SELECTION_FORMATS.join(' or ') },
  out: { type: 'string', placeholder: 'FILE', description: 'where the list goes (default: stdout)' },
  'with-control': {
    type: 'boolean',
    description: "also list the control group's rows (group control: not to be sent)",
  },
  rules: {
    type: 'string',
    placeholder: 'DIR',
    description: 'the rules directory (default: $OFFERLOOP_RULES or rules)',
  },
  profiles: {
    type: 'string',
    placeholder: 'FILE',
    description: 'the population from a file (NDJSON or CSV) instead of Redis: a rehearsal',
  },
  ...REDIS_FLAGS,
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

export const SELECT_USAGE = `Usage: offerloop select --campaign ID --channel CHANNEL [--limit N] [--offers K]
                       [--format csv|ndjson] [--out FILE] [--with-control] [--rules DIR]
                       [--profiles FILE | --redis URL | --cluster URL,URL] [--prefix P]

The target list of a campaign on an outbound channel over the whole population (the current
population version in Redis, or a file): each customer with consent the campaign can reach is
decided for real, restricted to the campaign's offers, with the contact policy, eligibility,
segments, caps and budget; the control group is held out and logged, not listed unless asked.
Each row carries its decision id: feedback on it (POST /v1/feedback) closes the loop.

On Redis the decisions are recorded as a server records them (contact histories, caps and
budgets, the feedback log), with the server's environment (OFFERLOOP_API_KEYS, FEEDBACK_SHARDS…).
With --profiles they live only as long as the command: a rehearsal of the list.
A progress bar goes to stderr, the list to --out or stdout (see docs/outbound.md).

Options:
${formatFlags(FLAGS)}
`;

type Env = Readonly<Record<string, string | undefined>>;

/** `offerloop select …`; returns the exit code (0 done, 1 failed, 2 usage error). */
export async function runSelect(
  argv: readonly string[],
  io: CliIo = processIo,
  env: Env = process.env,
): Promise<number> {
  const args = parseCommand(argv, { name: 'select', usage: SELECT_USAGE }, io, () => selectArgs(argv, env));
  if (typeof args === 'number') return args;

  let services: Services | null = null;
  try {
    const config = loadConfig(args.serverEnv);
    const log = pino({ level: 'error' }, pino.destination(2));
    services = await createServices(config, log);
    const out = args.out ?? stdoutOf(io);
    let progress: Progress | null = null;
    const started = await services.selections.start(
      {
        campaign: args.campaign,
        channel: args.channel,
        limit: args.limit,
        offers: args.offers,
        format: args.format,
        withControl: args['with-control'] ?? false,
      },
      { out, onProgress: (s) => progress?.update(s.read, extra(s)) },
    );
    progress = new Progress(io.stderr, 'select', { total: started.population });
    await services.selections.idle();
    const status = services.selections.get(started.id);
    if (status.state === 'failed') throw new Error(status.error ?? 'the selection failed');
    progress.finish(summary(status));
    return 0;
  } catch (err) {
    io.stderr.write(`\nofferloop select: ${messageOf(err)}\n`);
    return 1;
  } finally {
    await services?.close();
  }
}

/** The flags, checked (a UsageError names the one at fault), and the server's environment they make. */
function selectArgs(argv: readonly string[], env: Env) {
  const flags = flagsOnly(argv, FLAGS);
  checkPopulationFlags(flags);
  const format = oneOf('format', flags.format, SELECTION_FORMATS);
  return {
    ...flags,
    format,
    channel: oneOf('channel', flags.channel, CHANNELS),
    serverEnv: serverEnv(flags, env),
  };
}

/**
 * The server's environment for this run: the rules and the population the flags name, no rules
 * watch, and on Redis no feedback consumers (the servers and workers consume) and, when none is
 * set, a key nobody can use: the command serves no HTTP, the configuration only insists on one.
 */
function serverEnv(
  flags: { rules?: string; profiles?: string; redis?: string; cluster?: string; prefix?: string },
  env: Env,
): Record<string, string | undefined> {
  const base: Record<string, string | undefined> = {
    ...env,
    OFFERLOOP_RULES: flags.rules ?? (env.OFFERLOOP_RULES || 'rules'),
    OFFERLOOP_WATCH_RULES: 'false',
    OFFERLOOP_LOG_LEVEL: 'error',
  };
  if (flags.profiles !== undefined) {
    return {
      ...base,
      OFFERLOOP_PROFILES: flags.profiles,
      REDIS_URL: undefined,
      REDIS_CLUSTER_NODES: undefined,
    };
  }
  const target = redisTargetOf(flags, env, 'redis://127.0.0.1:6379');
  return {
    ...base,
    REDIS_URL: target.url ?? undefined,
    REDIS_CLUSTER_NODES: target.url === null ? target.clusterNodes.join(',') : undefined,
    REDIS_PREFIX: target.prefix,
    REDIS_TIMEOUT_MS: String(target.timeoutMs),
    FEEDBACK_CONSUMERS: '0',
    OFFERLOOP_API_KEYS: env.OFFERLOOP_API_KEYS || `select-${process.pid}-unused=report`,
  };
}

/** The list to the command's stdout, as the service writes a stream. */
function stdoutOf(io: CliIo): Writable {
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      io.stdout.write(chunk.toString('utf8'));
      done();
    },
  });
}

function extra(s: SelectionStatus): string {
  return `treated ${formatCount(s.treated)} control ${formatCount(s.control)}`;
}

function summary(s: SelectionStatus): string {
  const rate = s.seconds !== null && s.seconds > 0 ? s.read / s.seconds : 0;
  return (
    `${formatCount(s.read)} customers in ${s.seconds?.toFixed(1)} s (${formatCount(rate)}/s): ` +
    `${formatCount(s.treated)} to contact, ${formatCount(s.control)} held out (control), ` +
    `${formatCount(s.excluded)} left out by the contact policy, ${formatCount(s.noConsent)} without consent, ` +
    `${formatCount(s.unreachable)} out of reach; ${formatCount(s.rows)} rows`
  );
}

function messageOf(err: unknown): string {
  if (err instanceof RulesetError)
    return [err.message, ...err.problems.slice(0, 10).map(formatProblem)].join('\n  ');
  if (err instanceof ConfigError) return err.message;
  return err instanceof Error ? err.message : String(err);
}
