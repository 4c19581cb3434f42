import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

// The README's tour, run as a reader runs it: every ```sh block of "A quick tour", in order, in
// bash, against a server started as `npm start` starts it (embedded store, demo data, key `demo`).
// A `# …` line after a command is the output the README promises: its text, cut at each `…`, must
// appear in that order in what the block printed. So the README cannot drift from the product.
//
// Markers (HTML comments, invisible on GitHub) just before a block:
//   <!-- tour: background -->  the block keeps running (a WebSocket listener) until the tour ends;
//                              its promised output is checked then.
//   <!-- tour: skip REASON --> the block is not run (say why).

const root = fileURLToPath(new URL('..', import.meta.url));
const README = readFileSync(path.join(root, 'README.md'), 'utf8');

interface TourBlock {
  readonly line: number;
  readonly script: string;
  readonly promised: readonly string[];
  readonly mode: 'run' | 'background' | 'skip';
}

/** The sh blocks of the tour section, with what each promises to print. */
function tourBlocks(readme: string): TourBlock[] {
  const start = readme.indexOf('\n## A quick tour');
  const end = readme.indexOf('\n## ', start + 1);
  if (start < 0) throw new Error('README.md has no "## A quick tour" section');
  const section = readme.slice(start, end < 0 ? undefined : end);
  const firstLine = readme.slice(0, start).split('\n').length;
  const blocks: TourBlock[] = [];
  const fence = /(?:<!-- tour: (background|skip)[^>]*-->\s*\n)?```sh\n([\s\S]*?)```/g;
  for (let m = fence.exec(section); m !== null; m = fence.exec(section)) {
    const body = m[2]!;
    const promised = body
      .split('\n')
      .filter((l) => l.startsWith('# '))
      .map((l) => l.slice(2));
    blocks.push({
      line: firstLine + section.slice(0, m.index).split('\n').length,
      script: body,
      promised,
      mode: (m[1] as 'background' | 'skip' | undefined) ?? 'run',
    });
  }
  return blocks;
}

/** Whether `output` shows `promise`: its pieces between `…` (or `...`) in that order. */
function shows(output: string, promise: string): boolean {
  let at = 0;
  for (const piece of promise.split(/…|\.\.\./)) {
    const text = piece.trim();
    if (text === '') continue;
    const found = output.indexOf(text, at);
    if (found < 0) return false;
    at = found + text.length;
  }
  return true;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen({ host: '127.0.0.1', port: 0 }, () => {
      const { port } = probe.address() as { port: number };
      probe.close(() => resolve(port));
    });
  });
}

let port: number;
let server: ChildProcess;
const background: { block: TourBlock; child: ChildProcess; output: string[] }[] = [];

/** The block as the reader types it, pointed at the test's server. */
const scriptOf = (block: TourBlock) => block.script.replaceAll('localhost:8080', `127.0.0.1:${port}`);

function runBlock(block: TourBlock): Promise<{ code: number | null; output: string }> {
  return new Promise((resolve) => {
    const child = spawn('bash', ['-c', scriptOf(block)], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    child.stderr.on('data', (c: Buffer) => {
      output += c.toString('utf8');
    });
    child.once('exit', (code) => resolve({ code, output }));
  });
}

beforeAll(async () => {
  port = await freePort();
  server = spawn(process.execPath, ['--max-semi-space-size=64', 'dist/src/main.js'], {
    cwd: root,
    env: { ...process.env, PORT: String(port), HOST: '127.0.0.1', OFFERLOOP_API_KEYS: '', REDIS_URL: '' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  await new Promise<void>((resolve, reject) => {
    let log = '';
    server.stdout!.on('data', (c: Buffer) => {
      log += c.toString('utf8');
      if (log.includes('"msg":"offerloop ready"')) resolve();
    });
    server.stderr!.on('data', (c: Buffer) => {
      log += c.toString('utf8');
    });
    server.once('exit', (code) => reject(new Error(`the server exited (${code}):\n${log}`)));
  });
}, 60_000);

afterAll(async () => {
  for (const { child } of background) child.kill('SIGTERM');
  server?.kill('SIGTERM');
  if (server && server.exitCode === null) await new Promise((r) => server.once('exit', r));
});

describe('the README tour', () => {
  const blocks = tourBlocks(README);

  it('has steps, and promises output for them', () => {
    expect(blocks.length).toBeGreaterThan(10);
    expect(blocks.filter((b) => b.promised.length > 0).length).toBeGreaterThan(10);
  });

  for (const block of blocks) {
    const first = block.script.split('\n')[0];
    const title = `README.md:${block.line} ${first}`;
    if (block.mode === 'skip') continue;
    it(title, async () => {
      if (block.mode === 'background') {
        const child = spawn('bash', ['-c', scriptOf(block)], {
          cwd: root,
          stdio: ['ignore', 'pipe', 'pipe'],
        });
        const output: string[] = [];
        child.stdout!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
        child.stderr!.on('data', (c: Buffer) => output.push(c.toString('utf8')));
        background.push({ block, child, output });
        // Until it printed its first promise: the steps after it rely on it listening.
        for (let i = 0; i < 100 && !shows(output.join(''), block.promised[0] ?? ''); i++) {
          await new Promise((r) => setTimeout(r, 50));
        }
        return;
      }
      const { code, output } = await runBlock(block);
      expect(code, output).toBe(0);
      for (const promise of block.promised)
        expect(shows(output, promise), `${promise}\nnot in:\n${output}`).toBe(true);
    }, 120_000);
  }

  it('background steps printed what the README promises', () => {
    for (const { block, output } of background) {
      for (const promise of block.promised) {
        expect(shows(output.join(''), promise), `README.md:${block.line}: ${promise}`).toBe(true);
      }
    }
  });
});
