/**
 * Real, throw-away redis-server processes for integration tests.
 *
 * Each process gets an OS-assigned free port and its own temp dir, never touches the system Redis on
 * 6379, and is SIGKILLed when the test process exits, whatever the tests forget to clean up.
 * Free of vitest: the benches use it too (built to dist/test/support/redis.js).
 */
import { type ChildProcess, execFile, type SpawnOptionsWithStdioTuple, spawn } from 'node:child_process';
import { existsSync, rmSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { promisify } from 'node:util';

export interface RedisProcess {
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  /** Pid of the running redis-server (e.g. for CPU meters); throws while it is not running. */
  readonly pid: number;
  /** SIGKILL the process (simulates a crash) and wait until it has exited. */
  kill(): Promise<void>;
  /** Start it again on the same port with the same arguments; resolves when it answers PING. */
  start(): Promise<void>;
  /** SIGSTOP: the process hangs (socket open, no answers). */
  pause(): void;
  /** SIGCONT. */
  resume(): void;
  /** Stop for good (SIGCONT first if paused, then SIGTERM/SIGKILL) and remove its temp dir. Idempotent. */
  stop(): Promise<void>;
}

export interface StartRedisOptions {
  /** Extra redis-server arguments, e.g. ['--maxmemory', '10mb']. */
  readonly args?: readonly string[];
  /** The redis-server binary (default 'redis-server', from PATH). */
  readonly binary?: string;
}

export interface RedisClusterProcess {
  /** redis://127.0.0.1:PORT of each master. */
  readonly nodes: readonly string[];
  stop(): Promise<void>;
}

const READY_TIMEOUT_MS = 10_000;
const CLUSTER_OK_TIMEOUT_MS = 20_000;
const POLL_MS = 20;
const LOG_LINES = 40;

// vitest ends its fork workers with SIGTERM, which skips 'exit' handlers. On Linux, `setpriv --pdeathsig`
// (util-linux) makes the kernel SIGKILL redis when its parent dies, however it dies; setpriv execs
// redis-server, so the pid we signal is still redis itself.
const WITH_DEATH_SIGNAL = process.platform === 'linux' && existsSync('/usr/bin/setpriv');

// Safety net: whatever is still running when the test process exits gets killed (CONT first, so a
// paused process does not linger as a stopped zombie-to-be) and its temp dir removed.
const running = new Set<ChildProcess>();
const tempDirs = new Set<string>();
process.on('exit', () => {
  for (const child of running) {
    child.kill('SIGCONT');
    child.kill('SIGKILL');
  }
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
});

/** Send one command in RESP and resolve with the raw reply text, e.g. '+PONG\r\n' or '$N\r\n...\r\n'. */
export function redisCommand(port: number, ...args: string[]): Promise<string> {
  return command(port, args, 5_000);
}

function command(port: number, args: readonly string[], timeoutMs: number): Promise<string> {
  const payload = `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
  return new Promise((resolve, reject) => {
    let buf = Buffer.alloc(0);
    const socket = net.connect({ host: '127.0.0.1', port }, () => socket.write(payload));
    socket.setTimeout(timeoutMs, () =>
      socket.destroy(new Error(`no reply from port ${port} in ${timeoutMs} ms`)),
    );
    socket.on('data', (chunk) => {
      buf = Buffer.concat([buf, chunk]);
      const end = replyEnd(buf, 0);
      if (end < 0) return;
      socket.destroy();
      resolve(buf.toString('utf8', 0, end));
    });
    socket.on('error', reject);
    socket.on('close', () => reject(new Error(`connection to port ${port} closed before a full reply`)));
  });
}

/** Index just past the RESP2 value starting at `at`, or -1 while it is still incomplete. */
function replyEnd(buf: Buffer, at: number): number {
  const eol = buf.indexOf('\r\n', at);
  if (eol < 0) return -1;
  const n = Number(buf.toString('latin1', at + 1, eol));
  switch (String.fromCharCode(buf[at] ?? 0)) {
    case '$': // bulk string: length line, payload, CRLF ($-1 is null)
      if (n < 0) return eol + 2;
      return buf.length >= eol + 2 + n + 2 ? eol + 2 + n + 2 : -1;
    case '*': {
      let next = eol + 2;
      for (let i = 0; i < n && next >= 0; i++) next = replyEnd(buf, next);
      return next;
    }
    default: // + - : are a single line
      return eol + 2;
  }
}

/** A port the OS considers free right now (listen on 0, read it, close). */
async function freePort(): Promise<number> {
  const server = net.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', resolve);
  });
  const { port } = server.address() as net.AddressInfo;
  await new Promise((resolve) => server.close(resolve));
  return port;
}

async function isFree(port: number): Promise<boolean> {
  const server = net.createServer();
  const ok = await new Promise<boolean>((resolve) => {
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => resolve(true));
  });
  if (ok) await new Promise((resolve) => server.close(resolve));
  return ok;
}

// Ports handed out by this process, so that nodes started back to back never get the same one.
const handedOut = new Set<number>();

/** A free port; for cluster nodes also a free bus port (port + 10000, so port must stay below 55536). */
async function pickPort(withBus: boolean): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const port = await freePort();
    if (handedOut.has(port)) continue;
    if (withBus && (port >= 55_000 || !(await isFree(port + 10_000)))) continue;
    handedOut.add(port);
    return port;
  }
  throw new Error('no free port found');
}

export async function startRedis(options: StartRedisOptions = {}): Promise<RedisProcess> {
  return launch(options.args ?? [], false, options.binary);
}

async function launch(
  extraArgs: readonly string[],
  withBus: boolean,
  binary = 'redis-server',
): Promise<RedisProcess> {
  // Another process may grab the port between picking and binding; then try a fresh one.
  for (let attempt = 1; ; attempt++) {
    const port = await pickPort(withBus);
    const dir = await mkdtemp(path.join(tmpdir(), 'offerloop-redis-'));
    tempDirs.add(dir);
    const proc = new ManagedRedis(port, dir, extraArgs, binary);
    try {
      await proc.start();
      return proc;
    } catch (err) {
      await proc.stop();
      if (attempt >= 3 || !/address already in use/i.test(String(err))) throw err;
    }
  }
}

class ManagedRedis implements RedisProcess {
  readonly url: string;
  private child: ChildProcess | undefined;
  private exited: Promise<void> = Promise.resolve();
  private paused = false;
  private stopping: Promise<void> | undefined;
  // Last lines of output, so that a failed start can say why.
  private readonly log: string[] = [];

  constructor(
    readonly port: number,
    private readonly dir: string,
    private readonly extraArgs: readonly string[],
    private readonly binary: string,
  ) {
    this.url = `redis://127.0.0.1:${port}`;
  }

  get pid(): number {
    const pid = this.child?.pid;
    if (pid === undefined) throw new Error(`redis on ${this.port} is not running`);
    return pid;
  }

  async start(): Promise<void> {
    if (this.stopping) throw new Error(`redis on ${this.port} was stopped for good`);
    if (this.child) throw new Error(`redis on ${this.port} is already running`);
    // biome-ignore format: one option and its value per line
    const args = [
      '--port', String(this.port),
      '--bind', '127.0.0.1',
      '--save', '',
      '--appendonly', 'no',
      '--dir', this.dir,
      '--daemonize', 'no',
      ...this.extraArgs,
    ];
    const options: SpawnOptionsWithStdioTuple<'ignore', 'pipe', 'pipe'> = {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: realTimeEnv(),
    };
    const child = WITH_DEATH_SIGNAL
      ? spawn('setpriv', ['--pdeathsig', 'KILL', this.binary, ...args], options)
      : spawn(this.binary, args, options);
    this.child = child;
    this.paused = false;
    running.add(child);
    const remember = (chunk: Buffer) => {
      this.log.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      this.log.splice(0, this.log.length - LOG_LINES);
    };
    child.stdout?.on('data', remember);
    child.stderr?.on('data', remember);
    let spawnError: Error | undefined;
    this.exited = new Promise((resolve) => {
      const gone = () => {
        running.delete(child);
        if (this.child === child) this.child = undefined;
        resolve();
      };
      child.once('exit', gone);
      // A failed spawn (e.g. ENOENT: redis-server not on PATH) emits 'error' and no 'exit'.
      child.once('error', (err) => {
        spawnError = err;
        gone();
      });
    });

    const deadline = Date.now() + READY_TIMEOUT_MS;
    for (;;) {
      if (this.child !== child) {
        throw new Error(
          `${this.binary} on port ${this.port} exited during start-up` +
            `${spawnError ? `: ${spawnError.message}` : ''}\n${this.log.join('\n')}`,
        );
      }
      const reply = await command(this.port, ['PING'], 1_000).catch(() => '');
      if (reply.startsWith('+PONG')) return;
      if (Date.now() > deadline) {
        await this.kill();
        throw new Error(
          `${this.binary} on port ${this.port} did not answer PING in time\n${this.log.join('\n')}`,
        );
      }
      await sleep(POLL_MS);
    }
  }

  async kill(): Promise<void> {
    this.child?.kill('SIGKILL');
    await this.exited;
  }

  pause(): void {
    if (this.child?.kill('SIGSTOP')) this.paused = true;
  }

  resume(): void {
    this.child?.kill('SIGCONT');
    this.paused = false;
  }

  stop(): Promise<void> {
    this.stopping ??= (async () => {
      const child = this.child;
      if (child) {
        if (this.paused) this.resume(); // a stopped process would not act on SIGTERM
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
        await this.exited;
        clearTimeout(timer);
      }
      await rm(this.dir, { recursive: true, force: true });
      tempDirs.delete(this.dir);
    })();
    return this.stopping;
  }
}

const execFileAsync = promisify(execFile);
/** redis-cli, like redis-server, on the real time (see realTimeEnv). */
const run = (file: string, args: readonly string[], options: { timeout?: number } = {}) =>
  execFileAsync(file, args, { ...options, env: realTimeEnv() });

export async function startRedisCluster(options: { masters?: number } = {}): Promise<RedisClusterProcess> {
  const masters = options.masters ?? 3;
  // biome-ignore format: one option and its value per line
  const clusterArgs = [
    '--cluster-enabled', 'yes',
    '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', '2000',
  ];
  const nodes: RedisProcess[] = [];
  const stop = async () => {
    await Promise.all(nodes.map((n) => n.stop()));
  };
  try {
    for (let i = 0; i < masters; i++) nodes.push(await launch(clusterArgs, true));
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    const createArgs = ['--cluster', 'create', ...addresses, '--cluster-replicas', '0', '--cluster-yes'];
    await run('redis-cli', createArgs, { timeout: 30_000 }).catch((err: Error & { stdout?: string }) => {
      throw new Error(`redis-cli --cluster create failed: ${err.message}\n${err.stdout ?? ''}`);
    });
    // `create` returns once slots are assigned, but each node only reports ok after gossip has converged.
    const deadline = Date.now() + CLUSTER_OK_TIMEOUT_MS;
    for (const node of nodes) {
      for (;;) {
        const info = await command(node.port, ['CLUSTER', 'INFO'], 1_000).catch(() => '');
        if (info.includes('cluster_state:ok')) break;
        if (Date.now() > deadline) throw new Error(`cluster node ${node.port} not ok in time:\n${info}`);
        await sleep(POLL_MS);
      }
    }
  } catch (err) {
    await stop();
    throw err;
  }
  return { nodes: nodes.map((n) => n.url), stop };
}

/**
 * The environment without libfaketime: Redis keeps the real time (it hangs under a faked one),
 * while the suite may run with the process clock moved, which is the skew the server must survive
 * (docs/decisions/0006-clocks.md).
 */
function realTimeEnv(): NodeJS.ProcessEnv {
  const env = { ...process.env };
  for (const name of ['LD_PRELOAD', 'FAKETIME', 'FAKETIME_DONT_FAKE_MONOTONIC', 'FAKETIME_NO_CACHE'])
    delete env[name];
  return env;
}
