/** Where progress goes: process.stderr, or a fake in tests. */
export interface ProgressStream {
  write(s: string): unknown;
  isTTY?: boolean;
}

export interface ProgressOptions {
  /** Bytes or items to do; unknown when absent (no bar, no percent, no ETA). */
  total?: number;
  /** 'bytes' shows amounts as KiB/MiB/GiB. */
  unit?: 'items' | 'bytes';
  /** Milliseconds; injectable for tests. */
  now?: () => number;
}

const REDRAW_MS = 100;
const LOG_EVERY_MS = 5_000;
const BAR_WIDTH = 24;
/** Erases the rest of the line, so a shorter redraw leaves no tail of the previous one. */
const CLEAR_TO_END = '\x1b[K';

function formatDuration(seconds: number): string {
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor(s / 60) % 60).padStart(2, '0')}m`;
}

/** A count for people: 1,234,567. */
export function formatCount(n: number): string {
  return Math.round(n).toLocaleString('en-US');
}

function formatAmount(n: number, unit: 'items' | 'bytes'): string {
  if (unit === 'items') return formatCount(n);
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let i = 0;
  while (n >= 1024 && i < units.length - 1) {
    n /= 1024;
    i++;
  }
  return i === 0 ? `${Math.round(n)} B` : `${n.toFixed(1)} ${units[i]}`;
}

/**
 * A progress meter for long CLI jobs. update() may be called for every item: it returns at once
 * unless 100 ms passed since the last redraw. On a terminal it redraws one line in place; in a log
 * (CI, a file) it writes a line every 10 % (every 5 s when the total is unknown), so logs stay short.
 */
export class Progress {
  private readonly total: number | undefined;
  private readonly unit: 'items' | 'bytes';
  private readonly now: () => number;
  private readonly started: number;
  private lastDraw = Number.NEGATIVE_INFINITY;
  private lastLog: number;
  private loggedTenths = 0;
  private finished = false;

  constructor(
    private readonly stream: ProgressStream,
    private readonly label: string,
    options: ProgressOptions = {},
  ) {
    this.total = options.total !== undefined && options.total > 0 ? options.total : undefined;
    this.unit = options.unit ?? 'items';
    this.now = options.now ?? Date.now;
    this.started = this.now();
    this.lastLog = this.started;
  }

  update(done: number, extra?: string): void {
    if (this.finished) return;
    const now = this.now();
    if (now - this.lastDraw < REDRAW_MS) return;
    this.lastDraw = now;
    if (this.stream.isTTY) {
      this.stream.write(`\r${this.line(done, now, extra, true)}${CLEAR_TO_END}`);
      return;
    }
    if (this.total !== undefined) {
      const tenths = Math.floor(Math.min(done / this.total, 1) * 10);
      if (tenths <= this.loggedTenths) return;
      this.loggedTenths = tenths;
    } else {
      if (now - this.lastLog < LOG_EVERY_MS) return;
      this.lastLog = now;
    }
    this.stream.write(`${this.line(done, now, extra, false)}\n`);
  }

  /** Ends the meter with a final line; later update() calls are ignored. */
  finish(summary: string): void {
    if (this.finished) return;
    this.finished = true;
    const line = `${this.label}: ${summary}`;
    this.stream.write(this.stream.isTTY ? `\r${line}${CLEAR_TO_END}\n` : `${line}\n`);
  }

  private line(done: number, now: number, extra: string | undefined, bar: boolean): string {
    const parts = [`${this.label}:`];
    const seconds = (now - this.started) / 1000;
    const rate = seconds > 0 ? done / seconds : undefined;
    if (this.total !== undefined) {
      const fraction = Math.min(Math.max(done / this.total, 0), 1);
      if (bar) {
        const filled = Math.round(fraction * BAR_WIDTH);
        parts.push(`[${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}]`);
      }
      parts.push(
        `${Math.floor(fraction * 100)}%`,
        `${formatAmount(done, this.unit)}/${formatAmount(this.total, this.unit)}`,
      );
    } else {
      parts.push(formatAmount(done, this.unit));
    }
    if (rate !== undefined) parts.push(`${formatAmount(rate, this.unit)}/s`);
    if (this.total !== undefined && rate !== undefined && rate > 0) {
      parts.push(`ETA ${formatDuration(Math.max(this.total - done, 0) / rate)}`);
    }
    if (extra) parts.push(extra);
    return parts.join(' ');
  }
}
