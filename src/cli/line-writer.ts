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
