/**
 * docker/Dockerfile and docker/compose.yaml, checked without a Docker engine (none runs in CI).
 *
 * The image's steps are replayed outside Docker, read from the Dockerfile itself so that this test
 * follows it instead of duplicating it: the build stage's COPY lines and `npm run` steps in one
 * temp dir (on the repository's node_modules instead of a second full `npm ci`), then the final
 * stage's COPY lines and its `npm ci` in another, and the server is started there with the image's
 * ENV and CMD. Run as root (as CI does), the server and the loader run as `nobody`, so that the
 * code tree is root-owned and read-only to them as in the image (USER node); run as another user,
 * they run as that user, with a tree they could write to.
 *
 * Not covered without Docker: the base image itself, BuildKit's handling of the context and
 * .dockerignore, the real `node` user, volumes and their ownership, compose's networking,
 * depends_on and restart policies, and the redis image's defaults (e.g. protected mode off).
 */
import { type ChildProcess, type SpawnOptions, spawn } from 'node:child_process';
import {
  chmodSync,
  chownSync,
  cpSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
} from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { type RedisProcess, redisCommand, startRedis } from './support/redis.js';

const root = fileURLToPath(new URL('..', import.meta.url));
const DOCKERFILE = path.join(root, 'docker/Dockerfile');
const COMPOSE = path.join(root, 'docker/compose.yaml');
const REDIS_CONF = path.join(root, 'docker/redis.conf');
const PROMETHEUS_CONF = path.join(root, 'docker/prometheus.yml');

// ---- reading the Dockerfile ----

interface Instruction {
  readonly keyword: string;
  readonly args: string;
  readonly line: number;
}

interface Stage {
  readonly image: string;
  readonly name: string | null;
  readonly instructions: readonly Instruction[];
}

interface Dockerfile {
  /** ARGs before the first FROM, with their defaults. */
  readonly args: ReadonlyMap<string, string>;
  readonly stages: readonly Stage[];
}

/** Instructions with continuation lines joined and comments dropped; stages split at FROM. */
function parseDockerfile(text: string): Dockerfile {
  const instructions: Instruction[] = [];
  let pending = '';
  let start = 0;
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    if (pending === '') start = i + 1;
    if (line.endsWith('\\')) {
      pending += `${line.slice(0, -1).trim()} `;
      return;
    }
    const full = `${pending}${line}`;
    pending = '';
    const match = /^(\S+)\s+(.*)$/.exec(full);
    if (!match) throw new Error(`Dockerfile line ${start}: cannot read '${full}'`);
    instructions.push({ keyword: match[1]!.toUpperCase(), args: match[2]!.trim(), line: start });
  });
  const args = new Map<string, string>();
  const stages: { image: string; name: string | null; instructions: Instruction[] }[] = [];
  for (const ins of instructions) {
    if (ins.keyword === 'FROM') {
      const [image = '', as, name] = ins.args.split(/\s+/);
      const resolved = image.replace(/\$\{(\w+)\}|\$(\w+)/g, (_m, a, b) => args.get(a ?? b) ?? '');
      stages.push({
        image: resolved,
        name: as?.toUpperCase() === 'AS' ? (name ?? null) : null,
        instructions: [],
      });
    } else if (stages.length === 0) {
      if (ins.keyword !== 'ARG') throw new Error(`Dockerfile line ${ins.line}: ${ins.keyword} before FROM`);
      const [name = '', value = ''] = ins.args.split('=', 2);
      args.set(name, value);
    } else {
      stages.at(-1)!.instructions.push(ins);
    }
  }
  return { args, stages };
}

const all = (stage: Stage, keyword: string) => stage.instructions.filter((i) => i.keyword === keyword);
const last = (stage: Stage, keyword: string) => all(stage, keyword).at(-1);

/** An exec-form (JSON array) argument list, or null for the shell form. */
function execForm(args: string): string[] | null {
  if (!args.startsWith('[')) return null;
  const parsed: unknown = JSON.parse(args);
  if (!Array.isArray(parsed) || !parsed.every((a) => typeof a === 'string')) return null;
  return parsed;
}

interface Copy {
  readonly from: string | null;
  readonly sources: readonly string[];
  readonly dest: string;
}

function copyOf(ins: Instruction): Copy {
  const words = ins.args.split(/\s+/);
  let from: string | null = null;
  const paths: string[] = [];
  for (const word of words) {
    if (word.startsWith('--from=')) from = word.slice('--from='.length);
    else if (!word.startsWith('--')) paths.push(word);
  }
  const dest = paths.pop();
  if (dest === undefined || paths.length === 0)
    throw new Error(`COPY on line ${ins.line} needs a source and a dest`);
  return { from, sources: paths, dest };
}

/** `ENV A=1 B=2` (the only form used), as a record. */
function envOf(stage: Stage): Record<string, string> {
  const env: Record<string, string> = {};
  for (const ins of all(stage, 'ENV')) {
    for (const pair of ins.args.split(/\s+/)) {
      const eq = pair.indexOf('=');
      if (eq <= 0 || /["']/.test(pair)) throw new Error(`ENV on line ${ins.line}: use plain KEY=value pairs`);
      env[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
  }
  return env;
}

/** The `npm ci …` command among a stage's RUN lines (a RUN may chain more with &&). */
function npmCiOf(stage: Stage): string[] {
  const commands = all(stage, 'RUN').flatMap((r) => r.args.split('&&').map((c) => c.trim()));
  const ci = commands.filter((c) => c.startsWith('npm ci'));
  if (ci.length !== 1) throw new Error(`expected one npm ci in stage ${stage.name ?? stage.image}`);
  return ci[0]!.split(/\s+/);
}

/** Copies a COPY's sources into `dir` (the stage's WORKDIR) as Docker would. */
function replayCopy(
  copy: Copy,
  contextDir: string,
  stageDirs: ReadonlyMap<string, string>,
  dir: string,
): void {
  const base = copy.from === null ? contextDir : stageDirs.get(copy.from);
  if (base === undefined) throw new Error(`COPY --from=${copy.from}: no such stage replayed`);
  const dest = path.resolve(dir, containerRelative(copy.dest));
  for (const source of copy.sources) {
    const from = path.join(base, containerRelative(source));
    if (!existsSync(from)) throw new Error(`COPY source ${source} does not exist (${from})`);
    const into =
      copy.sources.length > 1 || copy.dest.endsWith('/') ? path.join(dest, path.basename(from)) : dest;
    mkdirSync(path.dirname(into), { recursive: true });
    cpSync(from, into, { recursive: true });
  }
}

/** Paths inside the image are under WORKDIR /app; the replay puts /app in a temp dir. */
function containerRelative(p: string): string {
  if (p === WORKDIR || p.startsWith(`${WORKDIR}/`)) return `.${p.slice(WORKDIR.length)}`;
  if (path.isAbsolute(p)) throw new Error(`cannot replay the absolute path ${p} outside ${WORKDIR}`);
  return p;
}

const WORKDIR = '/app';
const dockerfile = parseDockerfile(readFileSync(DOCKERFILE, 'utf8'));
const buildStage = dockerfile.stages[0]!;
const finalStage = dockerfile.stages.at(-1)!;
const imageEnv = envOf(finalStage);
const pkg = JSON.parse(readFileSync(path.join(root, 'package.json'), 'utf8')) as {
  scripts: Record<string, string>;
  files: string[];
  dependencies: Record<string, string>;
  devDependencies: Record<string, string>;
};
const compose = parseYaml(readFileSync(COMPOSE, 'utf8'), { merge: true }) as ComposeFile;
const prometheusConf = parseYaml(readFileSync(PROMETHEUS_CONF, 'utf8')) as {
  scrape_configs: {
    authorization: { credentials_file?: string };
    static_configs: { targets: string[] }[];
  }[];
};

/** A compose value with its ${VAR:-default} filled from `vars`, else the default. */
function withVars(value: string, vars: Readonly<Record<string, string>> = {}): string {
  return value.replace(
    /\$\{(\w+)(?::-([^}]*))?\}/g,
    (_m, name: string, fallback?: string) => vars[name] ?? fallback ?? '',
  );
}

/** The source of a short-syntax volume (`source:target[:mode]`) mounted at `target`. */
function mountedAt(volumes: readonly string[] | undefined, target: string): string | undefined {
  return volumes?.map((v) => withVars(v).split(':')).find(([, t]) => t === target)?.[0];
}

// ---- running things as the image would ----

const AS_ROOT = process.getuid?.() === 0;
const NOBODY = 65534;
// As test/support/redis.ts: the kernel kills what we started if this worker dies first.
const WITH_DEATH_SIGNAL = process.platform === 'linux' && existsSync('/usr/bin/setpriv');
const children = new Set<ChildProcess>();
const tempDirs: string[] = [];

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  chmodSync(dir, 0o755);
  tempDirs.push(dir);
  return dir;
}

/** A dir the server's user may write to (the image chowns it to `node`). */
function writableDir(dir: string): string {
  mkdirSync(dir, { recursive: true });
  if (AS_ROOT) chownSync(dir, NOBODY, NOBODY);
  return dir;
}

interface Run {
  readonly child: ChildProcess;
  readonly output: string[];
  readonly exit: Promise<number | null>;
}

/** Starts argv (PATH lookup, as Docker's exec form) in `cwd` with exactly `env` plus PATH, as a non-root user. */
function launch(argv: readonly string[], cwd: string, env: Record<string, string>): Run {
  const [command = '', ...args] = argv;
  const options: SpawnOptions = {
    cwd,
    env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(AS_ROOT ? { uid: NOBODY, gid: NOBODY } : {}),
  };
  const child = WITH_DEATH_SIGNAL
    ? spawn('setpriv', ['--pdeathsig', 'KILL', command, ...args], options)
    : spawn(command, args, options);
  children.add(child);
  const output: string[] = [];
  const remember = (chunk: Buffer) => {
    output.push(...chunk.toString('utf8').split('\n').filter(Boolean));
    output.splice(0, output.length - 60);
  };
  child.stdout?.on('data', remember);
  child.stderr?.on('data', remember);
  const exit = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      children.delete(child);
      resolve(code);
    });
    child.once('error', (err) => {
      output.push(String(err));
      children.delete(child);
      resolve(null);
    });
  });
  return { child, output, exit };
}

async function runToEnd(
  argv: readonly string[],
  cwd: string,
  env: Record<string, string>,
  timeoutMs = 30_000,
): Promise<{ code: number | null; output: string }> {
  const run = launch(argv, cwd, env);
  const timer = setTimeout(() => run.child.kill('SIGKILL'), timeoutMs);
  const code = await run.exit;
  clearTimeout(timer);
  return { code, output: run.output.join('\n') };
}

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

interface Server extends Run {
  readonly port: number;
  readonly url: string;
}

/**
 * The image's CMD in `appDir` with the image's ENV and `env`; resolves once the server has logged
 * 'offerloop ready' (with several worker processes: once every one listens) and /health/live answers.
 */
async function startServer(appDir: string, env: Record<string, string>): Promise<Server> {
  const cmd = execForm(last(finalStage, 'CMD')!.args)!;
  const port = await freePort();
  // HOST: the image listens on 0.0.0.0 (reachable from outside the container); here loopback is enough.
  const run = launch(cmd, appDir, { ...imageEnv, ...env, PORT: String(port), HOST: '127.0.0.1' });
  let ready = false;
  run.child.stdout?.on('data', (chunk: Buffer) => {
    ready ||= chunk.toString('utf8').includes('"msg":"offerloop ready"');
  });
  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 45_000;
  for (;;) {
    const exited = await Promise.race([run.exit.then(() => true), sleep(100).then(() => false)]);
    if (exited) throw new Error(`the server exited during start-up:\n${run.output.join('\n')}`);
    const ok =
      ready &&
      (await fetch(`${url}/health/live`).then(
        (r) => r.ok,
        () => false,
      ));
    if (ok) return { ...run, port, url };
    if (Date.now() > deadline) throw new Error(`the server did not come up:\n${run.output.join('\n')}`);
  }
}

/** SIGTERM, as `docker stop` sends it to PID 1; the exit code. */
async function stopServer(server: Server): Promise<number | null> {
  server.child.kill('SIGTERM');
  const timer = setTimeout(() => server.child.kill('SIGKILL'), 35_000);
  const code = await server.exit;
  clearTimeout(timer);
  return code;
}

function decide(server: Server, key: string, body: object) {
  return fetch(`${server.url}/v1/decisions`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
}

// ---- the replay: build stage, then the final stage ----

let appDir: string;
let buildDir: string;
const timings: Record<string, number> = {};

async function timed<T>(name: string, step: () => Promise<T>): Promise<T> {
  const t0 = performance.now();
  try {
    return await step();
  } finally {
    timings[name] = Math.round(performance.now() - t0);
  }
}

/** Both stages, into buildDir and appDir. */
async function replayImage(): Promise<void> {
  const stageDirs = new Map<string, string>();
  buildDir = tempDir('offerloop-image-build-');
  appDir = tempDir('offerloop-image-app-');
  // Build stage: the repository's node_modules stand in for its full `npm ci` (the repository's own
  // install has just done the same); the final stage's `npm ci --omit=dev` really runs, with
  // --prefer-offline so that the machine's npm cache serves it when the registry is away.
  await replayStage(buildStage, buildDir, stageDirs, async () => {
    symlinkSync(path.join(root, 'node_modules'), path.join(buildDir, 'node_modules'), 'dir');
  });
  if (buildStage.name) stageDirs.set(buildStage.name, buildDir);
  await replayStage(finalStage, appDir, stageDirs, async (ci) => {
    const argv = [...ci, '--prefer-offline'];
    const { code, output } = await timed(argv.join(' '), () => runAsUs(argv, appDir, 180_000));
    if (code !== 0) throw new Error(`${argv.join(' ')} failed:\n${output}`);
  });
}

/**
 * A stage's COPY and RUN lines in order, in `dir` standing for its WORKDIR. RUN lines may hold only
 * what the replay understands: `npm ci` (done by `ci`), `npm run …`, and the final stage's
 * image-only housekeeping (cache clean-up; the dirs it makes for the non-root user, which the test
 * makes for itself). Anything else must be taught here first.
 */
async function replayStage(
  stage: Stage,
  dir: string,
  stageDirs: ReadonlyMap<string, string>,
  ci: (argv: string[]) => Promise<void>,
): Promise<void> {
  expect(last(stage, 'WORKDIR')?.args).toBe(WORKDIR);
  for (const ins of stage.instructions) {
    if (ins.keyword === 'COPY') replayCopy(copyOf(ins), root, stageDirs, dir);
    if (ins.keyword !== 'RUN') continue;
    for (const command of ins.args.split('&&').map((c) => c.trim())) {
      const argv = command.split(/\s+/);
      if (command.startsWith('npm ci ')) await ci(argv);
      else if (argv[0] === 'npm' && argv[1] === 'run') {
        const { code, output } = await timed(command, () => runAsUs(argv, dir));
        if (code !== 0)
          throw new Error(`'${command}' failed in stage ${stage.name ?? stage.image}:\n${output}`);
      } else if (!/^(npm cache clean|mkdir -p \/|chown node:node \/)/.test(command)) {
        throw new Error(`Dockerfile line ${ins.line}: the test cannot replay '${command}'`);
      }
    }
  }
}

afterAll(() => {
  for (const child of children) child.kill('SIGKILL');
  for (const dir of tempDirs) rmSync(dir, { recursive: true, force: true });
  if (process.env.OFFERLOOP_TEST_LOG)
    process.stderr.write(`docker replay timings (ms): ${JSON.stringify(timings)}\n`);
});

/** Install and build steps run as the image's RUN lines do: as the invoking user (root in Docker). */
function runAsUs(argv: readonly string[], cwd: string, timeoutMs = 120_000) {
  const [command = '', ...args] = argv;
  return new Promise<{ code: number | null; output: string }>((resolve) => {
    const child = spawn(command, args, { cwd, env: process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    children.add(child);
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.once('error', (err) => {
      output += String(err);
    });
    child.once('close', (code) => {
      clearTimeout(timer);
      children.delete(child);
      resolve({ code, output });
    });
  });
}

describe('the image, replayed without Docker', () => {
  beforeAll(replayImage, 240_000);

  it('installs the production dependencies and none of the development ones', () => {
    const nodeModules = path.join(appDir, 'node_modules');
    for (const dep of Object.keys(pkg.dependencies))
      expect(existsSync(path.join(nodeModules, dep)), dep).toBe(true);
    for (const dep of Object.keys(pkg.devDependencies)) {
      expect(existsSync(path.join(nodeModules, dep)), dep).toBe(false);
    }
    // Nor anything only the development tools pull in (esbuild, rollup, …).
    const lock = JSON.parse(readFileSync(path.join(appDir, 'package-lock.json'), 'utf8')) as {
      packages: Record<string, { dev?: boolean }>;
    };
    const devOnly = Object.entries(lock.packages).filter(([key, p]) => key !== '' && p.dev === true);
    expect(devOnly.length).toBeGreaterThan(0);
    for (const [key] of devOnly) expect(existsSync(path.join(appDir, key)), key).toBe(false);
  });

  it('has only the server in dist (no benches, no test helpers) and everything package.json publishes', () => {
    expect(existsSync(path.join(appDir, 'dist/src/main.js'))).toBe(true);
    expect(existsSync(path.join(appDir, 'dist/bench'))).toBe(false);
    expect(existsSync(path.join(appDir, 'dist/test'))).toBe(false);
    // `files` lists what is published and, after a `!`, what is not (the compiled tests).
    for (const entry of pkg.files.filter((f) => !f.startsWith('!'))) {
      expect(existsSync(path.join(appDir, entry)), entry).toBe(true);
    }
  });

  describe('the server on the embedded store', () => {
    let server: Server;
    let spool: string;

    beforeAll(async () => {
      spool = writableDir(path.join(tempDir('offerloop-image-spool-'), 'spool'));
      server = await startServer(appDir, { FEEDBACK_SPOOL_DIR: spool, OFFERLOOP_DEMO_CUSTOMERS: '1000' });
    }, 50_000);

    it('runs as a user that is not root', () => {
      const status = `/proc/${server.child.pid}/status`;
      if (!existsSync(status)) return;
      const uid = /^Uid:\s+(\d+)/m.exec(readFileSync(status, 'utf8'))?.[1];
      expect(uid).toBe(String(AS_ROOT ? NOBODY : process.getuid?.()));
      expect(uid).not.toBe('0');
    });

    it('is live, and the HEALTHCHECK command says so', async () => {
      const live = await fetch(`${server.url}/health/live`);
      expect(live.status).toBe(200);
      const check = execForm(healthcheckCmdOf(finalStage))!;
      const healthy = await runToEnd(check, appDir, { PORT: String(server.port) });
      expect(healthy, healthy.output).toMatchObject({ code: 0 });
      // And it fails where nothing answers, or Docker would never see a dead server.
      const nobody = await runToEnd(check, appDir, { PORT: String(await freePort()) });
      expect(nobody.code).not.toBe(0);
    });

    it('answers a decision with the demo key', async () => {
      const res = await decide(server, 'demo', {
        customerId: 'visitor-123',
        channel: 'web',
        placement: 'home-hero',
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { offers: { offerId: string }[] };
      expect(body.offers.length).toBeGreaterThan(0);
      const known = await decide(server, 'demo', { customerId: 'cust-42', channel: 'call_center' });
      expect(known.status).toBe(200);
      expect(await known.json()).toMatchObject({ customerKnown: true });
    });

    it('serves the agent desktop, the dashboard and its uPlot file (src/web and node_modules are there)', async () => {
      for (const page of ['/agent/', '/dashboard/', '/web/banner.js', '/web/vendor/uPlot.iife.min.js']) {
        const res = await fetch(`${server.url}${page}`);
        expect(res.status, page).toBe(200);
        expect((await res.text()).length, page).toBeGreaterThan(100);
      }
    });

    it('exits 0 on SIGTERM', async () => {
      expect(await stopServer(server), server.output.join('\n')).toBe(0);
    }, 40_000);
  });

  describe('the compose setup, outside Docker: Redis with docker/redis.conf, the loader, a server', () => {
    let redis: RedisProcess;
    let dataDir: string;

    beforeAll(async () => {
      redis = await startRedis({ args: redisConfArgs() });
      dataDir = writableDir(path.join(tempDir('offerloop-image-data-'), 'data'));
    }, 30_000);
    afterAll(async () => {
      await redis?.stop();
    });

    /** A compose value with its ${VAR:-default} filled from `vars`, and container paths made local. */
    const local = (value: string, vars: Record<string, string> = {}) =>
      withVars(value, vars)
        .replaceAll('redis://redis:6379', redis.url)
        .replace(/(^|\s|=)\/data(?=\/|\s|$)/g, `$1${dataDir}`)
        .replace(/(^|\s|=)\/app(?=\/|\s|$)/g, `$1${appDir}`);

    it('runs Redis with the conf: AOF every second, no eviction', async () => {
      expect(await redisCommand(redis.port, 'CONFIG', 'GET', 'appendonly')).toContain('yes');
      expect(await redisCommand(redis.port, 'CONFIG', 'GET', 'appendfsync')).toContain('everysec');
      expect(await redisCommand(redis.port, 'CONFIG', 'GET', 'maxmemory-policy')).toContain('noeviction');
    });

    it('loads a generated world with the loader service, and a server with the compose environment decides on it', async () => {
      // docs/docker.md: generate into the data volume, load it, serve its rules (OFFERLOOP_RULES=/data/rules).
      const generate = [
        'node',
        'bin/offerloop',
        'generate',
        '--offers',
        '40',
        '--customers',
        '2000',
        '--out',
        dataDir,
      ];
      const generated = await timed('generate', () => runToEnd(generate, appDir, imageEnv));
      expect(generated, generated.output).toMatchObject({ code: 0 });

      const loader = compose.services.loader!;
      // The compose command as it is (a first load: no grace period to wait after the flip).
      const loaded = await timed('loader', () =>
        runToEnd(
          loader.command!.map((a) => local(a)),
          appDir,
          imageEnv,
        ),
      );
      expect(loaded, loaded.output).toMatchObject({ code: 0 });

      const env = Object.fromEntries(
        Object.entries(compose.services.offerloop!.environment ?? {}).map(([k, v]) => [
          k,
          local(String(v), { OFFERLOOP_RULES: '/data/rules' }),
        ]),
      );
      const spool = writableDir(path.join(tempDir('offerloop-image-spool-'), 'spool'));
      const server = await timed('start on Redis', () =>
        startServer(appDir, { ...env, FEEDBACK_SPOOL_DIR: spool }),
      );
      try {
        const ready = await fetch(`${server.url}/health/ready`);
        expect(await ready.json()).toMatchObject({ status: 'ready' });
        // The compose file's default keys: the agent key decides, the demo key is gone with Redis.
        const res = await decide(server, 'demo-agent', { customerId: 'cust-7', channel: 'web' });
        expect(res.status).toBe(200);
        const body = (await res.json()) as { customerKnown: boolean; offers: unknown[] };
        expect(body.customerKnown).toBe(true);
        expect(body.offers.length).toBeGreaterThan(0);
        expect((await decide(server, 'demo', { customerId: 'cust-7', channel: 'web' })).status).toBe(401);
        // Prometheus of the monitoring profile: the key in its key file may read /metrics.
        const key = readFileSync(path.join(root, 'docker/metrics-demo-key'), 'utf8');
        const metrics = await fetch(`${server.url}/metrics`, { headers: { authorization: `Bearer ${key}` } });
        expect(metrics.status).toBe(200);
        // One decision so far, summed over the workers' samples (each labelled with its worker).
        const decided = [
          ...(await metrics.text()).matchAll(/^offerloop_decisions_total\{channel="web"[^}]*\} (\d+)$/gm),
        ];
        expect(decided.reduce((n, m) => n + Number(m[1]), 0)).toBe(1);
      } finally {
        expect(await stopServer(server), server.output.join('\n')).toBe(0);
      }
    }, 90_000);
  });
});

function healthcheckCmdOf(stage: Stage): string {
  const hc = last(stage, 'HEALTHCHECK');
  if (!hc) throw new Error('no HEALTHCHECK in the final stage');
  const at = hc.args.indexOf('CMD ');
  if (at < 0) throw new Error('HEALTHCHECK without CMD');
  return hc.args.slice(at + 'CMD '.length).trim();
}

/** docker/redis.conf as redis-server arguments (after the test harness's own, so they win). */
function redisConfArgs(): string[] {
  return readFileSync(REDIS_CONF, 'utf8')
    .split('\n')
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .flatMap((l) => {
      const [name = '', ...values] = l.split(/\s+/);
      return [`--${name}`, ...values];
    });
}

// ---- static checks ----

interface ComposeService {
  build?: { context: string; dockerfile: string };
  image?: string;
  command?: string[];
  environment?: Record<string, string | number>;
  volumes?: string[];
  ports?: string[];
  depends_on?: Record<string, { condition: string }>;
  healthcheck?: { test?: string[]; disable?: boolean };
  profiles?: string[];
  stop_grace_period?: string;
}

interface ComposeFile {
  services: Record<string, ComposeService>;
  volumes?: Record<string, unknown>;
}

describe('docker/Dockerfile', () => {
  it('has two stages on the same Node 20 base', () => {
    expect(dockerfile.stages).toHaveLength(2);
    for (const stage of dockerfile.stages) expect(stage.image).toMatch(/^node:20[.\d]*-bookworm-slim$/);
    expect(buildStage.name).not.toBeNull();
  });

  it('runs the final stage as a non-root user', () => {
    const user = last(finalStage, 'USER')?.args;
    expect(user).toBeDefined();
    expect(['root', '0', '0:0']).not.toContain(user);
    // Nothing runs as root after the switch.
    const after = finalStage.instructions.slice(finalStage.instructions.indexOf(last(finalStage, 'USER')!));
    expect(after.filter((i) => i.keyword === 'RUN' || i.keyword === 'USER')).toHaveLength(1);
  });

  it('installs production dependencies only, without install scripts, in the final stage', () => {
    const ci = npmCiOf(finalStage);
    expect(ci).toContain('--omit=dev');
    expect(ci).toContain('--ignore-scripts');
    // The build stage must skip `prepare` (it builds, before the sources are copied).
    expect(pkg.scripts.prepare).toBeDefined();
    expect(npmCiOf(buildStage)).toContain('--ignore-scripts');
  });

  it('starts node directly in exec form, as `npm start` would after its build', () => {
    const cmd = execForm(last(finalStage, 'CMD')!.args);
    expect(cmd).not.toBeNull();
    expect(cmd![0]).toBe('node');
    expect(cmd!.join(' ')).toBe(pkg.scripts.start);
    expect(all(finalStage, 'ENTRYPOINT')).toHaveLength(0);
  });

  it('checks its health with node against /health/live, on the port it exposes', () => {
    const check = execForm(healthcheckCmdOf(finalStage));
    expect(check?.slice(0, 2)).toEqual(['node', '-e']);
    expect(check?.[2]).toContain('/health/live');
    expect(imageEnv).toMatchObject({ HOST: '0.0.0.0', NODE_ENV: 'production' });
    expect(last(finalStage, 'EXPOSE')?.args).toBe(imageEnv.PORT);
  });

  it('keeps the spool on a volume', () => {
    expect(imageEnv.FEEDBACK_SPOOL_DIR).toBeDefined();
    expect(execForm(last(finalStage, 'VOLUME')!.args)).toContain(imageEnv.FEEDBACK_SPOOL_DIR);
  });

  it('has a .dockerignore that leaves everything the stages copy in the context', () => {
    const ignored = readFileSync(path.join(root, '.dockerignore'), 'utf8')
      .split('\n')
      .map((l) => l.trim().replace(/^\/+|\/+$/g, ''))
      .filter((l) => l !== '' && !l.startsWith('#'));
    expect(ignored.some((p) => p.replace(/^\*\*\//, '') === 'node_modules')).toBe(true);
    const copied = dockerfile.stages
      .flatMap((s) => all(s, 'COPY').map(copyOf))
      .filter((c) => c.from === null)
      .flatMap((c) => c.sources);
    for (const source of copied) {
      for (const pattern of ignored) {
        if (pattern.startsWith('!')) continue;
        const name = pattern.replace(/^\*\*\//, '');
        expect(
          source === name || source.startsWith(`${name}/`) || source.split('/').includes(name),
          source,
        ).toBe(false);
      }
    }
  });
});

describe('docker/compose.yaml', () => {
  const { redis, offerloop, loader } = compose.services;
  const second = compose.services['offerloop-2'];

  it('runs Redis with docker/redis.conf mounted (AOF on) and its data on a named volume', () => {
    expect(redis?.image).toMatch(/^redis:7/);
    const confTarget = redis!.command!.find((a) => a.endsWith('.conf'))!;
    expect(mountedAt(redis!.volumes, confTarget)).toBe('./redis.conf');
    expect(readFileSync(REDIS_CONF, 'utf8')).toMatch(/^appendonly yes$/m);
    expect(readFileSync(REDIS_CONF, 'utf8')).toMatch(/^maxmemory-policy noeviction$/m);
    const data = mountedAt(redis!.volumes, '/data');
    expect(Object.keys(compose.volumes ?? {})).toContain(data);
    expect(redis!.healthcheck?.test).toEqual(['CMD', 'redis-cli', 'ping']);
  });

  it('builds Offerloop from the repository with docker/Dockerfile and starts it once Redis is healthy', () => {
    expect(path.resolve(root, 'docker', offerloop!.build!.context)).toBe(path.resolve(root));
    expect(path.resolve(root, offerloop!.build!.dockerfile)).toBe(DOCKERFILE);
    expect(offerloop!.depends_on?.redis?.condition).toBe('service_healthy');
    expect(offerloop!.environment?.REDIS_URL).toBe('redis://redis:6379');
    expect(String(offerloop!.environment?.OFFERLOOP_API_KEYS)).toMatch(/^\$\{OFFERLOOP_API_KEYS:-.+\}$/);
    expect(offerloop!.ports?.some((p) => p.endsWith(`:${imageEnv.PORT}`))).toBe(true);
    expect(Object.keys(compose.volumes ?? {})).toContain(
      mountedAt(offerloop!.volumes, imageEnv.FEEDBACK_SPOOL_DIR!),
    );
    // Longer than the server's own 30 s shutdown deadline, so that it is not SIGKILLed mid-flush.
    expect(Number.parseInt(offerloop!.stop_grace_period ?? '10', 10)).toBeGreaterThan(30);
  });

  it('has a second node in the scale profile, on another port and its own spool, sharing Redis', () => {
    expect(second?.profiles).toEqual(['scale']);
    expect(second?.environment?.REDIS_URL).toBe(offerloop!.environment?.REDIS_URL);
    expect(second?.ports).not.toEqual(offerloop!.ports);
    const spool = mountedAt(second?.volumes, imageEnv.FEEDBACK_SPOOL_DIR!);
    expect(spool).toBeDefined();
    expect(spool).not.toBe(mountedAt(offerloop!.volumes, imageEnv.FEEDBACK_SPOOL_DIR!));
    expect(offerloop!.profiles).toBeUndefined();
  });

  it('has a one-shot loader in the load profile', () => {
    expect(loader?.profiles).toEqual(['load']);
    expect(loader?.command?.slice(0, 3)).toEqual(['node', 'bin/offerloop', 'load']);
    expect(loader?.command).toContain('redis://redis:6379');
  });

  it('has Prometheus and Grafana in the monitoring profile, scraping with the key file and showing the dashboard', () => {
    const { prometheus, grafana } = compose.services;
    expect(prometheus?.profiles).toEqual(['monitoring']);
    expect(grafana?.profiles).toEqual(['monitoring']);
    // Prometheus reads its config and the key where prometheus.yml says, and scrapes the servers.
    const configAt = prometheus!.command!.find((a) => a.startsWith('--config.file='))!.split('=')[1]!;
    expect(path.resolve(root, 'docker', mountedAt(prometheus!.volumes, configAt)!)).toBe(PROMETHEUS_CONF);
    const scrape = prometheusConf.scrape_configs[0]!;
    expect(scrape.authorization.credentials_file).toBeDefined();
    expect(mountedAt(prometheus!.volumes, scrape.authorization.credentials_file!)).toBe('./metrics-demo-key');
    expect(scrape.static_configs[0]!.targets).toContain(`offerloop:${imageEnv.PORT}`);
    // Grafana: its data source is that Prometheus, and the dashboard file is where the provider looks.
    const provisioning = mountedAt(grafana!.volumes, '/etc/grafana/provisioning')!;
    const provisioned = (file: string) =>
      parseYaml(readFileSync(path.resolve(root, 'docker', provisioning, file), 'utf8')) as {
        datasources?: { type: string; url: string; isDefault: boolean }[];
        providers?: { options: { path: string } }[];
      };
    const [source] = provisioned('datasources/prometheus.yaml').datasources!;
    expect(source).toMatchObject({ type: 'prometheus', url: 'http://prometheus:9090', isDefault: true });
    expect(prometheus!.ports?.[0]).toMatch(/^127\.0\.0\.1:.*:9090$/);
    const dashboards = provisioned('dashboards/offerloop.yaml').providers![0]!.options.path;
    const dashboardFile = grafana!
      .volumes!.map((v) => v.split(':'))
      .find(([, t]) => t?.startsWith(`${dashboards}/`));
    expect(path.resolve(root, 'docker', dashboardFile![0]!)).toBe(
      path.join(root, 'docker/grafana/offerloop-dashboard.json'),
    );
  });

  it('declares every named volume it mounts', () => {
    for (const [name, service] of Object.entries(compose.services)) {
      for (const volume of service.volumes ?? []) {
        const source = withVars(volume).split(':')[0]!;
        if (source.startsWith('.') || source.startsWith('/')) continue;
        expect(Object.keys(compose.volumes ?? {}), `${name}: ${volume}`).toContain(source);
      }
    }
  });
});
