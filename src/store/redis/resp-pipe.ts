import { once } from 'node:events';
import { connect as netConnect, type Socket } from 'node:net';
import { connect as tlsConnect } from 'node:tls';

const LF = 10;
const MINUS = 45;

/**
 * A raw connection to one Redis node for the bulk loader's writes. The loader renders commands as
 * RESP bytes itself and writes many of them per socket write; replies are only counted, and the
 * first error reply kept. node-redis costs several microseconds of the loader's thread per command
 * (a promise, arrays, a socket write per argument), which made it the bottleneck of a load.
 *
 * Only for commands whose replies are one line (+OK, :n, -ERR …), such as HSET, AUTH and SELECT.
 */
export class RespPipe {
  private unanswered = 0;
  /** The first byte of the reply being read, -1 between replies. */
  private replyType = -1;
  private errorText: Buffer[] = [];
  private failure: Error | null = null;
  private waiter: (() => void) | null = null;
  private waitUntil = 0;

  private constructor(private readonly socket: Socket) {
    socket.setNoDelay(true);
    socket.on('data', (data: Buffer) => this.read(data));
    socket.on('error', (err) => this.fail(new Error(`Redis connection: ${err.message}`)));
    socket.on('close', () => this.fail(new Error('Redis closed the connection')));
  }

  /** Connects to the Redis of a redis:// or rediss:// URL, with its user, password and database. */
  static async open(url: string, timeoutMs = 5000): Promise<RespPipe> {
    const target = new URL(url);
    const tls = target.protocol === 'rediss:';
    if (!tls && target.protocol !== 'redis:') throw new Error(`not a redis:// URL: ${target.protocol}`);
    const host = target.hostname.replace(/^\[(.*)\]$/, '$1') || '127.0.0.1';
    const port = Number(target.port || 6379);
    const socket = tls ? tlsConnect({ host, port, servername: host }) : netConnect({ host, port });
    const timer = setTimeout(() => socket.destroy(new Error(`no connection in ${timeoutMs} ms`)), timeoutMs);
    try {
      await once(socket, tls ? 'secureConnect' : 'connect');
    } finally {
      clearTimeout(timer);
    }
    const pipe = new RespPipe(socket);
    const user = decodeURIComponent(target.username);
    const password = decodeURIComponent(target.password);
    if (password !== '') pipe.command(user === '' ? ['AUTH', password] : ['AUTH', user, password]);
    const db = Number(target.pathname.slice(1) || 0);
    if (db !== 0) pipe.command(['SELECT', String(db)]);
    await pipe.drain(0);
    return pipe;
  }

  /** Sends a command given as strings. */
  command(args: readonly string[]): void {
    let text = `*${args.length}\r\n`;
    for (const arg of args) text += `$${Buffer.byteLength(arg)}\r\n${arg}\r\n`;
    this.write(Buffer.from(text));
  }

  /** Sends RESP bytes holding `commands` commands. The bytes must not change until they are written. */
  write(bytes: Uint8Array, commands = 1): void {
    if (this.failure !== null) return;
    this.unanswered += commands;
    this.socket.write(bytes);
  }

  /** Waits until at most `most` replies are outstanding and the socket's buffer is empty; throws the first error. */
  async drain(most: number): Promise<void> {
    while (this.failure === null && this.unanswered > most) {
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        this.waitUntil = most;
      });
    }
    if (this.failure === null && this.socket.writableNeedDrain) {
      await Promise.race([once(this.socket, 'drain'), once(this.socket, 'close')]).catch(() => {});
    }
    if (this.failure !== null) throw this.failure;
  }

  /** Waits until every reply is in (or the connection is gone), errors ignored. */
  async settle(): Promise<void> {
    await this.drain(0).catch(() => {});
  }

  close(): void {
    this.failure ??= new Error('closed');
    this.socket.destroy();
  }

  private read(data: Buffer): void {
    let from = 0;
    for (;;) {
      if (this.replyType < 0 && from < data.length) this.replyType = data[from]!;
      const lf = data.indexOf(LF, from);
      if (this.replyType === MINUS) this.errorText.push(data.subarray(from, lf < 0 ? data.length : lf));
      if (lf < 0) break;
      if (this.replyType === MINUS) {
        const text = Buffer.concat(this.errorText).toString('utf8').slice(1).trim();
        this.errorText = [];
        this.failure ??= new Error(`Redis: ${text}`);
      }
      this.replyType = -1;
      this.unanswered--;
      from = lf + 1;
    }
    if (this.waiter !== null && (this.unanswered <= this.waitUntil || this.failure !== null)) this.wakeUp();
  }

  private fail(err: Error): void {
    this.failure ??= err;
    this.wakeUp();
  }

  private wakeUp(): void {
    const waiter = this.waiter;
    this.waiter = null;
    waiter?.();
  }
}
