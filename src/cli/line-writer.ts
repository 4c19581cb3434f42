import { once } from 'node:events';
import { createWriteStream, type WriteStream } from 'node:fs';

/**
 * A write stream that respects backpressure: exports run to millions of lines, which must not pile
 * up in memory when the disk is slower than Redis.
 */
export class LineWriter {
  private failure: Error | null = null;
  private readonly closed: Promise<void>;

  private constructor(private readonly stream: WriteStream) {
    // An error between writes (nobody awaiting) would otherwise be unhandled and crash the process.
    stream.on('error', (err) => {
      this.failure ??= err;
    });
    // Not events.once(): that rejects on 'error', and nobody may be awaiting this yet.
    this.closed = new Promise<void>((resolve) => stream.once('close', () => resolve()));
  }

  /** Creates (or truncates) the file; rejects when it cannot be opened. */
  static async open(path: string): Promise<LineWriter> {
    const writer = new LineWriter(createWriteStream(path));
    try {
      await once(writer.stream, 'ready');
    } catch (err) {
      throw new Error(`cannot write ${path}: ${(err as Error).message}`);
    }
    return writer;
  }

  async write(text: string): Promise<void> {
    if (this.failure !== null) throw this.failure;
    if (text === '' || this.stream.write(text)) return;
    await once(this.stream, 'drain'); // rejects on 'error'
  }

  /** Flushes and closes; rejects if any write failed. */
  async end(): Promise<void> {
    if (this.failure !== null) throw this.failure;
    this.stream.end();
    await this.closed;
    if (this.failure !== null) throw this.failure;
  }

  /** Closes the file without flushing, after a failure; never rejects. */
  async abort(): Promise<void> {
    this.stream.destroy();
    await this.closed;
  }
}

/** Lines are joined into chunks of about this many characters before they are written. */
const BATCH_CHARS = 1 << 20;

/** Lines joined into large chunks before they reach the file (a write per line is slow). */
export class BatchedLines {
  private parts: string[] = [];
  private size = 0;
  lines = 0;

  private constructor(private readonly writer: LineWriter) {}

  static async open(path: string): Promise<BatchedLines> {
    return new BatchedLines(await LineWriter.open(path));
  }

  async push(line: string): Promise<void> {
    this.parts.push(line);
    this.size += line.length + 1;
    this.lines++;
    if (this.size >= BATCH_CHARS) await this.flush();
  }

  async flush(): Promise<void> {
    if (this.parts.length === 0) return;
    const text = `${this.parts.join('\n')}\n`;
    this.parts = [];
    this.size = 0;
    await this.writer.write(text);
  }

  async end(): Promise<void> {
    await this.flush();
    await this.writer.end();
  }

  /** Closes the file after a failure; never rejects. */
  async abort(): Promise<void> {
    await this.writer.abort();
  }

  /** Runs `write`, then ends the file; aborts it and rethrows if anything fails. */
  async writeAll(write: (out: BatchedLines) => Promise<void>): Promise<void> {
    try {
      await write(this);
      await this.end();
    } catch (err) {
      await this.abort();
      throw err;
    }
  }
}
