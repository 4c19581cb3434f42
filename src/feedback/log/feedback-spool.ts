import { createReadStream } from 'node:fs';
import { type FileHandle, mkdir, open, readdir, rename, stat, unlink } from 'node:fs/promises';
import path from 'node:path';
import type { Logger } from 'pino';

export interface SpoolStats {
  readonly segments: number;
  readonly bytes: number;
  readonly openLines: number;
}

/** An append after close(), or a line the spool cannot frame. */
export class SpoolError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'SpoolError';
  }
}

const SEGMENT_NAME = /^seg-(\d{13})-(\d+)-(\d{4})\.(open|log)$/;
const NEWLINE = 0x0a;
const READ_CHUNK = 1 << 20;

// Process-wide: two spools on one dir in one process (tests, a restart in place) must neither claim
// nor name-clash with each other's live segment, although both carry our pid.
const liveSegments = new Set<string>();
let nextSeq = 0;

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: unknown) => void;
}

function deferred(): Deferred {
  let resolve!: () => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Appends that share one write and one fdatasync; all callers of the group share one promise. */
interface WriteOp {
  readonly kind: 'write';
  readonly parts: string[];
  lines: number;
  readonly done: Deferred;
}
interface RotateOp {
  readonly kind: 'rotate';
  readonly done: Deferred;
}
type Op = WriteOp | RotateOp;

interface OpenSegment {
  readonly path: string;
  readonly handle: FileHandle;
  bytes: number;
  lines: number;
}

function isAlive(pid: number): boolean {
  // kill(0 or less) would signal a process group, not a process; we never write such a name.
  if (pid < 1) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: alive, but someone else's.
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

function errorCode(err: unknown): string | undefined {
  return (err as NodeJS.ErrnoException | null)?.code;
}

/**
 * A local append-only spool of opaque lines for while Redis is unreachable. Lines go to one open
 * segment (`seg-<ms>-<pid>-<seq>.open`); rotate()/close() rename it to `.log`, which makes it
 * replayable: closedSegments() → readSegment() → removeSegment().
 */
export class FeedbackSpool {
  /** Pending work in order; the last write op is the one new appends join (the in-flight op is not in here). */
  private readonly queue: Op[] = [];
  private draining = false;
  private segment: OpenSegment | null = null;
  /** Closed segments known to this spool, with their sizes, so that stats() needs no fs calls. */
  private readonly closed = new Map<string, number>();
  private closedBytes = 0;
  private closing: Promise<void> | null = null;
  /** Erasure rewrites, one after the other. */
  private rewrites: Promise<unknown> = Promise.resolve();

  private constructor(
    private readonly dir: string,
    private readonly log: Logger,
  ) {}

  /** mkdir -p dir; claims orphaned open segments so they become replayable. */
  static async open(dir: string, log: Logger): Promise<FeedbackSpool> {
    const abs = path.resolve(dir);
    await mkdir(abs, { recursive: true });
    const spool = new FeedbackSpool(abs, log);
    await spool.claimOrphans(true);
    return spool;
  }

  /**
   * Resolves once the lines are written and fdatasync'ed. Appends arriving while a group is being
   * written form the next group (one write, one fdatasync), sharing one promise. On rejection the
   * caller must treat the lines as not written; the spool cuts them back off the file (should that
   * fail too, they may still be replayed: at-least-once). Guarded by feedback-spool.int.test.ts
   * "group commit" and "a failed sync rejects its group".
   */
  append(lines: readonly string[]): Promise<void> {
    if (this.closing) return Promise.reject(new SpoolError('feedback spool is closed'));
    if (lines.length === 0) return Promise.resolve();
    for (const line of lines) {
      // A newline inside a line would split it in two on replay.
      if (line.includes('\n'))
        return Promise.reject(new SpoolError('a spool line must not contain a newline'));
    }
    const last = this.queue.at(-1);
    let op: WriteOp;
    if (last?.kind === 'write') {
      op = last;
    } else {
      op = { kind: 'write', parts: [], lines: 0, done: deferred() };
      this.queue.push(op);
      this.kick();
    }
    op.parts.push(lines.join('\n'));
    op.lines += lines.length;
    return op.done.promise;
  }

  /** Lines durably appended to the open segment since it was opened (0 when there is none). */
  get openLines(): number {
    return this.segment?.lines ?? 0;
  }

  /** True when there is anything to replay: a closed segment, or a non-empty open segment. */
  hasBacklog(): boolean {
    return this.closed.size > 0 || this.openLines > 0;
  }

  /**
   * Closes the open segment so it becomes replayable, after every append made before this call;
   * appends made after it go to the next segment. A no-op when there is no non-empty open segment.
   */
  rotate(): Promise<void> {
    if (this.closing) return this.closing;
    return this.enqueueRotate();
  }

  /** Closed segments, oldest first (the name starts with the creation time). Absolute paths. */
  async closedSegments(): Promise<string[]> {
    const names = (await readdir(this.dir)).filter((n) => SEGMENT_NAME.exec(n)?.[4] === 'log').sort();
    const files = names.map((n) => path.join(this.dir, n));
    // Another server sharing the dir may have closed or replayed segments: keep stats() honest.
    const present = new Set(files);
    for (const [file, bytes] of this.closed) {
      if (!present.has(file)) this.forgetClosed(file, bytes);
    }
    for (const file of files) {
      if (this.closed.has(file)) continue;
      try {
        this.addClosed(file, (await stat(file)).size);
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
    }
    return files.filter((f) => this.closed.has(f));
  }

  /**
   * The complete, non-empty lines of a segment in chunks of at most `maxLines`, in order, streamed.
   * Bytes after the last '\n' are a torn write that was never acknowledged: skipped.
   */
  async *readSegment(file: string, maxLines: number): AsyncIterable<string[]> {
    if (!Number.isInteger(maxLines) || maxLines < 1)
      throw new RangeError(`maxLines must be >= 1, got ${maxLines}`);
    let batch: string[] = [];
    // Bytes of a line that spans chunks; concatenated once its '\n' arrives (no quadratic copying).
    let carry: Buffer[] = [];
    // '\n' never occurs inside a multi-byte UTF-8 sequence, so splitting bytes on it is safe.
    const chunks: AsyncIterable<Buffer> = createReadStream(file, { highWaterMark: READ_CHUNK });
    for await (const chunk of chunks) {
      let start = 0;
      let nl = chunk.indexOf(NEWLINE, start);
      while (nl !== -1) {
        let line: string;
        if (carry.length > 0) {
          carry.push(chunk.subarray(start, nl));
          line = Buffer.concat(carry).toString('utf8');
          carry = [];
        } else {
          line = chunk.toString('utf8', start, nl);
        }
        if (line.length > 0) {
          batch.push(line);
          if (batch.length === maxLines) {
            yield batch;
            batch = [];
          }
        }
        start = nl + 1;
        nl = chunk.indexOf(NEWLINE, start);
      }
      if (start < chunk.length) carry.push(chunk.subarray(start));
    }
    if (batch.length > 0) yield batch;
    if (carry.length > 0) {
      const torn = carry.reduce((n, b) => n + b.length, 0);
      this.log.info(
        { file, bytes: torn },
        'spool segment ends in a torn line (an unacknowledged write): skipped',
      );
    }
  }

  /** Deletes a replayed segment and makes the deletion durable. */
  async removeSegment(file: string): Promise<void> {
    const abs = path.resolve(file);
    if (liveSegments.has(abs)) throw new SpoolError(`cannot remove an open spool segment: ${abs}`);
    try {
      await unlink(abs);
    } catch (err) {
      // Already gone (another server sharing the dir replayed it): the goal is reached.
      if (errorCode(err) !== 'ENOENT') throw err;
    }
    const bytes = this.closed.get(abs);
    if (bytes !== undefined) this.forgetClosed(abs, bytes);
    await this.syncDir();
  }

  /**
   * Rewrites the lines `rewrite` changes in every segment (erasure: a person's lines pseudonymised).
   * The open segment is closed first; each segment to change is written aside (`.erasing`, a name
   * replay ignores), synced, and renamed over the original, so that a crash leaves the old segment
   * or the new one, never half of one. A segment replayed (and removed) meanwhile is left gone; one
   * being replayed now may be replayed from its old content, which the log pseudonymises again as
   * it reads it (RedisFeedbackLogOptions.erasure). Answers how many lines changed.
   */
  rewrite(rewrite: (line: string) => string): Promise<number> {
    // One at a time: an erasure sweeps twice and is heard back from Redis, and a second rewrite
    // would remove the first one's segments aside before it renames them.
    const done = this.rewrites.then(() => this.rewriteNow(rewrite));
    this.rewrites = done.catch(() => 0);
    return done;
  }

  private async rewriteNow(rewrite: (line: string) => string): Promise<number> {
    await this.rotate();
    for (const name of await readdir(this.dir)) {
      if (name.endsWith('.erasing')) await unlink(path.join(this.dir, name)).catch(() => {});
    }
    let changed = 0;
    for (const file of await this.closedSegments()) {
      const lines: string[] = [];
      let changedHere = 0;
      try {
        for await (const chunk of this.readSegment(file, 10_000)) {
          for (const line of chunk) {
            const next = rewrite(line);
            if (next !== line) changedHere++;
            lines.push(next);
          }
        }
      } catch (err) {
        if (errorCode(err) === 'ENOENT') continue;
        throw err;
      }
      if (changedHere === 0) continue;
      const aside = `${file}.erasing`;
      const handle = await open(aside, 'w', 0o600);
      try {
        await handle.writeFile(`${lines.join('\n')}\n`, 'utf8');
        await handle.datasync();
      } finally {
        await handle.close();
      }
      try {
        await stat(file);
      } catch {
        await unlink(aside);
        continue;
      }
      await rename(aside, file);
      const bytes = this.closed.get(file);
      if (bytes !== undefined) this.forgetClosed(file, bytes);
      this.addClosed(file, (await stat(file)).size);
      changed += changedHere;
    }
    await this.syncDir();
    return changed;
  }

  /** Every line of every segment, open ones included, that `wanted` picks (an export). */
  async lines(wanted: (line: string) => boolean): Promise<string[]> {
    const out: string[] = [];
    for (const name of (await readdir(this.dir)).sort()) {
      if (!SEGMENT_NAME.test(name)) continue;
      try {
        for await (const chunk of this.readSegment(path.join(this.dir, name), 10_000)) {
          for (const line of chunk) if (wanted(line)) out.push(line);
        }
      } catch (err) {
        if (errorCode(err) !== 'ENOENT') throw err;
      }
    }
    return out;
  }

  stats(): SpoolStats {
    const open = this.segment;
    return {
      segments: this.closed.size + (open && open.lines > 0 ? 1 : 0),
      bytes: this.closedBytes + (open?.bytes ?? 0),
      openLines: open?.lines ?? 0,
    };
  }

  /** Writes what was appended before, then closes the open segment so the next start replays it. Idempotent. */
  close(): Promise<void> {
    if (!this.closing) this.closing = this.enqueueRotate();
    return this.closing;
  }

  private enqueueRotate(): Promise<void> {
    const last = this.queue.at(-1);
    if (last?.kind === 'rotate') return last.done.promise;
    const op: RotateOp = { kind: 'rotate', done: deferred() };
    this.queue.push(op);
    this.kick();
    return op.done.promise;
  }

  private kick(): void {
    if (this.draining) return;
    this.draining = true;
    // A microtask later, so that appends made in the same tick share the first group.
    queueMicrotask(() => void this.drain());
  }

  /** The only code that touches the open segment: ops run one at a time, in order. */
  private async drain(): Promise<void> {
    for (let op = this.queue.shift(); op; op = this.queue.shift()) {
      try {
        if (op.kind === 'write') await this.write(op);
        else await this.closeSegment();
        op.done.resolve();
      } catch (err) {
        op.done.reject(err);
      }
    }
    this.draining = false;
  }

  private async write(op: WriteOp): Promise<void> {
    const seg = this.segment ?? (await this.createSegment());
    const buf = Buffer.from(`${op.parts.join('\n')}\n`, 'utf8');
    try {
      // One write in practice; a short write (disk nearly full) continues where it stopped.
      for (let off = 0; off < buf.length; ) {
        off += (await seg.handle.write(buf, off, buf.length - off)).bytesWritten;
      }
      await seg.handle.datasync();
    } catch (err) {
      this.log.warn({ err, file: seg.path, lines: op.lines }, 'spool write failed: segment abandoned');
      await this.abandonSegment(seg);
      throw err;
    }
    seg.bytes += buf.length;
    seg.lines += op.lines;
  }

  private async createSegment(): Promise<OpenSegment> {
    for (;;) {
      const seq = String(nextSeq).padStart(4, '0');
      nextSeq = (nextSeq + 1) % 10_000;
      const name = `seg-${String(Date.now()).padStart(13, '0')}-${process.pid}-${seq}.open`;
      const file = path.join(this.dir, name);
      let handle: FileHandle;
      try {
        // 'ax': append mode, and never reuse an existing name (a previous incarnation with our pid).
        handle = await open(file, 'ax');
      } catch (err) {
        if (errorCode(err) === 'EEXIST') continue;
        throw err;
      }
      liveSegments.add(file);
      const seg: OpenSegment = { path: file, handle, bytes: 0, lines: 0 };
      this.segment = seg;
      try {
        await this.syncDir();
      } catch (err) {
        await this.abandonSegment(seg);
        throw err;
      }
      return seg;
    }
  }

  /**
   * After a failed write or sync, the segment's tail is unknown: cut it back to the acknowledged
   * bytes where possible, then close it so the next append starts a fresh file. Best effort: a
   * tail that survives is a torn line (skipped on read) or whole lines of a rejected group
   * (replayed: at-least-once).
   */
  private async abandonSegment(seg: OpenSegment): Promise<void> {
    try {
      await seg.handle.truncate(seg.bytes);
      await seg.handle.datasync();
    } catch (err) {
      this.log.warn({ err, file: seg.path }, 'spool segment could not be cut back to its acknowledged bytes');
    }
    try {
      await this.closeSegment();
    } catch (err) {
      this.log.error(
        { err, file: seg.path },
        'spool segment could not be closed: it will be claimed on restart',
      );
    }
  }

  /** Renames the open segment to `.log` (or deletes it when it holds no acknowledged line). */
  private async closeSegment(): Promise<void> {
    const seg = this.segment;
    if (!seg) return;
    this.segment = null;
    liveSegments.delete(seg.path);
    try {
      await seg.handle.close();
    } catch (err) {
      this.log.warn({ err, file: seg.path }, 'spool segment close failed');
    }
    if (seg.lines === 0) {
      await unlink(seg.path);
    } else {
      const closedPath = seg.path.replace(/\.open$/, '.log');
      await rename(seg.path, closedPath);
      this.addClosed(closedPath, seg.bytes);
    }
    await this.syncDir();
  }

  /**
   * Makes the segments of dead processes replayable: their open segments are renamed to `.log`,
   * and closed segments not known yet are counted in. Run at open(), and now and then by the log
   * (a worker whose primary was killed may outlive it by a moment, so a server started meanwhile
   * finds its segment still in use). Answers how many segments were added to the backlog. Only
   * at open() may a segment with our own pid be claimed (one of a previous process that had it):
   * later, it may be one this spool is just creating.
   */
  async claimOrphans(atOpen = false): Promise<number> {
    let claimed = 0;
    let added = 0;
    for (const name of (await readdir(this.dir)).sort()) {
      const m = SEGMENT_NAME.exec(name);
      if (!m) continue;
      const file = path.join(this.dir, name);
      if (m[4] === 'open') {
        const pid = Number(m[2]);
        // Our own pid: a previous incarnation (pid 1 in a container), unless a spool of this process has it open.
        const orphan = pid === process.pid ? atOpen && !liveSegments.has(file) : !isAlive(pid);
        if (!orphan) continue;
        const closedPath = file.replace(/\.open$/, '.log');
        try {
          await rename(file, closedPath);
          this.addClosed(closedPath, (await stat(closedPath)).size);
        } catch (err) {
          // Another server starting on the same dir claimed (or replayed) it first.
          if (errorCode(err) !== 'ENOENT') throw err;
          continue;
        }
        this.log.info({ file: closedPath, pid }, 'claimed an orphaned spool segment for replay');
        claimed++;
        added++;
      } else if (!this.closed.has(file)) {
        try {
          this.addClosed(file, (await stat(file)).size);
          added++;
        } catch (err) {
          if (errorCode(err) !== 'ENOENT') throw err;
        }
      }
    }
    if (claimed > 0) await this.syncDir();
    return added;
  }

  private addClosed(file: string, bytes: number): void {
    // claimOrphans() and a rotation may both find a segment just closed.
    if (this.closed.has(file)) return;
    this.closed.set(file, bytes);
    this.closedBytes += bytes;
  }

  private forgetClosed(file: string, bytes: number): void {
    this.closed.delete(file);
    this.closedBytes -= bytes;
  }

  /** Makes creations, renames and deletions in the dir survive a machine crash. */
  private async syncDir(): Promise<void> {
    const handle = await open(this.dir, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }
}
