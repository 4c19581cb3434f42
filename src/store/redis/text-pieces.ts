import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { SymbolCounter } from '../profile-codec.js';
import { CsvProfileParser } from '../profile-csv.js';
import { type ProfileFormat, parseLine } from '../profile-lines.js';
import { type ChunkContext, chunkText, type EncodedChunk, eachLine, encodeChunkBytes } from './load-chunk.js';
import type { WorkerChunk, WorkerReply, WorkerSetup } from './load-worker.js';

// The text path of a bulk load: a file's chunks cut into pieces of whole lines, a sample of the
// first lines for the dictionary, and the encoders that turn pieces into customers (on this thread
// or in worker threads).

/** The dictionary is learned from the records among the first this many lines, then frozen. */
const SAMPLE_LINES = 10_000;
/** … or among the lines in this many bytes, if fewer (a file of huge lines). */
const SAMPLE_BYTES = 64 << 20;

/** Whole lines of a file (see chunkText()). */
export interface Piece {
  readonly head: Uint8Array | null;
  readonly bytes: Uint8Array;
  /** Lines of the piece the sample already read as blank lines or the CSV header. */
  skip: number;
}

/**
 * Cuts chunks of a file into pieces of whole lines. The line a chunk boundary cuts in two is put
 * together again as the next piece's head (a copy); the rest of a chunk is not copied.
 */
export class LineCutter {
  private tail: Uint8Array | null = null;

  push(chunk: Uint8Array): Piece | null {
    const last = chunk.lastIndexOf(LF);
    if (last < 0) {
      this.tail = concat(this.tail, chunk);
      return null;
    }
    const first = this.tail === null ? -1 : chunk.indexOf(LF);
    const head = this.tail === null ? null : concat(this.tail, chunk.subarray(0, first + 1));
    const piece = { head, bytes: chunk.subarray(first + 1, last + 1), skip: 0 };
    // A copy: the chunk's memory goes to a worker with the piece.
    this.tail = last + 1 < chunk.length ? concat(null, chunk.subarray(last + 1)) : null;
    return piece;
  }

  /** The file's last line, when it does not end in a line break. */
  end(): Piece | null {
    const tail = this.tail;
    this.tail = null;
    return tail === null ? null : { head: null, bytes: tail, skip: 0 };
  }
}

const LF = 10;

/** A copy of `a` then `b` in memory of its own (not Buffer's pool, not a view of either). */
function concat(a: Uint8Array | null, b: Uint8Array): Uint8Array {
  const joined = new Uint8Array((a?.length ?? 0) + b.length);
  if (a !== null) joined.set(a);
  joined.set(b, a?.length ?? 0);
  return joined;
}

/**
 * Reads the first pieces of a file on this thread: finds the CSV header, and counts the strings of
 * the first records for the dictionary. The pieces are kept, then encoded like all the others.
 */
export class Sampler {
  readonly counter = new SymbolCounter();
  readonly pieces: Piece[] = [];
  csv: CsvProfileParser | null = null;
  header: string | null = null;
  private headerSeen: boolean;
  private lines = 0;
  private bytes = 0;

  constructor(format: ProfileFormat) {
    this.headerSeen = format !== 'csv';
  }

  get complete(): boolean {
    return this.headerSeen && (this.lines >= SAMPLE_LINES || this.bytes >= SAMPLE_BYTES);
  }

  read(piece: Piece): void {
    this.pieces.push(piece);
    this.bytes += piece.bytes.length + (piece.head?.length ?? 0);
    if (this.complete) return;
    eachLine(chunkText(piece.head, piece.bytes), (line, n) => {
      if (!this.headerSeen) {
        if (line.trim() === '') return;
        this.csv = CsvProfileParser.fromHeader(line);
        this.header = line;
        this.headerSeen = true;
        piece.skip = n;
        return;
      }
      if (this.lines >= SAMPLE_LINES) return;
      const result = parseLine(line, this.csv);
      if (result === null) return;
      this.lines++;
      if (typeof result !== 'string') this.counter.addRecord(result);
    });
  }
}

/** Encodes pieces, here or in worker threads; results come back in the order the pieces went in. */
export interface ChunkEncoder {
  encode(piece: Piece): Promise<EncodedChunk>;
  close(): Promise<void>;
}

export class LocalEncoder implements ChunkEncoder {
  constructor(private readonly context: ChunkContext) {}

  encode(piece: Piece): Promise<EncodedChunk> {
    try {
      return Promise.resolve(encodeChunkBytes(piece.head, piece.bytes, piece.skip, this.context));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const WORKER_URL = new URL('./load-worker.js', import.meta.url);

export class WorkerEncoders implements ChunkEncoder {
  private readonly workers: Worker[];
  private readonly waiting = new Map<
    number,
    { resolve: (c: EncodedChunk) => void; reject: (e: Error) => void }
  >();
  private seq = 0;
  private failure: Error | null = null;

  /** Null when the worker script is not there (TypeScript sources run by vitest). */
  static start(count: number): WorkerEncoders | null {
    return existsSync(fileURLToPath(WORKER_URL)) ? new WorkerEncoders(count) : null;
  }

  private constructor(count: number) {
    this.workers = Array.from({ length: count }, () => {
      const worker = new Worker(WORKER_URL);
      worker.on('message', (reply: WorkerReply) => {
        const waiting = this.waiting.get(reply.seq);
        if (waiting === undefined) return;
        this.waiting.delete(reply.seq);
        if ('error' in reply) waiting.reject(new Error(`load worker: ${reply.error}`));
        else waiting.resolve(reply.chunk);
      });
      worker.on('error', (err) => this.fail(err));
      worker.on('exit', (code) => this.fail(new Error(`load worker exited with code ${code}`)));
      return worker;
    });
  }

  setup(setup: WorkerSetup): void {
    for (const worker of this.workers) worker.postMessage(setup);
  }

  encode(piece: Piece): Promise<EncodedChunk> {
    if (this.failure !== null) return Promise.reject(this.failure);
    const seq = this.seq++;
    const message: WorkerChunk = {
      type: 'chunk',
      seq,
      head: piece.head,
      bytes: piece.bytes,
      skip: piece.skip,
    };
    const worker = this.workers[seq % this.workers.length]!;
    return new Promise<EncodedChunk>((resolve, reject) => {
      this.waiting.set(seq, { resolve, reject });
      try {
        // Moved, not copied; the head is small.
        worker.postMessage(message, piece.bytes.buffer instanceof ArrayBuffer ? [piece.bytes.buffer] : []);
      } catch {
        worker.postMessage(message); // memory that cannot be transferred (a pool) is copied
      }
    });
  }

  private fail(err: Error): void {
    this.failure ??= err;
    for (const waiting of this.waiting.values()) waiting.reject(err);
    this.waiting.clear();
  }

  async close(): Promise<void> {
    this.failure ??= new Error('load workers closed');
    await Promise.all(this.workers.map((w) => w.terminate()));
  }
}
