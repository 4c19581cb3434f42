import { execFile, spawn } from 'node:child_process';
import { createServer, type Server } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('..', import.meta.url));
const main = path.join(root, 'dist/src/main.js');
const bin = path.join(root, 'bin/offerloop');
const run = promisify(execFile);

/** Runs the server as `npm start` does, until it exits or prints its ready lines; then stops it. */
function start(
  env: Record<string, string>,
): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [main], {
      cwd: root,
      env: { ...process.env, OFFERLOOP_LOG_LEVEL: 'info', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString('utf8');
      if (stdout.includes('open the agent desktop')) child.kill('SIGTERM');
    });
    child.stderr.on('data', (chunk: Buffer) => {
      stderr += chunk.toString('utf8');
    });
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, stdout, stderr }));
  });
}

describe('starting the server', () => {
  let taken: Server;
  let port: number;
  beforeAll(async () => {
    taken = createServer();
    await new Promise<void>((resolve) => taken.listen({ host: '127.0.0.1', port: 0 }, resolve));
    port = (taken.address() as { port: number }).port;
  });
  afterAll(() => new Promise<void>((resolve) => taken.close(() => resolve())));

  it('on a port in use: one clear line and exit code 3, before building anything', async () => {
    const run = await start({ PORT: String(port), HOST: '127.0.0.1' });
    expect(run.code).toBe(3);
    expect(run.stderr).toBe(
      `offerloop: 127.0.0.1:${port} is in use (another offerloop still running?): stop it, or set PORT\n`,
    );
    expect(run.stdout).toBe('');
  });

  it('says where to go once ready: the API, the agent desktop, the dashboard, the workbench, the docs and the demo key', async () => {
    const run = await start({ PORT: '0', HOST: '127.0.0.1', OFFERLOOP_DEMO_CUSTOMERS: '1000' });
    const lines = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, unknown>);
    const places = lines.find(
      (l) => l.msg === 'open the agent desktop, the dashboard, the workbench or the API docs',
    );
    expect(places).toMatchObject({
      agentDesktop: expect.stringMatching(/^http:\/\/127\.0\.0\.1:[1-9]\d*\/agent\/$/),
      dashboard: expect.stringMatching(/\/dashboard\/$/),
      workbench: expect.stringMatching(/\/workbench\/$/),
      docs: expect.stringMatching(/\/docs$/),
      apiKey: 'demo',
    });
    expect(run.code).toBe(0);
  });
});

describe('--help', () => {
  it.each(['serve', 'generate', 'load', 'mine', 'export', 'worker', 'simulate', 'evaluate'])(
    'offerloop %s --help prints its usage and exits 0, starting nothing',
    async (command) => {
      const { stdout } = await run(bin, [command, '--help'], { cwd: root, timeout: 20_000 });
      expect(stdout).toMatch(new RegExp(`Usage: offerloop ${command}`));
    },
  );

  it('offerloop serve with an argument is a usage error', async () => {
    await expect(run(bin, ['serve', '--port', '1'], { cwd: root })).rejects.toMatchObject({ code: 2 });
  });
});
