import { type FSWatcher, watch } from 'node:fs';
import type { Logger } from 'pino';
import { formatProblem, NotFoundError, RulesetError, type RulesProblem } from '../errors.js';
import { buildRuleset, type RulesSource, readRulesDir } from './load.js';
import {
  type AnnouncedCause,
  filesChanged,
  NO_FILES_CHANGED,
  type RulesetCause,
  type RulesetChange,
  type RulesetVersionStore,
} from './ruleset-history.js';
import type { RulesetSnapshot } from './snapshot.js';

export type ReloadResult =
  | { readonly ok: true; readonly version: string; readonly changed: boolean }
  | { readonly ok: false; readonly version: string; readonly problems: readonly RulesProblem[] };

/** Changes kept in the history, newest. */
export const HISTORY_KEPT = 200;

/**
 * Holds the ruleset in force. A reload compiles a complete new snapshot aside and swaps it in one
 * assignment; a reload that fails leaves the last good snapshot serving and reports why. Every
 * attempt is recorded (history()); with a version store attached, every version that loads is
 * kept, so that a rollback can go back to one on every server.
 */
export class RulesetHolder {
  private snapshot: RulesetSnapshot;
  private watcher: FSWatcher | null = null;
  private debounce: NodeJS.Timeout | null = null;
  private reloading: Promise<ReloadResult> | null = null;
  private readonly listeners: ((snapshot: RulesetSnapshot) => void)[] = [];
  private readonly changes: RulesetChange[] = [];
  private versions: RulesetVersionStore | null = null;

  private constructor(
    private readonly dir: string,
    initial: RulesetSnapshot,
    /** The files of the snapshot in force. */
    private sources: readonly RulesSource[],
    private readonly log: Logger,
    private readonly clock: () => number,
  ) {
    this.snapshot = initial;
    this.record(
      { version: initial.version, previous: null, outcome: 'loaded', cause: 'start', by: null },
      NO_FILES_CHANGED,
    );
  }

  /** Loads the first ruleset; a broken one here is fatal, since there is nothing good to keep. */
  static async open(dir: string, log: Logger, clock: () => number = Date.now): Promise<RulesetHolder> {
    const sources = await readRulesDir(dir);
    const snapshot = buildRuleset(sources, clock());
    log.info({ version: snapshot.version, offers: snapshot.offers.length, dir }, 'ruleset loaded');
    return new RulesetHolder(dir, snapshot, sources, log, clock);
  }

  get current(): RulesetSnapshot {
    return this.snapshot;
  }

  onChange(listener: (snapshot: RulesetSnapshot) => void): void {
    this.listeners.push(listener);
  }

  /** The attempts to change the ruleset, newest first. */
  history(): readonly RulesetChange[] {
    return [...this.changes].reverse();
  }

  /**
   * Keeps every version that loads in `versions` (the one in force now too), and serves what any
   * server's rollback announces there.
   */
  async attach(versions: RulesetVersionStore): Promise<void> {
    this.versions = versions;
    this.keep(this.snapshot.version, this.sources);
    await versions.onAnnounce((version, by, cause) => {
      if (version === this.snapshot.version) return;
      this.rollback(version, by, false, cause).catch((err: unknown) =>
        this.log.warn({ err, version }, 'a rollback announced by another server failed here'),
      );
    });
  }

  /** Re-reads the rules directory. Concurrent calls share one reload. */
  reload(cause: 'file change' | 'reload' = 'reload', by: string | null = null): Promise<ReloadResult> {
    this.reloading ??= this.doReload(cause, by).finally(() => {
      this.reloading = null;
    });
    return this.reloading;
  }

  /**
   * Serves an earlier version that loaded (its files from the version store), on this server and,
   * when `announce`, on every server. It lasts until the next reload or file change, which serve
   * the rules directory again. NotFoundError for a version never kept.
   */
  async rollback(
    version: string,
    by: string,
    announce = true,
    cause: AnnouncedCause = 'rollback',
  ): Promise<ReloadResult> {
    const files = this.versions === null ? null : await this.versions.files(version);
    if (files === null) throw new NotFoundError(`no ruleset version '${version}' is kept to go back to`);
    const changed = version !== this.snapshot.version;
    if (changed) this.swap(buildRuleset(files, this.clock()), files, cause, by);
    if (announce) await this.versions!.announce(version, by, cause);
    return { ok: true, version, changed };
  }

  /**
   * Serves `files` (a challenger's, promoted) on this server and every server, recorded with the
   * cause `promote`. They are compiled first: files that do not compile throw RulesetError (422)
   * and change nothing. Like a rollback, it lasts until the next reload or file change.
   */
  async promote(
    files: readonly RulesSource[],
    by: string,
  ): Promise<{ readonly ok: true; readonly version: string; readonly changed: boolean }> {
    const next = buildRuleset(files, this.clock());
    // Kept before it is announced: the other servers read the files from the version store.
    await this.versions?.keep(next.version, files);
    const changed = next.version !== this.snapshot.version;
    if (changed) this.swap(next, files, 'promote', by);
    await this.versions?.announce(next.version, by, 'promote');
    return { ok: true, version: next.version, changed };
  }

  private async doReload(cause: 'file change' | 'reload', by: string | null): Promise<ReloadResult> {
    let sources: RulesSource[] | null = null;
    try {
      sources = await readRulesDir(this.dir);
      const next = buildRuleset(sources, this.clock());
      if (next.version === this.snapshot.version) {
        this.record(
          { version: next.version, previous: next.version, outcome: 'unchanged', cause, by },
          NO_FILES_CHANGED,
        );
        return { ok: true, version: next.version, changed: false };
      }
      this.swap(next, sources, cause, by);
      return { ok: true, version: next.version, changed: true };
    } catch (err) {
      if (!(err instanceof RulesetError)) throw err;
      // WARN, not ERROR: the server keeps serving the last good ruleset; the analyst must act.
      this.log.warn(
        { version: this.snapshot.version, problems: err.problems.slice(0, 20) },
        `ruleset rejected, still serving ${this.snapshot.version}: ${formatProblem(err.problems[0])}`,
      );
      this.record(
        { version: null, previous: this.snapshot.version, outcome: 'rejected', cause, by },
        sources === null ? NO_FILES_CHANGED : filesChanged(this.sources, sources),
        err.problems.slice(0, 5).map(formatProblem),
      );
      return { ok: false, version: this.snapshot.version, problems: err.problems };
    }
  }

  private swap(
    next: RulesetSnapshot,
    sources: readonly RulesSource[],
    cause: RulesetCause,
    by: string | null,
  ): void {
    const previous = this.snapshot.version;
    const changed = filesChanged(this.sources, sources);
    this.snapshot = next;
    this.sources = sources;
    this.log.info({ version: next.version, previous, offers: next.offers.length, cause }, 'ruleset reloaded');
    this.record({ version: next.version, previous, outcome: 'loaded', cause, by }, changed);
    this.keep(next.version, sources);
    for (const listener of this.listeners) listener(next);
  }

  /** Off the request path: a version not kept only cannot be rolled back to. */
  private keep(version: string, sources: readonly RulesSource[]): void {
    this.versions
      ?.keep(version, sources)
      .catch((err: unknown) => this.log.warn({ err, version }, 'ruleset version not kept for rollbacks'));
  }

  private record(
    change: Omit<RulesetChange, 'at' | 'changed' | 'problems'>,
    changed: RulesetChange['changed'],
    problems: readonly string[] = [],
  ): void {
    this.changes.push({ ...change, at: this.clock(), changed, problems });
    if (this.changes.length > HISTORY_KEPT) this.changes.shift();
  }

  /** Reloads when a file in the rules directory changes (debounced: editors write in bursts). */
  watch(debounceMs = 200): void {
    if (this.watcher) return;
    this.watcher = watch(this.dir, { persistent: false }, () => {
      if (this.debounce) clearTimeout(this.debounce);
      this.debounce = setTimeout(() => {
        this.debounce = null;
        this.reload('file change').catch((err: unknown) => this.log.error({ err }, 'ruleset reload failed'));
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
