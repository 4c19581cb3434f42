import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from 'pino';
import { formatProblem, RulesetError, type RulesProblem } from '../errors.js';
import { loadRuleset } from './load.js';
import type { RulesetSnapshot } from './snapshot.js';

export type ReloadResult =
  | { readonly ok: true; readonly version: string; readonly changed: boolean }
  | { readonly ok: false; readonly version: string; readonly problems: readonly RulesProblem[] };

/**
 * Holds the ruleset in force. A reload compiles a complete new snapshot aside and swaps it in one
 * assignment; a reload that fails leaves the last good snapshot serving and reports why.
 */
export class RulesetHolder {
  private snapshot: RulesetSnapshot;
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private reloading: Promise<ReloadResult> | null = null;
  private readonly listeners: ((snapshot: RulesetSnapshot) => void)[] = [];

  private constructor(
    private readonly dir: string,
    initial: RulesetSnapshot,
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {
    this.snapshot = initial;
  }

  /** Loads the first ruleset; a broken one here is fatal, since there is nothing good to keep. */
  static async open(dir: string, log: Logger, clock: () => number = Date.now): Promise<RulesetHolder> {
    const snapshot = await loadRuleset(dir, clock());
    log.info({ version: snapshot.version, offers: snapshot.offers.length, dir }, 'ruleset loaded');
    return new RulesetHolder(dir, snapshot, log, clock);
  }

  get current(): RulesetSnapshot {
    return this.snapshot;
  }

  onChange(listener: (snapshot: RulesetSnapshot) => void): void {
    this.listeners.push(listener);
  }

  /** Re-reads the rules directory. Concurrent calls share one reload. */
  reload(): Promise<ReloadResult> {
    this.reloading ??= this.doReload().finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  private async doReload(): Promise<ReloadResult> {
    try {
      const next = await loadRuleset(this.dir, this.clock());
      if (next.version === this.snapshot.version) return { ok: true, version: next.version, changed: false };
      const previous = this.snapshot.version;
      this.snapshot = next;
      this.log.info({ version: next.version, previous, offers: next.offers.length }, 'ruleset reloaded');
      for (const listener of this.listeners) listener(next);
      return { ok: true, version: next.version, changed: true };
    } catch (err) {
      if (!(err instanceof RulesetError)) throw err;
      // WARN, not ERROR: the server keeps serving the last good ruleset; the analyst must act.
      this.log.warn(
        { version: this.snapshot.version, problems: err.problems.slice(0, 20) },
        `ruleset rejected, still serving ${this.snapshot.version}: ${formatProblem(err.problems[0])}`,
      );
      return { ok: false, version: this.snapshot.version, problems: err.problems };
    }
  }

  /** Reloads when a file in the rules directory changes (debounced: editors write in bursts). */
  watch(debounceMs = 200): void {
    if (this.watcher) return;
    this.watcher = watch(this.dir, { persistent: false }, () => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => {
        this.debounce = null;
        this.reload().catch((err: unknown) => this.log.error({ err }, 'ruleset reload failed'));
      }, debounceMs);
      this.debounce.unref();
    });
    this.watcher.on('error', (err) =>
      this.log.warn({ err }, 'rules directory watch failed; use the reload endpoint'),
    );
  }

  close(): void {
    this.watcher?.close();
    this.watcher = null;
    if (this.debounce) clearTimeout(this.debounce);
  }
}
