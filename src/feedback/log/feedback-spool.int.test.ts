import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { type FileHandle, mkdtemp, open, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import ts from 'typescript';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { FeedbackSpool, SpoolError } from './feedback-spool.js';

const log = pino({ level: 'silent' });

let dir: string;
const spools: FeedbackSpool[] = [];

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'offerloop-spool-'));
});
afterEach(async () => {
  vi.restoreAllMocks();
  await Promise.all(spools.splice(0).map((s) => s.close()));
  await rm(dir, { recursive: true, force: true });
});

async function openSpool(): Promise<FeedbackSpool> {
  const spool = await FeedbackSpool.open(dir, log);
  spools.push(spool);
  return spool;
}

async function readAll(spool: FeedbackSpool, file: string, maxLines = 1000): Promise<string[]> {
  const lines: string[] = [];
  for await (const chunk of spool.readSegment(file, maxLines)) lines.push(...chunk);
  return lines;
}

/** The prototype every FileHandle shares, to count the spool's syscalls without a test hook in its API. */
async function fileHandlePrototype(): Promise<FileHandle> {
  const handle = await open(path.join(dir, 'probe'), 'w');
  await handle.close();
  await rm(path.join(dir, 'probe'));
  return Object.getPrototypeOf(handle) as FileHandle;
}

async function deadPid(): Promise<number> {
  const child = spawn(process.execPath, ['-e', '']);
  await new Promise((resolve) => child.once('exit', resolve));
  return child.pid!;
}

const segName = (ms: number, pid: number, ext: 'open' | 'log') =>
  `seg-${String(ms).padStart(13, '0')}-${pid}-0000.${ext}`;

describe('FeedbackSpool', () => {
  it('creates no segment until the first append', async () => {
    const spool = await openSpool();
    await spool.rotate();
    expect(await readdir(dir)).toEqual([]);
    expect(spool.hasBacklog()).toBe(false);
    expect(spool.stats()).toEqual({ segments: 0, bytes: 0, openLines: 0 });
  });

  it('reads appends back in order after rotate, and lists closed segments oldest first', async () => {
    const spool = await openSpool();
    await spool.append(['{"n":1}', '{"n":2}']);
    await spool.append(['{"n":3}']);
    expect(spool.openLines).toBe(3);
    expect(spool.hasBacklog()).toBe(true);
    expect(spool.stats()).toEqual({ segments: 1, bytes: 24, openLines: 3 });
    await spool.rotate();
    expect(spool.openLines).toBe(0);
    await spool.append(['c']);
    await spool.rotate();
    await spool.rotate(); // nothing appended since: no empty segment
    await spool.append(['d', 'é€😀']);
    await spool.rotate();

    const files = await spool.closedSegments();
    expect(files).toHaveLength(3);
    for (const f of files) {
      expect(path.isAbsolute(f)).toBe(true);
      expect(path.basename(f)).toMatch(/^seg-\d{13}-\d+-\d{4}\.log$/);
    }
    expect(await Promise.all(files.map((f) => readAll(spool, f)))).toEqual([
      ['{"n":1}', '{"n":2}', '{"n":3}'],
      ['c'],
      ['d', 'é€😀'],
    ]);
    expect((await readdir(dir)).filter((n) => n.endsWith('.open'))).toEqual([]);
    const bytes = 24 + 2 + Buffer.byteLength('d\né€😀\n');
    expect(spool.stats()).toEqual({ segments: 3, bytes, openLines: 0 });

    await spool.removeSegment(files[0]!);
    expect(await spool.closedSegments()).toEqual(files.slice(1));
    expect(spool.stats()).toEqual({ segments: 2, bytes: bytes - 24, openLines: 0 });
    await spool.removeSegment(files[1]!);
    await spool.removeSegment(files[2]!);
    expect(spool.hasBacklog()).toBe(false);
    expect(await readdir(dir)).toEqual([]);
  });

  it('rotate() waits for appends made before it; later appends go to the next segment', async () => {
    const spool = await openSpool();
    const before = spool.append(['a']);
    const rotated = spool.rotate();
    const after = spool.append(['b']);
    await Promise.all([before, rotated, after]);
    const [first] = await spool.closedSegments();
    expect(await readAll(spool, first!)).toEqual(['a']);
    expect(spool.openLines).toBe(1);
  });

  it('group commit: concurrent appends share writes and fdatasyncs', async () => {
    const proto = await fileHandlePrototype();
    const syncs = vi.spyOn(proto, 'datasync');
    const writes = vi.spyOn(proto, 'write');
    const spool = await openSpool();

    // Same tick: one group.
    await Promise.all(Array.from({ length: 200 }, (_, i) => spool.append([`same-${i}`])));
    expect(syncs).toHaveBeenCalledTimes(1);
    expect(writes).toHaveBeenCalledTimes(1);

    // Spread over ticks while a write+sync is in flight: each in-flight period gathers one group.
    syncs.mockClear();
    writes.mockClear();
    const pending: Promise<void>[] = [];
    for (let i = 0; i < 200; i++) {
      pending.push(spool.append([`spread-${i}`]));
      if (i % 5 === 4) await new Promise(setImmediate);
    }
    await Promise.all(pending);
    expect(syncs.mock.calls.length).toBeLessThanOrEqual(40);
    expect(writes.mock.calls.length).toBe(syncs.mock.calls.length);

    await spool.rotate();
    const [file] = await spool.closedSegments();
    const expected = [
      ...Array.from({ length: 200 }, (_, i) => `same-${i}`),
      ...Array.from({ length: 200 }, (_, i) => `spread-${i}`),
    ];
    expect(await readAll(spool, file!)).toEqual(expected);
  });

  it('a failed sync rejects its group, whose lines are not replayed; later appends succeed', async () => {
    const proto = await fileHandlePrototype();
    const spool = await openSpool();
    await spool.append(['kept-1']);
    vi.spyOn(proto, 'datasync').mockRejectedValueOnce(
      Object.assign(new Error('no space'), { code: 'ENOSPC' }),
    );
    await expect(spool.append(['lost-1', 'lost-2'])).rejects.toThrow('no space');
    await spool.append(['kept-2']);
    await spool.rotate();

    const files = await spool.closedSegments();
    expect(files).toHaveLength(2);
    expect(await Promise.all(files.map((f) => readAll(spool, f)))).toEqual([['kept-1'], ['kept-2']]);
    expect(spool.stats().bytes).toBe(14);
  });

  it('rejects a line containing a newline, and writes nothing of that call', async () => {
    const spool = await openSpool();
    await expect(spool.append(['ok', 'two\nlines'])).rejects.toBeInstanceOf(SpoolError);
    expect(spool.openLines).toBe(0);
    expect(await readdir(dir)).toEqual([]);
  });

  it('skips empty lines and a torn last line', async () => {
    const file = path.join(dir, segName(1, process.pid, 'log'));
    await writeFile(file, 'a\nb\n\nc\n{"torn":');
    const spool = await openSpool();
    expect(await spool.closedSegments()).toEqual([file]);
    expect(await readAll(spool, file)).toEqual(['a', 'b', 'c']);
  });

  it('claims .open segments of dead processes and of its own pid, not of live other processes', async () => {
    const dead = await deadPid();
    const fromDead = path.join(dir, segName(1, dead, 'open'));
    const fromSelf = path.join(dir, segName(2, process.pid, 'open'));
    const fromLive = path.join(dir, segName(3, process.ppid, 'open'));
    const deadText = 'd1\nd2\n{"half';
    await writeFile(fromDead, deadText);
    await writeFile(fromSelf, 's1\n');
    await writeFile(fromLive, 'l1\n');

    const spool = await openSpool();
    const files = await spool.closedSegments();
    expect(files).toEqual([fromDead.replace(/open$/, 'log'), fromSelf.replace(/open$/, 'log')]);
    expect(existsSync(fromLive)).toBe(true);
    expect(await readAll(spool, files[0]!)).toEqual(['d1', 'd2']);
    expect(await readAll(spool, files[1]!)).toEqual(['s1']);
    expect(spool.hasBacklog()).toBe(true);
    expect(spool.stats()).toEqual({ segments: 2, bytes: deadText.length + 3, openLines: 0 });
  });

  it('claims later what a process that died after open() left, never a segment with its own pid', async () => {
    const spool = await openSpool();
    await spool.append(['mine']);
    expect(await spool.claimOrphans()).toBe(0);
    const dead = await deadPid();
    const fromDead = path.join(dir, segName(5, dead, 'open'));
    const fromSelf = path.join(dir, segName(6, process.pid, 'open'));
    await writeFile(fromDead, 'd1\n');
    await writeFile(fromSelf, 's1\n');
    expect(spool.hasBacklog()).toBe(true); // its own open segment
    expect(await spool.claimOrphans()).toBe(1);
    expect(await spool.claimOrphans()).toBe(0);
    expect(existsSync(fromSelf)).toBe(true);
    const closed = await spool.closedSegments();
    expect(closed).toEqual([fromDead.replace(/open$/, 'log')]);
    expect(await readAll(spool, closed[0]!)).toEqual(['d1']);
    expect(spool.stats()).toEqual({ segments: 2, bytes: 3 + 'mine\n'.length, openLines: 1 });
  });

  it('a second spool in the same process leaves the first one’s live segment alone', async () => {
    const first = await openSpool();
    await first.append(['x']);
    const second = await openSpool();
    expect(await second.closedSegments()).toEqual([]);
    await first.append(['y']);
    await first.close();
    const [file] = await second.closedSegments();
    expect(await readAll(second, file!)).toEqual(['x', 'y']);
  });

  it('readSegment yields chunks of at most maxLines, across read-buffer boundaries', async () => {
    // Over 4 MB, multi-byte characters everywhere and one line longer than the 1 MiB read buffer.
    const lines = Array.from({ length: 20_000 }, (_, i) => `{"i":${i},"s":"${'ä€😀'.repeat(20 + (i % 7))}"}`);
    lines[7_000] = `{"long":"${'€'.repeat(1_200_000)}"}`;
    const file = path.join(dir, segName(1, process.pid, 'log'));
    await writeFile(file, `${lines.join('\n')}\n`);
    const spool = await openSpool();

    const sizes: number[] = [];
    const read: string[] = [];
    for await (const chunk of spool.readSegment(file, 3_000)) {
      sizes.push(chunk.length);
      read.push(...chunk);
    }
    expect(sizes).toEqual([3_000, 3_000, 3_000, 3_000, 3_000, 3_000, 2_000]);
    expect(read.length).toBe(lines.length);
    expect(read).toEqual(lines);

    const single: number[] = [];
    for await (const chunk of spool.readSegment(file, 1)) {
      single.push(chunk.length);
      if (single.length === 5) break; // stopping early must not hang or leak
    }
    expect(single).toEqual([1, 1, 1, 1, 1]);
  });

  it('close() makes the open segment replayable by the next spool on the dir; appends after close reject', async () => {
    const spool = await openSpool();
    await spool.append(['a', 'b']);
    const lastAppend = spool.append(['c']);
    await spool.close();
    await lastAppend;
    await spool.close(); // idempotent
    await expect(spool.append(['late'])).rejects.toBeInstanceOf(SpoolError);
    expect((await readdir(dir)).filter((n) => n.endsWith('.open'))).toEqual([]);

    const next = await openSpool();
    expect(next.hasBacklog()).toBe(true);
    const files = await next.closedSegments();
    expect(files).toHaveLength(1);
    expect(await readAll(next, files[0]!)).toEqual(['a', 'b', 'c']);
  });

  it('every acknowledged line survives SIGKILL and is found by the next spool', async () => {
    // The child runs the real module, transpiled from this source (Node 20 cannot run TypeScript),
    // so this test never runs against a stale build.
    const source = await readFile(fileURLToPath(new URL('./feedback-spool.ts', import.meta.url)), 'utf8');
    const js = ts.transpileModule(source, {
      compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
    }).outputText;
    const work = await mkdtemp(path.join(tmpdir(), 'offerloop-spool-child-'));
    try {
      await writeFile(path.join(work, 'feedback-spool.mjs'), js);
      await writeFile(
        path.join(work, 'child.mjs'),
        `import { FeedbackSpool } from './feedback-spool.mjs';
const noop = () => {};
const log = { info: noop, warn: noop, error: noop, debug: noop, trace: noop, fatal: noop };
const spool = await FeedbackSpool.open(process.argv[2], log);
let next = 0;
let acked = 0;
// Keep 64 appends of 1-3 lines in flight; print the ids of each acknowledged one; rotate now and then.
function pump() {
  const lines = [];
  for (let k = next % 3; k >= 0; k--) lines.push(JSON.stringify({ id: next++, pad: 'x'.repeat(next % 50) }));
  spool.append(lines).then(() => {
    process.stdout.write(lines.map((l) => JSON.parse(l).id).join('\\n') + '\\n');
    if (++acked % 400 === 0) void spool.rotate();
    pump();
  });
}
for (let i = 0; i < 64; i++) pump();
`,
      );
      const child = spawn(process.execPath, [path.join(work, 'child.mjs'), dir], {
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      const exited = new Promise((resolve) => child.once('exit', resolve));
      const acked = new Set<number>();
      let partial = '';
      await new Promise<void>((resolve, reject) => {
        child.once('exit', (code) => reject(new Error(`child exited early with ${code}`)));
        child.stdout.on('data', (data: Buffer) => {
          const text = partial + data.toString('utf8');
          const cut = text.lastIndexOf('\n');
          partial = text.slice(cut + 1);
          for (const id of text.slice(0, cut).split('\n')) if (id) acked.add(Number(id));
          if (acked.size >= 5_000 && !child.killed) {
            child.kill('SIGKILL');
            resolve();
          }
        });
      });
      await exited;

      const spool = await openSpool();
      const found = new Set<number>();
      const files = await spool.closedSegments();
      expect(files.length).toBeGreaterThan(1);
      for (const file of files) {
        for (const line of await readAll(spool, file)) found.add((JSON.parse(line) as { id: number }).id);
      }
      const missing = [...acked].filter((id) => !found.has(id));
      expect(missing).toEqual([]);
      expect((await readdir(dir)).filter((n) => n.endsWith('.open'))).toEqual([]);
    } finally {
      await rm(work, { recursive: true, force: true });
    }
  });
});
