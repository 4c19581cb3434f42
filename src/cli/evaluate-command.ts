import { constants, createReadStream } from 'node:fs';
import { access, stat } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import { CHANNELS } from '../domain/channel.js';
import { type CustomerProfile, profileFromRecord } from '../domain/profile.js';
import { formatProblem, RulesetError } from '../errors.js';
import type { OffPolicyEstimate } from '../evaluation/off-policy.js';
import {
  CandidatePolicy,
  LogCounters,
  type PolicyEvaluation,
  PolicyEvaluator,
} from '../evaluation/policy-evaluation.js';
import type { Interval } from '../evaluation/uplift.js';
import type { LogEntry } from '../feedback/feedback-event.js';
import { loadRuleset } from '../ruleset/load.js';
import { profileLines } from '../store/profile-lines.js';
import { type CliIo, flagsOnly, formatFlags, parseCommand, processIo } from './args.js';
import { formatCount, Progress } from './progress.js';

const FLAGS = {
  rules: {
    type: 'string',
    required: true,
    placeholder: 'DIR',
    description: 'the candidate ruleset: a rules directory',
  },
  log: {
    type: 'string',
    required: true,
    placeholder: 'FILE',
    description: 'the decision log, as `offerloop export` writes it (NDJSON)',
  },
  profiles: {
    type: 'string',
    required: true,
    placeholder: 'FILE',
    description: 'customer profiles (NDJSON or CSV, as `offerloop load` takes them)',
  },
  exploration: {
    type: 'number',
    default: 0,
    min: 0,
    max: 1,
    placeholder: 'E',
    description: 'evaluate the candidate with ε-greedy exploration of this share',
  },
  'no-learning': {
    type: 'boolean',
    description: 'decide on the affinities alone instead of what the log teaches',
  },
  json: { type: 'boolean', description: 'print one JSON object instead of a table' },
  help: { type: 'boolean', short: 'h', description: 'show this help' },
} as const;

export const EVALUATE_USAGE = `Usage: offerloop evaluate --rules DIR --log FILE --profiles FILE [--exploration E]
                          [--no-learning] [--json]

Estimates how a candidate ruleset would have performed on logged decisions, without deploying it:
the accepts per decision it would have had, by inverse propensity scoring (IPS), self-normalised
IPS and doubly robust estimation, each with a 95% interval and its effective sample size, next to
the logged policy's own accept rate. See docs/evaluation.md.

Each logged decision is decided again by the candidate, for the same customer, channel,
placement, limit and time, which is why the profiles are needed (the log keeps ids, not
customers); reading them from Redis is not supported: export them to a file. The log keeps no
contact history and no request context, so the candidate decides without them. Unless
--no-learning, the candidate uses what the server would have learned from this log.

The log is the NDJSON of \`offerloop export\`, one entry per line:
  {"kind":"decision","decision":{…}}, {"kind":"feedback","event":{…},"attribution":{…}},
  {"kind":"outcome","event":{…}}
Lines that are not entries are reported with their line numbers and skipped. Decisions logged
before offers carried their probability, and decisions of customers not in the profiles file,
are skipped and counted.

Options:
${formatFlags(FLAGS)}
`;

/** Below this size the log is read without a progress meter. */
const PROGRESS_FROM_BYTES = 8 << 20;
/** Bad lines reported one by one; the rest are only counted. */
const REPORTED_LINES = 5;

interface BadLine {
  readonly line: number;
  readonly reason: string;
}

/** What the first pass learned about the log. */
interface LogSummary {
  lines: number;
  decisions: number;
  feedback: number;
  /** Entries the exporter could not decode itself (kind "malformed"). */
  malformedEntries: number;
  badLines: number;
  readonly firstBad: BadLine[];
  readonly counters: LogCounters;
  /** Accepted offer ids by decision id. */
  readonly accepted: Map<string, Set<string>>;
  readonly customers: Set<string>;
}

class CommandError extends Error {}

/** `offerloop evaluate …`; returns the exit code (0 done, 1 failed or nothing to evaluate, 2 usage error). */
export async function runEvaluate(argv: readonly string[], io: CliIo = processIo): Promise<number> {
  const flags = parseCommand(argv, { name: 'evaluate', usage: EVALUATE_USAGE }, io, () =>
    flagsOnly(argv, FLAGS),
  );
  if (typeof flags === 'number') return flags;

  const started = performance.now();
  try {
    const snapshot = await loadRuleset(flags.rules);
    const size = await sizeOf('log', flags.log);
    await sizeOf('profiles', flags.profiles);
    const summary = await readLog(flags.log, size, io);
    reportBadLines(flags.log, summary, io);
    if (summary.decisions === 0) throw new CommandError(`${flags.log}: no decisions to evaluate`);

    const profiles = await readProfiles(flags.profiles, summary.customers, io);
    const learning = !flags['no-learning'];
    const policy = new CandidatePolicy(snapshot, {
      learned: learning ? summary.counters.model(snapshot) : undefined,
      exploration: flags.exploration,
    });
    const evaluator = new PolicyEvaluator(policy, (id) => profiles.get(id));
    await evaluateLog(flags.log, size, summary, evaluator, io);
    const result = evaluator.result();
    const seconds = (performance.now() - started) / 1000;
    if (result.logged.decisions === 0) {
      io.stderr.write(
        `offerloop evaluate: none of the ${formatCount(summary.decisions)} decisions could be evaluated: ` +
          `${skippedText(result, flags.profiles)}\n`,
      );
      return 1;
    }
    const report: Report = {
      rules: { dir: flags.rules, version: snapshot.version },
      log: {
        file: flags.log,
        lines: summary.lines,
        decisions: summary.decisions,
        feedback: summary.feedback,
        malformedEntries: summary.malformedEntries,
        badLines: summary.badLines,
      },
      profiles: { file: flags.profiles, found: profiles.size },
      learning,
      exploration: flags.exploration,
      seconds: Number(seconds.toFixed(2)),
      ...result,
    };
    io.stdout.write(flags.json ? `${JSON.stringify(report)}\n` : textReport(report));
    return 0;
  } catch (err) {
    io.stderr.write(`offerloop evaluate: ${messageOf(err)}\n`);
    return 1;
  }
}

/** A file's size; a file that cannot be read fails here, before any work, naming its flag. */
async function sizeOf(flag: string, file: string): Promise<number> {
  try {
    await access(file, constants.R_OK);
    return (await stat(file)).size;
  } catch (err) {
    throw new CommandError(
      `cannot read --${flag} ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`,
    );
  }
}

function messageOf(err: unknown): string {
  if (err instanceof RulesetError) {
    const shown = err.problems.slice(0, 10).map((p) => `  ${formatProblem(p)}`);
    const more = err.problems.length > 10 ? [`  … and ${err.problems.length - 10} more`] : [];
    return [`the candidate ruleset does not load:`, ...shown, ...more].join('\n');
  }
  return err instanceof Error ? err.message : String(err);
}

/** The lines of a file with their 1-based numbers and a running count of the characters read. */
async function* lines(file: string): AsyncGenerator<{ text: string; line: number; read: number }> {
  const input = createInterface({
    input: createReadStream(file, { encoding: 'utf8', highWaterMark: 1 << 20 }),
    crlfDelay: Number.POSITIVE_INFINITY,
  });
  let line = 0;
  let read = 0;
  for await (const text of input) {
    line++;
    read += text.length + 1;
    yield { text, line, read };
  }
}

function meter(size: number, label: string, io: CliIo): Progress | null {
  return size >= PROGRESS_FROM_BYTES ? new Progress(io.stderr, label, { total: size, unit: 'bytes' }) : null;
}

/**
 * The first pass: checks every line, and collects what the second pass needs (the learned model's
 * counters, the accepts of each decision, which customers to read). Two passes keep memory flat
 * whatever the size of the log: decisions are not kept.
 */
async function readLog(file: string, size: number, io: CliIo): Promise<LogSummary> {
  const summary: LogSummary = {
    lines: 0,
    decisions: 0,
    feedback: 0,
    malformedEntries: 0,
    badLines: 0,
    firstBad: [],
    counters: new LogCounters(),
    accepted: new Map(),
    customers: new Set(),
  };
  const progress = meter(size, 'evaluate: reading the log', io);
  for await (const { text, line, read } of lines(file)) {
    summary.lines = line;
    progress?.update(read);
    const parsed = parseLogLine(text);
    if (parsed === null) continue;
    if (parsed === 'malformed') {
      summary.malformedEntries++;
      continue;
    }
    if (typeof parsed === 'string') {
      summary.badLines++;
      if (summary.firstBad.length < REPORTED_LINES) summary.firstBad.push({ line, reason: parsed });
      continue;
    }
    summary.counters.add(parsed);
    if (parsed.kind === 'decision') {
      summary.decisions++;
      summary.customers.add(parsed.decision.customerId);
      continue;
    }
    summary.feedback++;
    if (parsed.kind === 'outcome') continue;
    const { event, attribution } = parsed;
    if (event.type !== 'accept' || attribution.heldOut) continue;
    let offers = summary.accepted.get(event.decisionId);
    if (offers === undefined) {
      offers = new Set();
      summary.accepted.set(event.decisionId, offers);
    }
    offers.add(event.offerId);
  }
  progress?.finish(`${formatCount(summary.lines)} lines read`);
  return summary;
}

function reportBadLines(file: string, summary: LogSummary, io: CliIo): void {
  if (summary.badLines > 0) {
    const first = summary.firstBad.map((b) => `\n  line ${b.line}: ${b.reason}`).join('');
    const more = summary.badLines > summary.firstBad.length ? '\n  …' : '';
    io.stderr.write(
      `evaluate: ${formatCount(summary.badLines)} of ${formatCount(summary.lines)} lines of ${file} are not log entries and were skipped:${first}${more}\n`,
    );
  }
  if (summary.malformedEntries > 0)
    io.stderr.write(
      `evaluate: ${formatCount(summary.malformedEntries)} ${summary.malformedEntries === 1 ? 'entry' : 'entries'} of ${file} marked "malformed" by the export (it could not decode them) skipped\n`,
    );
}

/** The second pass: every decision through the evaluator, with its accepts. */
async function evaluateLog(
  file: string,
  size: number,
  summary: LogSummary,
  evaluator: PolicyEvaluator,
  io: CliIo,
): Promise<void> {
  const none: ReadonlySet<string> = new Set();
  const progress = meter(size, 'evaluate: deciding again', io);
  let decisions = 0;
  for await (const { text, read } of lines(file)) {
    progress?.update(read);
    // Cheap filter first: most lines of a log are feedback.
    if (!text.includes('"decision"')) continue;
    const parsed = parseLogLine(text);
    if (parsed === null || typeof parsed === 'string' || parsed.kind !== 'decision') continue;
    decisions++;
    const d = parsed.decision;
    evaluator.add(d, summary.accepted.get(d.decisionId) ?? none);
  }
  if (decisions !== summary.decisions)
    throw new CommandError(
      `${file} changed while it was read (${summary.decisions} decisions, then ${decisions})`,
    );
  progress?.finish(`${formatCount(decisions)} decisions`);
}

/**
 * The profiles of the customers the log names (the file may hold many more). Bad lines are
 * reported; more than 1 % of them (at least 10) means the wrong file, and fails, as for the server.
 */
async function readProfiles(
  file: string,
  wanted: ReadonlySet<string>,
  io: CliIo,
): Promise<Map<string, CustomerProfile>> {
  const profiles = new Map<string, CustomerProfile>();
  const bad: BadLine[] = [];
  let badCount = 0;
  let count = 0;
  for await (const parsed of profileLines(file)) {
    count = parsed.line;
    if ('error' in parsed) {
      badCount++;
      if (bad.length < REPORTED_LINES) bad.push({ line: parsed.line, reason: parsed.error });
    } else if (wanted.has(parsed.record.id)) {
      profiles.set(parsed.record.id, profileFromRecord(parsed.record));
    }
  }
  const first = bad.map((b) => `\n  line ${b.line}: ${b.reason}`).join('');
  if (badCount > Math.max(10, count * 0.01))
    throw new CommandError(`${file}: ${badCount} of ${count} lines are not valid profiles:${first}`);
  if (badCount > 0)
    io.stderr.write(
      `evaluate: ${badCount} lines of ${file} are not valid profiles and were skipped:${first}\n`,
    );
  return profiles;
}

// ---- parsing log lines --------------------------------------------------------------------------

const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null;
const isString = (v: unknown): v is string => typeof v === 'string';
const isTime = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isChannel = (v: unknown) => typeof v === 'string' && (CHANNELS as readonly string[]).includes(v);

/**
 * One line of an exported log: an entry, 'malformed' for the exporter's own record of an entry it
 * could not decode, null for a blank line, or why the line is not an entry. Only what evaluation
 * reads is checked; an offer's probability is the evaluator's to judge (old entries lack it).
 */
export function parseLogLine(text: string): LogEntry | 'malformed' | string | null {
  if (text.trim() === '') return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    return `not JSON: ${(err as Error).message}`;
  }
  if (!isObject(value)) return 'not a JSON object';
  switch (value.kind) {
    case 'decision':
      return decisionProblem(value.decision) ?? (value as unknown as LogEntry);
    case 'feedback':
      return feedbackProblem(value.event, value.attribution) ?? (value as unknown as LogEntry);
    case 'outcome':
      return outcomeProblem(value.event) ?? (value as unknown as LogEntry);
    case 'malformed':
      return 'malformed';
    default:
      return `unknown kind ${JSON.stringify(value.kind ?? null)} (expected "decision", "feedback" or "outcome")`;
  }
}

function decisionProblem(d: unknown): string | null {
  if (!isObject(d)) return 'decision entry without a "decision" object';
  if (!isString(d.decisionId) || !isString(d.customerId)) return 'decision without decisionId or customerId';
  if (!isChannel(d.channel)) return `decision ${d.decisionId}: unknown channel ${JSON.stringify(d.channel)}`;
  if (!(d.placement === null || isString(d.placement)))
    return `decision ${d.decisionId}: placement must be a string or null`;
  if (!isTime(d.at)) return `decision ${d.decisionId}: "at" must be epoch milliseconds`;
  if (!(d.limit === undefined || (typeof d.limit === 'number' && d.limit >= 0)))
    return `decision ${d.decisionId}: "limit" must be a number ≥ 0`;
  for (const list of ['offers', 'heldOut'] as const) {
    const offers = d[list];
    if (!Array.isArray(offers)) return `decision ${d.decisionId}: "${list}" must be a list`;
    if (!offers.every((o) => isObject(o) && isString(o.offerId)))
      return `decision ${d.decisionId}: every offer of "${list}" needs an offerId`;
  }
  return null;
}

function feedbackProblem(event: unknown, attribution: unknown): string | null {
  if (!isObject(event)) return 'feedback entry without an "event" object';
  if (!isString(event.decisionId) || !isString(event.offerId) || !isString(event.type) || !isTime(event.at))
    return 'feedback event needs decisionId, offerId, type and at';
  if (
    !isObject(attribution) ||
    !isChannel(attribution.channel) ||
    !isString(attribution.campaignId) ||
    !(attribution.segmentId === null || isString(attribution.segmentId)) ||
    typeof attribution.heldOut !== 'boolean'
  )
    return `feedback for decision ${event.decisionId}: attribution needs channel, campaignId, segmentId and heldOut`;
  return null;
}

function outcomeProblem(event: unknown): string | null {
  if (!isObject(event)) return 'outcome entry without an "event" object';
  if (!isString(event.customerId) || !isString(event.type) || !isTime(event.at))
    return 'outcome event needs customerId, type and at';
  return null;
}

// ---- output -----------------------------------------------------------------------------------

type Report = PolicyEvaluation & {
  readonly rules: { readonly dir: string; readonly version: string };
  readonly log: {
    readonly file: string;
    readonly lines: number;
    readonly decisions: number;
    readonly feedback: number;
    readonly malformedEntries: number;
    readonly badLines: number;
  };
  readonly profiles: { readonly file: string; readonly found: number };
  readonly learning: boolean;
  readonly exploration: number;
  readonly seconds: number;
};

const rate = (x: number) => x.toFixed(4);
const interval = (ci: Interval) =>
  Number.isFinite(ci[0]) && Number.isFinite(ci[1]) ? `[${rate(ci[0])}, ${rate(ci[1])}]` : '(unknown)';
const percent = (x: number | null) => (x === null ? '–' : `${(x * 100).toFixed(1)}%`);

function skippedText(r: PolicyEvaluation, profilesFile: string): string {
  return (
    `${formatCount(r.skipped.unknownCustomer)} of customers not in ${profilesFile}, ` +
    `${formatCount(r.skipped.noProbability)} without logged probabilities`
  );
}

function textReport(r: Report): string {
  const policy = `${r.exploration > 0 ? `ε-greedy (ε ${r.exploration})` : 'greedy'}, ${
    r.learning ? 'learning from the log' : 'affinities only'
  }`;
  const rows: [string, string, string, string][] = [
    ['', 'accepts/decision', '95% CI', 'effective n'],
    ['logged policy', rate(r.logged.acceptRate!), interval(r.logged.ci95!), formatCount(r.logged.decisions)],
  ];
  const row = (name: string, e: OffPolicyEstimate | null) =>
    rows.push(
      e === null
        ? [name, '–', 'no overlap with the log', '0']
        : [name, rate(e.estimate), interval(e.ci95), formatCount(e.effectiveSampleSize)],
    );
  row('IPS', r.ips);
  row('SNIPS', r.snips);
  row('doubly robust', r.doublyRobust);
  rows.push(['reward model', rate(r.candidate.modelEstimate!), '(DR baseline, biased)', '']);
  const widths = [0, 1, 2, 3].map((i) => Math.max(...rows.map((row) => row[i]!.length)));
  const table = rows.map((cells) => `  ${cells.map((c, i) => c.padEnd(widths[i]!)).join('   ')}`.trimEnd());

  const out = [
    `candidate ${r.rules.dir} (version ${r.rules.version}), ${policy}`,
    `on ${formatCount(r.logged.decisions)} logged decisions of ${r.log.file}`,
    '',
    ...table,
    '',
    `match rate ${percent(r.candidate.matchRate)}: the share of logged offers the candidate would also show`,
    `the candidate shows ${r.candidate.offersPerDecision!.toFixed(2)} offers per decision`,
  ];
  const skipped = r.skipped.unknownCustomer + r.skipped.noProbability;
  if (skipped > 0) out.push(`skipped ${formatCount(skipped)} decisions: ${skippedText(r, r.profiles.file)}`);
  const ess = r.ips?.effectiveSampleSize ?? 0;
  if (ess < 100)
    out.push(
      `warning: an effective sample size of ${formatCount(ess)}: few logged decisions resemble the candidate's, ` +
        'the intervals are optimistic',
    );
  out.push('');
  return out.join('\n');
}
