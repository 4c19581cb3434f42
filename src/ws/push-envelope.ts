/**
 * How a push travels between servers. The envelope (`<server>\n<seq>\n<createdAt>\n<topics>\n<push>`)
 * is what the relay stores in the push stream; the live message on the pub/sub channel is the
 * stream id and the id before it, then the envelope (`<id>\n<prevId>\n<envelope>`), so that a
 * server can tell from one message whether it missed any (docs/channels.md, Pushes across servers).
 */
export interface PushEnvelope {
  /** The relay that published it: a random id per server start. */
  readonly serverId: string;
  /** Its number at that relay; with the server id, what identifies the push (duplicates). */
  readonly seq: number;
  /** When the push was made, ms on the publishing server's clock (its age is judged by it). */
  readonly createdAt: number;
  readonly topics: readonly string[];
  readonly push: string;
}

/** One push read back: from the stream (id) or live (id and the stream's id before it). */
export interface RelayedPush {
  readonly id: string;
  readonly envelope: PushEnvelope;
}

export interface LivePush extends RelayedPush {
  /** The stream's last id before this push was added ('0-0': the stream was empty). */
  readonly prevId: string;
}

export function encodeEnvelope(e: PushEnvelope): string {
  return `${e.serverId}\n${e.seq}\n${e.createdAt}\n${e.topics.join('\t')}\n${e.push}`;
}

/** The envelope of a stream entry; null for anything malformed (it is skipped). */
export function decodeEnvelope(text: string): PushEnvelope | null {
  const fields: string[] = [];
  let at = 0;
  for (let i = 0; i < 4; i++) {
    const end = text.indexOf('\n', at);
    if (end < 0) return null;
    fields.push(text.slice(at, end));
    at = end + 1;
  }
  const [serverId, seq, createdAt, topics] = fields as [string, string, string, string];
  const seqNumber = Number(seq);
  const createdAtNumber = Number(createdAt);
  if (serverId === '' || !Number.isInteger(seqNumber) || !Number.isFinite(createdAtNumber)) return null;
  return {
    serverId,
    seq: seqNumber,
    createdAt: createdAtNumber,
    topics: topics === '' ? [] : topics.split('\t'),
    push: text.slice(at),
  };
}

/** A live message as the relay script publishes it; null for anything malformed. */
export function decodeLive(message: string): LivePush | null {
  const first = message.indexOf('\n');
  const second = first < 0 ? -1 : message.indexOf('\n', first + 1);
  if (second < 0) return null;
  const envelope = decodeEnvelope(message.slice(second + 1));
  if (envelope === null) return null;
  return { id: message.slice(0, first), prevId: message.slice(first + 1, second), envelope };
}

/**
 * Whether a push is about any of `ids` (an erasure): sent to their customer topic, or naming one of
 * them as a JSON string (a call's or a trigger's `customerId`, a dossier).
 */
export function aboutAnyOf(ids: readonly string[]): (e: PushEnvelope) => boolean {
  const topics = new Set(ids.map((id) => `customer:${id}`));
  const quoted = ids.map((id) => JSON.stringify(id));
  return (e) => e.topics.some((t) => topics.has(t)) || quoted.some((q) => e.push.includes(q));
}

/** What identifies a push across servers (a retried relay may store it twice). */
export const pushKey = (e: PushEnvelope): string => `${e.serverId}:${e.seq}`;

/** Orders two stream ids (`<ms>-<seq>`): negative, zero or positive. */
export function compareStreamIds(a: string, b: string): number {
  const [aMs, aSeq] = parseId(a);
  const [bMs, bSeq] = parseId(b);
  return aMs === bMs ? aSeq - bSeq : aMs - bMs;
}

function parseId(id: string): [number, number] {
  const dash = id.indexOf('-');
  if (dash < 0) return [Number(id) || 0, 0];
  return [Number(id.slice(0, dash)) || 0, Number(id.slice(dash + 1)) || 0];
}
