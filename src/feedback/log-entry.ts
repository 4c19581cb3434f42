import { CHANNELS, type Channel } from '../domain/channel.js';
import {
  ARMS,
  type Arm,
  type Attribution,
  type DecisionLogEntry,
  type FeedbackEvent,
  type LogEntry,
  OUTCOME_TYPES,
  type OutcomeEvent,
} from './feedback-event.js';

/**
 * The fields of a feedback-log stream entry. A decision is `t=d e=<DecisionLogEntry JSON>`; a
 * feedback event is `t=f e=<FeedbackEvent JSON> x=<attribution>`, where the attribution is
 * `channel|s|campaignId|segmentId` (`h` instead of `s` for an offer held out; an empty segment for
 * an untargeted campaign), copied from the decision by the intake script so that consumers never
 * look a decision up. A decision of a champion/challenger test adds `|<arm>` to its offers' tags
 * (and so to `x`); the intake script reads only the tag's first letter. An outcome (a purchase, a cancel) is `t=o e=<OutcomeEvent JSON>`. Ids of
 * campaigns and segments never contain `|` (the ruleset schema).
 */
export type LogEntryFields = Readonly<Record<string, string>>;

export class LogEntryError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'LogEntryError';
  }
}

/**
 * The offer value kept in a decision record and copied into `x`: `s|campaign|segment` or `h|…`,
 * and `|champion` or `|challenger` after it for a decision of a champion/challenger test.
 */
export function offerTag(
  campaignId: string,
  segmentId: string | null,
  heldOut: boolean,
  arm?: Arm | undefined,
): string {
  const tag = `${heldOut ? 'h' : 's'}|${campaignId}|${segmentId ?? ''}`;
  return arm === undefined ? tag : `${tag}|${arm}`;
}

export function encodeAttribution(a: Attribution): string {
  return `${a.channel}|${offerTag(a.campaignId, a.segmentId, a.heldOut, a.arm)}`;
}

export function decodeAttribution(text: string): Attribution {
  const parts = text.split('|');
  if (
    (parts.length !== 4 && !(parts.length === 5 && (ARMS as readonly string[]).includes(parts[4]!))) ||
    !(CHANNELS as readonly string[]).includes(parts[0]!) ||
    !/^[sh]$/.test(parts[1]!)
  ) {
    throw new LogEntryError(`malformed attribution '${text}'`);
  }
  const attribution: Attribution = {
    channel: parts[0] as Channel,
    heldOut: parts[1] === 'h',
    campaignId: parts[2]!,
    segmentId: parts[3] === '' ? null : parts[3]!,
  };
  return parts.length === 4 ? attribution : { ...attribution, arm: parts[4] as Arm };
}

/** Parses a stream entry's fields; throws LogEntryError when they are not one of ours. */
export function decodeLogEntry(fields: LogEntryFields): LogEntry {
  const json = fields.e;
  if (json === undefined) throw new LogEntryError('entry has no e field');
  let value: unknown;
  try {
    value = JSON.parse(json);
  } catch {
    throw new LogEntryError('entry e field is not JSON');
  }
  if (typeof value !== 'object' || value === null) throw new LogEntryError('entry e field is not an object');
  if (fields.t === 'd') {
    const d = value as DecisionLogEntry;
    if (typeof d.decisionId !== 'string' || !Array.isArray(d.offers) || !Array.isArray(d.heldOut)) {
      throw new LogEntryError('malformed decision entry');
    }
    return { kind: 'decision', decision: d };
  }
  if (fields.t === 'f') {
    const e = value as FeedbackEvent;
    if (typeof e.eventId !== 'string' || typeof e.type !== 'string' || typeof e.at !== 'number') {
      throw new LogEntryError('malformed feedback entry');
    }
    return { kind: 'feedback', event: e, attribution: decodeAttribution(fields.x ?? '') };
  }
  if (fields.t === 'o') {
    const e = value as OutcomeEvent;
    if (
      typeof e.eventId !== 'string' ||
      typeof e.customerId !== 'string' ||
      // A lead may name no product; a purchase or a cancel always does.
      (e.productId === null ? e.type !== 'lead' : typeof e.productId !== 'string') ||
      !(OUTCOME_TYPES as readonly string[]).includes(e.type) ||
      typeof e.at !== 'number'
    ) {
      throw new LogEntryError('malformed outcome entry');
    }
    return { kind: 'outcome', event: e };
  }
  throw new LogEntryError(`unknown entry type '${String(fields.t)}'`);
}

/** A stream reply's flat field list (`[k1, v1, k2, v2, …]`) as an object. */
export function fieldsOf(flat: readonly string[]): LogEntryFields {
  const fields: Record<string, string> = {};
  for (let i = 0; i + 1 < flat.length; i += 2) fields[flat[i]!] = flat[i + 1]!;
  return fields;
}
