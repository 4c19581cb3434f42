/**
 * A worker thread of the bulk loader: parses, validates and encodes chunks of a profiles file
 * (load-chunk.ts) and sends back the encoded customers in transferred memory, so that the loader's
 * own thread only talks to Redis. Started by WorkerEncoders in bulk-loader.ts, from dist/ only.
 */
import { parentPort } from 'node:worker_threads';
import { SymbolDictionary } from '../profile-codec.js';
import { CsvProfileParser } from '../profile-csv.js';
import {
  type ChunkContext,
  chunkContext,
  type EncodedChunk,
  encodeChunkBytes,
  transferablesOf,
} from './load-chunk.js';

/** The first message: how to encode. */
export interface WorkerSetup {
  readonly type: 'setup';
  readonly dictionary: readonly string[];
  readonly buckets: number;
  readonly csvHeader: string | null;
}

/** Every later message: a piece of a file, whole lines (see chunkText()). */
export interface WorkerChunk {
  readonly type: 'chunk';
  readonly seq: number;
  readonly head: Uint8Array | null;
  readonly bytes: Uint8Array;
  readonly skip: number;
}

export type WorkerReply =
  | { readonly seq: number; readonly chunk: EncodedChunk }
  | { readonly seq: number; readonly error: string };

const port = parentPort;
if (port === null) throw new Error('load-worker.js runs as a worker thread');

let context: ChunkContext | null = null;

port.on('message', (message: WorkerSetup | WorkerChunk) => {
  if (message.type === 'setup') {
    context = chunkContext(
      SymbolDictionary.from(message.dictionary),
      message.buckets,
      message.csvHeader === null ? null : CsvProfileParser.fromHeader(message.csvHeader),
    );
    return;
  }
  try {
    if (context === null) throw new Error('chunk before setup');
    const chunk = encodeChunkBytes(message.head, message.bytes, message.skip, context);
    port.postMessage({ seq: message.seq, chunk } satisfies WorkerReply, transferablesOf(chunk));
  } catch (err) {
    port.postMessage({ seq: message.seq, error: (err as Error).stack ?? String(err) } satisfies WorkerReply);
  }
});
