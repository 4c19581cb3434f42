import { rename, rm } from 'node:fs/promises';
import pino from 'pino';
import { MAX_FEEDBACK_SHARDS } from '../config.js';
import type { LogEntry } from '../feedback/feedback-event.js';
import { recordedFeedbackShards } from '../feedback/log/feedback-shards.js';
import { decodeLogEntry, fieldsOf, type LogEntryFields } from '../feedback/log-entry.js';
import { parseDate } from '../ruleset/time.js';
import { RedisConnection } from '../store/redis/redis-connection.js';
import { RedisKeys } from '../store/redis/redis-keys.js';
import { streamPages } from '../store/redis/stream-pages.js';
import { type CliIo, flagsOnly, formatFlags, parseCommand, processIo, UsageError } from './args.js';
import { LineWriter } from './line-writer.js';
import { formatCount, Progress } from './progress.js';
import { REDIS_FLAGS, redisTargetOf } from './redis-flags.js';

const FLAGS = {
  ...REDIS_FLAGS,
  shards: {
    type: 'integer',
    min: 1,
    max: MAX_FEEDBACK_SHARDS,
    placeholder: 'N',
    description: 'shards of the feedback log (default: $FEEDBACK_SHARDS, else as the log records it)',
  },
  since: {
    type: 'string',
    required: true,
    placeholder: 'TIME',
    description: 'first entry time, inclusive',
  },
  until: {
    type: 'string',
    placeholder: 'TIME',
    description: 'last entry time, inclusive (default: the end of the log)',
  },
  out: { type: 'string', required: true, placeholder: 'FILE', description: 'NDJSON file to write' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

export const EXPORT_USAGE = `Usage: offerloop export [--redis URL | --cluster URL,URL] [--prefix P] [--shards N]
                        --since TIME [--until TIME] --out FILE

Writes the feedback log (decisions and feedback events of every shard) between two times as
NDJSON, one entry per line, ordered by time within each shard:

  {"id":"<stream id>","shard":0,"kind":"decision","time":"<ISO>","decision":{…}}
  {"id":"<stream id>","shard":0,"kind":"feedback","time":"<ISO>","event":{…},"attribution":{…}}
  {"id":"<stream id>","shard":0,"kind":"malformed","reason":"…","fields":{…}}

Times select by stream id, i.e. when the entry was appended; "time" is decision.at or event.at.
TIME is an ISO 8601 date or date-time (2026-11-01, 2026-11-01T10:00:00Z; UTC unless it has an
offset) or epoch milliseconds. The file appears only when the export is complete (FILE.tmp until then).

Options:
${formatFlags(FLAGS)}
`;

type Env = Readonly<Record<string, string | undefined>>;

/** The largest sequence number of a stream id: `<ms>-MAX_SEQ` is the last possible id of a millisecond. */
const MAX_SEQ = '18446744073709551615';

interface Counts {
  decision: number;
  feedback: number;
  outcome: number;
  malformed: number;
}

/** `offerloop export …`; returns the exit code (0 written, 1 Redis or file error, 2 usage error). */
export async function runExport(
  argv: readonly string[],
  io: CliIo = processIo,
  env: Env = process.env,
): Promise<number> {
  const args = parseCommand(argv, { name: 'export', usage: EXPORT_USAGE }, io, () => {
    const flags = flagsOnly(argv, FLAGS);
    const sinceMs = parseTime('since', flags.since);
    const untilMs = flags.until === undefined ? null : parseTime('until', flags.until);
    if (untilMs !== null && untilMs < sinceMs) throw new UsageError('--until is before --since');
    return {
      redisConfig: redisTargetOf(flags, env, 'redis://127.0.0.1:6379'),
      shards: flags.shards ?? envShards(env),
      sinceMs,
      untilMs,
      out: flags.out,
    };
  });
  if (typeof args === 'number') return args;
  const { redisConfig, sinceMs, untilMs, out } = args;

  const started = performance.now();
  const tmp = `${out}.tmp`;
  const keys = new RedisKeys(redisConfig.prefix);
  const counts: Counts = { decision: 0, feedback: 0, outcome: 0, malformed: 0 };
  let firstMalformed: string | null = null;
  // Any Redis trouble fails the export with its own message; the connection's warnings would be noise.
  const log = pino({ level: 'error' }, pino.destination(2));
  let redis: RedisConnection | null = null;
  let writer: LineWriter | null = null;
  try {
    // The file first: a path that cannot be written should fail before Redis is bothered.
    writer = await LineWriter.open(tmp);
    redis = await RedisConnection.open(redisConfig, log);
    const shards = args.shards ?? (await recordedFeedbackShards(redis, keys));
    const progress = new Progress(io.stderr, 'export');
    const end = untilMs === null ? '+' : `${untilMs}-${MAX_SEQ}`;
    for (let shard = 0; shard < shards; shard++) {
      const key = keys.feedbackLog(shard);
      for await (const page of streamPages(redis, key, `${sinceMs}-0`, end)) {
        let text = '';
        for (const [id, flat] of page) {
          const line = exportLine(id, shard, fieldsOf(flat));
          counts[line.kind]++;
          if (line.kind === 'malformed' && firstMalformed === null)
            firstMalformed = `shard ${shard} id ${id}: ${line.reason}`;
          text += `${JSON.stringify(line)}\n`;
        }
        await writer.write(text);
        progress.update(
          counts.decision + counts.feedback + counts.outcome + counts.malformed,
          `shard ${shard + 1}/${shards}`,
        );
      }
    }
    await warnIfMoreShards(redis, keys, shards, io);
    await writer.end();
    await rename(tmp, out);
    const seconds = (performance.now() - started) / 1000;
    progress.finish(
      `${formatCount(counts.decision)} decisions, ${formatCount(counts.feedback)} feedback, ${formatCount(counts.outcome)} outcomes, ${formatCount(counts.malformed)} malformed ` +
        `from ${shards} shard${shards === 1 ? '' : 's'} to ${out} in ${seconds.toFixed(1)} s`,
    );
    if (counts.malformed > 0)
      io.stderr.write(
        `export: ${formatCount(counts.malformed)} entries did not decode and are written as kind "malformed"; first: ${firstMalformed}\n`,
      );
    return 0;
  } catch (err) {
    await writer?.abort();
    await rm(tmp, { force: true }).catch(() => {});
    io.stderr.write(`\nofferloop export: failed: ${(err as Error).message}\n`);
    return 1;
  } finally {
    redis?.close();
  }
}

type ExportLine =
  | { id: string; shard: number; kind: LogEntry['kind']; time: string; [part: string]: unknown }
  | { id: string; shard: number; kind: 'malformed'; reason: string; fields: LogEntryFields };

/** One output line; an entry that does not decode is kept (with the reason) rather than lost. */
function exportLine(id: string, shard: number, fields: LogEntryFields): ExportLine {
  let entry: LogEntry;
  try {
    entry = decodeLogEntry(fields);
  } catch (err) {
    return { id, shard, kind: 'malformed', reason: (err as Error).message, fields };
  }
  const at = entry.kind === 'decision' ? entry.decision.at : entry.event.at;
  // decodeLogEntry does not check a decision's `at`; toISOString() would throw on a bad one.
  if (typeof at !== 'number' || !Number.isFinite(at) || Math.abs(at) > 8.64e15)
    return { id, shard, kind: 'malformed', reason: `${entry.kind} has no valid at`, fields };
  return { id, shard, kind: entry.kind, time: new Date(at).toISOString(), ...withoutKind(entry) };
}

function withoutKind(entry: LogEntry): Record<string, unknown> {
  const { kind: _kind, ...rest } = entry;
  return rest;
}

/** Exporting fewer shards than the log has would silently drop data: say so. */
async function warnIfMoreShards(redis: RedisConnection, keys: RedisKeys, shards: number, io: CliIo) {
  const next = keys.feedbackLog(shards);
  if ((await redis.send<number>(next, ['EXISTS', next])) === 1)
    io.stderr.write(
      `export: warning: ${next} exists but was not exported; is --shards (${shards}) too small?\n`,
    );
}

/** Epoch ms of an ISO 8601 date (UTC midnight), date-time (UTC unless it has an offset) or epoch ms. */
export function parseTime(flag: string, text: string): number {
  const bad = () =>
    new UsageError(
      `--${flag} must be an ISO 8601 date or date-time (2026-11-01, 2026-11-01T10:00:00Z) or epoch milliseconds, got '${text}'`,
    );
  if (/^\d+$/.test(text)) {
    const ms = Number(text);
    if (!Number.isSafeInteger(ms)) throw bad();
    return ms;
  }
  const ms = parseDate(text);
  if (ms === null || ms < 0) throw bad();
  return ms;
}

function envShards(env: Env): number | null {
  const raw = env.FEEDBACK_SHARDS;
  if (raw === undefined || raw === '') return null;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > MAX_FEEDBACK_SHARDS)
    throw new UsageError(`FEEDBACK_SHARDS must be an integer from 1 to ${MAX_FEEDBACK_SHARDS}, got '${raw}'`);
  return n;
}
