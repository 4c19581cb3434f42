/**
 * Real, throw-away redis-server processes for integration tests.
 *
 * Each process gets an OS-assigned free port and its own temp dir, never touches the system Redis on
 * 6379, and is SIGKILLed when the test process exits, whatever the tests forget to clean up.
 * Free of vitest: the benches use it too (built to dist/test/support/redis.js).
 */
import { type ChildProcess, execFile, type SpawnOptionsWithStdioTuple, spawn } from 'node:child_process';
import { existsSync, readFileSync, rmSync } from 'node:fs';
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

/** One node of a cluster as CLUSTER NODES describes it, plus what this process did to it. */
export interface ClusterNode {
  readonly id: string;
  readonly port: number;
  /** redis://127.0.0.1:PORT */
  readonly url: string;
  readonly role: 'master' | 'replica';
  /** A replica's master id; null for a master. */
  readonly masterId: string | null;
  /** The slot ranges it serves, [first, last] inclusive (masters only). */
  readonly slots: readonly (readonly [number, number])[];
  readonly slotCount: number;
  /** CLUSTER NODES flags without myself/master/slave, e.g. ['fail?'] or ['fail']. */
  readonly flags: readonly string[];
  /** What this process did to the node: started, SIGSTOPped, SIGKILLed. */
  readonly state: 'running' | 'paused' | 'killed';
}

export interface StartRedisClusterOptions {
  /** Masters serving slots (default 3). */
  readonly masters?: number;
  /** Replicas per master (default 0): 1 gives 3 masters + 3 replicas. */
  readonly replicas?: number;
  /**
   * cluster-node-timeout in ms (default 2000). A master is flagged PFAIL after it has not answered
   * a ping for this long, FAIL once a majority of masters say so (gossip, well under a second
   * here), and its replica then waits 500 ms + 0–500 ms random + rank × 1000 ms before it is
   * elected: a failover takes about node-timeout + 1–1.5 s (3–4 s at 2000 ms; ~16 s at Redis'
   * default 15000). A SIGSTOPped master is failed over the same way once it is silent that long.
   */
  readonly nodeTimeoutMs?: number;
  /**
   * cluster-require-full-coverage (default true, as Redis'). Offerloop asks operators to turn it off:
   * on, every node refuses every command while a lost master's slots are not served yet.
   */
  readonly fullCoverage?: boolean;
}

export interface RedisClusterProcess {
  /**
   * redis://127.0.0.1:PORT of every node started at first, masters and replicas (with replicas 0:
   * the masters): the seed list for REDIS_CLUSTER_NODES, still usable after any one node dies.
   */
  readonly nodes: readonly string[];
  readonly nodeTimeoutMs: number;
  /** Every node as a reachable node sees it (killed nodes included, flagged). */
  topology(): Promise<ClusterNode[]>;
  /**
   * The masters not flagged failed, in slot order: master i is the one whose lowest slot is the
   * i-th lowest (a promoted replica takes its master's index), then masters without slots by port.
   */
  masters(): Promise<ClusterNode[]>;
  /** The replicas, ordered by their master's index, then port. */
  replicas(): Promise<ClusterNode[]>;
  /** SIGKILLs the i-th master; resolves when the process has exited, with the node it was. */
  killMaster(i: number): Promise<ClusterNode>;
  /**
   * Until the last master killed or paused (or `node`) is flagged failed, its slots are served by a
   * live master (a promoted replica) in every live node's view, and the live nodes have settled.
   */
  waitForFailover(node?: ClusterNode): Promise<{ readonly promoted: ClusterNode; readonly ms: number }>;
  /** SIGSTOPs the i-th master (it hangs, sockets open); resolves once it is stopped. */
  pauseMaster(i: number): Promise<ClusterNode>;
  /**
   * SIGCONTs a paused node (the one pauseMaster returned, or its port) and waits until the cluster has
   * settled: a node failed over meanwhile comes back as a replica of its successor, else as master.
   */
  resumeMaster(node: ClusterNode | number): Promise<ClusterNode>;
  /** Starts a killed node again on its port (its nodes.conf kept); resolves when it serves again (a replica if failed over). */
  restart(node: ClusterNode | number): Promise<ClusterNode>;
  /**
   * Moves `slots` slots with their keys from master `from` to master `to` (indexes of masters())
   * with `redis-cli --cluster reshard` (MIGRATE: clients see ASK then MOVED); resolves when settled.
   */
  reshard(move: { readonly slots: number; readonly from: number; readonly to: number }): Promise<void>;
  /**
   * Starts an empty node, joins it as a master (not added to `nodes`), and moves about `slots` slots
   * to it from all masters (redis-cli splits them in proportion, each share rounded down).
   */
  addNode(options?: { readonly slots?: number }): Promise<ClusterNode>;
  /** CLUSTER FAILOVER on replica i (replicas() order): it becomes master, its master its replica. */
  failover(replicaIndex: number): Promise<ClusterNode>;
  /** Until every live node is ok, agrees on the slots, has no open slot, and every live replica is in sync. */
  settle(timeoutMs?: number): Promise<void>;
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
): Promise<ManagedRedis> {
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

  /** Whether the process is up (paused or not). */
  get running(): boolean {
    return this.child !== undefined;
  }

  get isPaused(): boolean {
    return this.paused;
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
const run = (file: string, args: readonly string[], options: { timeout?: number; maxBuffer?: number } = {}) =>
  execFileAsync(file, args, { ...options, env: realTimeEnv() });

/** redis-cli on the real time; its own output (a reshard prints a line per slot) in the error. */
async function redisCli(args: readonly string[], what: string, timeoutMs: number): Promise<string> {
  try {
    return (await run('redis-cli', args, { timeout: timeoutMs, maxBuffer: 64 * 1024 * 1024 })).stdout;
  } catch (err) {
    const e = err as Error & { stdout?: string; stderr?: string };
    const tail = `${e.stdout ?? ''}${e.stderr ?? ''}`.trim().split('\n').slice(-30).join('\n');
    throw new Error(`redis-cli --cluster ${what} failed: ${e.message}\n${tail}`);
  }
}

/** The payload of a bulk reply; an error reply throws. */
function bulkText(reply: string): string {
  if (reply.startsWith('-')) throw new Error(reply.trim());
  return reply.slice(reply.indexOf('\r\n') + 2, -2);
}

/** One line of CLUSTER NODES: `<id> <ip:port@cport> <flags> <master> <ping> <pong> <epoch> <link> <slot>…`. */
interface NodesLine {
  readonly id: string;
  readonly port: number;
  readonly flags: readonly string[];
  readonly masterId: string | null;
  readonly slots: readonly (readonly [number, number])[];
  /** Slots being migrated or imported (`[slot->-id]`, `[slot-<-id]`). */
  readonly open: boolean;
}

function parseClusterNodes(text: string): NodesLine[] {
  return text
    .trim()
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const f = line.trim().split(' ');
      const slots: [number, number][] = [];
      let open = false;
      for (const s of f.slice(8)) {
        if (s.startsWith('[')) open = true;
        else {
          const [a, b] = s.split('-');
          slots.push([Number(a), Number(b ?? a)]);
        }
      }
      return {
        id: f[0]!,
        port: Number(f[1]!.split('@')[0]!.split(':').pop()),
        flags: f[2]!.split(','),
        masterId: f[3] === '-' || f[3] === undefined ? null : f[3],
        slots,
        open,
      };
    });
}

/** What every node must agree on: the live nodes' roles and the owner of each slot range. */
function viewSignature(lines: readonly NodesLine[], livePorts: ReadonlySet<number>): string {
  const roles = lines
    .filter((l) => livePorts.has(l.port))
    .map((l) => `${l.id}:${l.port}:${l.flags.includes('master') ? 'master' : `replica-of-${l.masterId}`}`)
    .sort();
  const owners = lines
    .flatMap((l) => l.slots.map(([a, b]) => `${a}-${b}:${l.id}`))
    .sort((x, y) => Number.parseInt(x, 10) - Number.parseInt(y, 10));
  return `${roles.join(' ')} | ${owners.join(' ')}`;
}

/** Whether the process is stopped (SIGSTOP delivered): state T in /proc/<pid>/stat (Linux). */
function isStopped(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).startsWith('T');
  } catch {
    return process.platform !== 'linux'; // no /proc: trust the signal
  }
}

const SETTLE_TIMEOUT_MS = 30_000;
const CLI_TIMEOUT_MS = 300_000;

export async function startRedisCluster(
  options: StartRedisClusterOptions = {},
): Promise<RedisClusterProcess> {
  const masters = options.masters ?? 3;
  const replicas = options.replicas ?? 0;
  const nodeTimeoutMs = options.nodeTimeoutMs ?? 2000;
  // biome-ignore format: one option and its value per line
  const clusterArgs = [
    '--cluster-enabled', 'yes',
    '--cluster-config-file', 'nodes.conf',
    '--cluster-node-timeout', String(nodeTimeoutMs),
    '--cluster-require-full-coverage', options.fullCoverage === false ? 'no' : 'yes',
  ];
  const nodes: ManagedRedis[] = [];
  try {
    for (let i = 0; i < masters * (1 + replicas); i++) nodes.push(await launch(clusterArgs, true));
    const addresses = nodes.map((n) => `127.0.0.1:${n.port}`);
    await redisCli(
      ['--cluster', 'create', ...addresses, '--cluster-replicas', String(replicas), '--cluster-yes'],
      'create',
      30_000,
    );
    const cluster = new ManagedCluster(nodes, clusterArgs, nodeTimeoutMs);
    // `create` returns once slots are assigned, but each node only reports ok after gossip has
    // converged, and each replica is attached only once it has synced with its master.
    await cluster.until(CLUSTER_OK_TIMEOUT_MS, 'the new cluster to form', async () => {
      const why = await cluster.unsettled();
      if (why !== '') return why;
      const all = await cluster.topology();
      const short = all.filter(
        (m) => m.role === 'master' && all.filter((r) => r.masterId === m.id).length < replicas,
      );
      return short.length === 0 ? '' : `master ${short[0]!.port} has fewer than ${replicas} replica(s)`;
    });
    return cluster;
  } catch (err) {
    await Promise.all(nodes.map((n) => n.stop()));
    throw err;
  }
}

class ManagedCluster implements RedisClusterProcess {
  readonly nodes: readonly string[];
  private lastFault: { node: ClusterNode; at: number } | undefined;

  constructor(
    private readonly procs: ManagedRedis[],
    private readonly clusterArgs: readonly string[],
    readonly nodeTimeoutMs: number,
  ) {
    this.nodes = procs.map((p) => p.url);
  }

  stop = async (): Promise<void> => {
    await Promise.all(this.procs.map((n) => n.stop()));
  };

  /** Nodes up and not paused: the ones that can answer. */
  private live(): ManagedRedis[] {
    return this.procs.filter((p) => p.running && !p.isPaused);
  }

  private proc(port: number): ManagedRedis {
    const p = this.procs.find((x) => x.port === port);
    if (!p) throw new Error(`no cluster node on port ${port}`);
    return p;
  }

  private describe(l: NodesLine): ClusterNode {
    const p = this.procs.find((x) => x.port === l.port);
    return {
      id: l.id,
      port: l.port,
      url: `redis://127.0.0.1:${l.port}`,
      role: l.flags.includes('master') ? 'master' : 'replica',
      masterId: l.flags.includes('master') ? null : l.masterId,
      slots: l.slots,
      slotCount: l.slots.reduce((n, [a, b]) => n + b - a + 1, 0),
      flags: l.flags.filter((f) => f !== 'myself' && f !== 'master' && f !== 'slave'),
      state: p?.running ? (p.isPaused ? 'paused' : 'running') : 'killed',
    };
  }

  private async view(port: number): Promise<NodesLine[]> {
    return parseClusterNodes(bulkText(await command(port, ['CLUSTER', 'NODES'], 2_000)));
  }

  async topology(): Promise<ClusterNode[]> {
    const errors: string[] = [];
    for (const p of this.live()) {
      try {
        return (await this.view(p.port)).map((l) => this.describe(l));
      } catch (err) {
        errors.push(`${p.port}: ${err instanceof Error ? err.message : String(err)}`);
      }
    }
    throw new Error(`no cluster node answers CLUSTER NODES: ${errors.join('; ') || 'none is up'}`);
  }

  async masters(): Promise<ClusterNode[]> {
    const gone = ['fail', 'handshake', 'noaddr'];
    return (await this.topology())
      .filter((n) => n.role === 'master' && !n.flags.some((f) => gone.includes(f)))
      .sort(
        (a, b) =>
          (a.slots[0]?.[0] ?? Number.POSITIVE_INFINITY) - (b.slots[0]?.[0] ?? Number.POSITIVE_INFINITY) ||
          a.port - b.port,
      );
  }

  async replicas(): Promise<ClusterNode[]> {
    const masters = await this.masters();
    const rank = (r: ClusterNode) => {
      const i = masters.findIndex((m) => m.id === r.masterId);
      return i < 0 ? masters.length : i;
    };
    return (await this.topology())
      .filter((n) => n.role === 'replica' && !n.flags.includes('fail'))
      .sort((a, b) => rank(a) - rank(b) || a.port - b.port);
  }

  private async masterAt(i: number): Promise<ClusterNode> {
    const masters = await this.masters();
    const m = masters[i];
    if (!m) throw new Error(`no master ${i}: the cluster has ${masters.length}`);
    return m;
  }

  async killMaster(i: number): Promise<ClusterNode> {
    const m = await this.masterAt(i);
    await this.proc(m.port).kill();
    this.lastFault = { node: { ...m, state: 'killed' }, at: performance.now() };
    return this.lastFault.node;
  }

  async pauseMaster(i: number): Promise<ClusterNode> {
    const m = await this.masterAt(i);
    const p = this.proc(m.port);
    p.pause();
    await this.until(2_000, `${m.port} to stop`, async () => (isStopped(p.pid) ? '' : 'not stopped yet'));
    this.lastFault = { node: { ...m, state: 'paused' }, at: performance.now() };
    return this.lastFault.node;
  }

  async resumeMaster(node: ClusterNode | number): Promise<ClusterNode> {
    const port = typeof node === 'number' ? node : node.port;
    const p = this.proc(port);
    if (!p.isPaused) throw new Error(`cluster node ${port} is not paused`);
    p.resume();
    await this.settle();
    return this.node(port);
  }

  async restart(node: ClusterNode | number): Promise<ClusterNode> {
    const port = typeof node === 'number' ? node : node.port;
    const p = this.proc(port);
    if (p.running) throw new Error(`cluster node ${port} is running`);
    await p.start();
    await this.settle();
    return this.node(port);
  }

  private async node(port: number): Promise<ClusterNode> {
    const n = (await this.topology()).find((x) => x.port === port);
    if (!n) throw new Error(`cluster node ${port} is not in the cluster`);
    return n;
  }

  async waitForFailover(
    node: ClusterNode | undefined = this.lastFault?.node,
  ): Promise<{ promoted: ClusterNode; ms: number }> {
    if (!node) throw new Error('waitForFailover: no master was killed or paused');
    const from = this.lastFault?.node.id === node.id ? this.lastFault.at : performance.now();
    const firstSlot = node.slots[0]?.[0];
    if (firstSlot === undefined) throw new Error(`master ${node.port} served no slot: nothing to fail over`);
    // Node timeout, the FAIL vote, the election delay, then gossip: a generous multiple of them all.
    const timeoutMs = Math.max(SETTLE_TIMEOUT_MS, 10 * this.nodeTimeoutMs);
    await this.until(timeoutMs, `a failover of ${node.port}`, async () => {
      const livePorts = new Set(this.live().map((p) => p.port));
      for (const port of livePorts) {
        const lines = await this.view(port).catch(() => null);
        if (!lines) return `${port} does not answer`;
        const dead = lines.find((l) => l.id === node.id);
        if (dead && !dead.flags.includes('fail')) return `${port} does not flag ${node.port} failed yet`;
        for (const [a] of node.slots) {
          const owner = lines.find((l) => l.slots.some(([x, y]) => x <= a && a <= y));
          if (!owner || owner.id === node.id || !livePorts.has(owner.port))
            return `${port} sees slot ${a} without a live master`;
        }
      }
      return this.unsettled();
    });
    const promoted = (await this.masters()).find((m) =>
      m.slots.some(([a, b]) => a <= firstSlot && firstSlot <= b),
    );
    if (!promoted) throw new Error(`no master serves slot ${firstSlot} after the failover`);
    return { promoted, ms: Math.round(performance.now() - from) };
  }

  async reshard(move: { slots: number; from: number; to: number }): Promise<void> {
    const masters = await this.masters();
    const from = masters[move.from];
    const to = masters[move.to];
    if (!from || !to || from.id === to.id)
      throw new Error(`reshard: masters ${move.from} and ${move.to} of ${masters.length}`);
    await this.moveSlots(from.id, to, move.slots);
  }

  private async moveSlots(fromId: string, to: ClusterNode, slots: number): Promise<void> {
    // biome-ignore format: one option and its value per line
    await redisCli([
      '--cluster', 'reshard', `127.0.0.1:${to.port}`,
      '--cluster-from', fromId,
      '--cluster-to', to.id,
      '--cluster-slots', String(slots),
      '--cluster-yes',
    ], 'reshard', CLI_TIMEOUT_MS);
    await this.settle();
  }

  async addNode(options: { slots?: number } = {}): Promise<ClusterNode> {
    const entry = this.live()[0];
    if (!entry) throw new Error('addNode: no live node to join');
    const p = await launch(this.clusterArgs, true);
    this.procs.push(p);
    await redisCli(
      ['--cluster', 'add-node', `127.0.0.1:${p.port}`, `127.0.0.1:${entry.port}`],
      'add-node',
      60_000,
    );
    await this.settle();
    if ((options.slots ?? 0) > 0) await this.moveSlots('all', await this.node(p.port), options.slots!);
    return this.node(p.port);
  }

  async failover(replicaIndex: number): Promise<ClusterNode> {
    const replicas = await this.replicas();
    const r = replicas[replicaIndex];
    if (!r) throw new Error(`no replica ${replicaIndex}: the cluster has ${replicas.length}`);
    const reply = await command(r.port, ['CLUSTER', 'FAILOVER'], 5_000);
    if (!reply.startsWith('+OK')) throw new Error(`CLUSTER FAILOVER on ${r.port}: ${reply.trim()}`);
    await this.until(SETTLE_TIMEOUT_MS, `${r.port} to be promoted`, async () => {
      for (const p of this.live()) {
        const me = (await this.view(p.port).catch(() => [])).find((l) => l.id === r.id);
        if (!me?.flags.includes('master')) return `${p.port} does not see ${r.port} as master yet`;
      }
      return this.unsettled();
    });
    return this.node(r.port);
  }

  settle(timeoutMs = SETTLE_TIMEOUT_MS): Promise<void> {
    return this.until(timeoutMs, 'the cluster to settle', () => this.unsettled());
  }

  /** Polls `check` ('' when done, else why not) until done; throws with the last reason after `timeoutMs`. */
  async until(timeoutMs: number, what: string, check: () => Promise<string>): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const why = await check().catch((err: unknown) => (err instanceof Error ? err.message : String(err)));
      if (why === '') return;
      if (Date.now() > deadline) throw new Error(`waited ${timeoutMs} ms for ${what}: ${why}`);
      await sleep(POLL_MS * 2);
    }
  }

  /** '' when every live node is ok, they agree, no slot is open and every live replica is in sync; else why not. */
  async unsettled(): Promise<string> {
    const live = this.live();
    if (live.length === 0) return 'no node is up';
    const livePorts = new Set(live.map((p) => p.port));
    let signature: string | undefined;
    for (const p of live) {
      const info = await command(p.port, ['CLUSTER', 'INFO'], 1_000).catch(() => '');
      if (!info.includes('cluster_state:ok')) return `${p.port}: not cluster_state:ok`;
      const lines = await this.view(p.port);
      const me = lines.find((l) => l.flags.includes('myself'));
      if (!me) return `${p.port}: no myself line`;
      if (me.open) return `${p.port}: slots being migrated`;
      const known = lines.filter((l) => livePorts.has(l.port));
      if (known.length < live.length) return `${p.port} does not know every live node yet`;
      const troubled = known.find((l) =>
        l.flags.some((f) => f === 'fail' || f === 'fail?' || f === 'handshake'),
      );
      if (troubled) return `${p.port} sees ${troubled.port} as ${troubled.flags.join(',')}`;
      const sig = viewSignature(lines, livePorts);
      if (signature === undefined) signature = sig;
      else if (sig !== signature) return `${p.port} disagrees with ${live[0]!.port} on roles or slots`;
      if (me.flags.includes('slave')) {
        const repl = await command(p.port, ['INFO', 'replication'], 1_000).catch(() => '');
        if (!repl.includes('master_link_status:up') || repl.includes('master_sync_in_progress:1'))
          return `replica ${p.port} not in sync with its master`;
      }
    }
    return '';
  }
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
