import { WebSocket } from 'ws';

export interface Answer {
  type: string;
  id?: string | null;
  result?: unknown;
  error?: { code: string; message: string };
  [field: string]: unknown;
}

/**
 * A real WebSocket client (the `ws` package) for tests: every message it receives is kept, and a
 * test waits for the next one that matches.
 */
export class TestWsClient {
  readonly received: Answer[] = [];
  private waiters: { match: (m: Answer) => boolean; resolve: (m: Answer) => void }[] = [];
  private seq = 0;

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data) => {
      const message = JSON.parse(data.toString()) as Answer;
      this.received.push(message);
      this.waiters = this.waiters.filter((w) => {
        if (!w.match(message)) return true;
        w.resolve(message);
        return false;
      });
    });
  }

  /** Opens a socket; rejects with the HTTP status of a refused upgrade. */
  static open(
    url: string,
    options: { key?: string; protocols?: string[]; origin?: string } = {},
  ): Promise<TestWsClient> {
    const headers: Record<string, string> = {};
    if (options.key !== undefined) headers.authorization = `Bearer ${options.key}`;
    const socket = new WebSocket(url, options.protocols ?? [], {
      headers,
      ...(options.origin === undefined ? {} : { origin: options.origin }),
    });
    return new Promise((resolve, reject) => {
      socket.once('open', () => resolve(new TestWsClient(socket)));
      socket.once('unexpected-response', (_req, res) => reject(new Error(`refused: ${res.statusCode}`)));
      socket.once('error', reject);
    });
  }

  /** The first message (already received or still to come) that matches; fails after `ms`. */
  next(match: (m: Answer) => boolean, ms = 5000): Promise<Answer> {
    const seen = this.received.find(match);
    if (seen !== undefined) {
      this.received.splice(this.received.indexOf(seen), 1);
      return Promise.resolve(seen);
    }
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching message within ${ms} ms`)), ms);
      this.waiters.push({
        match,
        resolve: (m) => {
          clearTimeout(timer);
          this.received.splice(this.received.indexOf(m), 1);
          resolve(m);
        },
      });
    });
  }

  /** Sends a request with a fresh id and waits for the answer that repeats it. */
  request(message: Record<string, unknown>): Promise<Answer> {
    const id = `r${++this.seq}`;
    this.socket.send(JSON.stringify({ ...message, id }));
    return this.next((m) => m.id === id);
  }

  /** Resolves with the close code once the socket is closed. */
  closed(ms = 5000): Promise<number> {
    if (this.socket.readyState === WebSocket.CLOSED) return Promise.resolve(-1);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`not closed within ${ms} ms`)), ms);
      this.socket.once('close', (code) => {
        clearTimeout(timer);
        resolve(code);
      });
    });
  }

  close(): void {
    this.socket.terminate();
  }
}
