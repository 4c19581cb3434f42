import type { RulesSource } from './load.js';

/** Why a ruleset was loaded (or refused). */
export type RulesetCause = 'start' | 'file change' | 'reload' | 'rollback' | 'promote';

/** Why every server is told to serve a version: a rollback, or a challenger promoted (service/challenger-service.ts). */
export type AnnouncedCause = 'rollback' | 'promote';

/** One attempt to change the ruleset in force: what loaded or was refused, why, by whom, what changed. */
export interface RulesetChange {
  /** The version asked for: the one that loaded, or the one refused (null when the files did not compile). */
  readonly version: string | null;
  /** The version in force before. */
  readonly previous: string | null;
  readonly outcome: 'loaded' | 'rejected' | 'unchanged';
  readonly cause: RulesetCause;
  /** The API key's name for a reload or rollback by API; null for the start and file changes. */
  readonly by: string | null;
  /** This server's time. */
  readonly at: number;
  /** Files added, removed or changed against the version before (names). */
  readonly changed: FilesChanged;
  /** Why it was refused: the first problems, `file:line:column: reason`. */
  readonly problems: readonly string[];
}

export interface FilesChanged {
  readonly added: readonly string[];
  readonly removed: readonly string[];
  readonly modified: readonly string[];
}

export const NO_FILES_CHANGED: FilesChanged = Object.freeze({ added: [], removed: [], modified: [] });

/** Which files of `next` are new, gone or different from `before`. */
export function filesChanged(before: readonly RulesSource[], next: readonly RulesSource[]): FilesChanged {
  const old = new Map(before.map((f) => [f.name, f.text]));
  const now = new Map(next.map((f) => [f.name, f.text]));
  return {
    added: next.filter((f) => !old.has(f.name)).map((f) => f.name),
    removed: before.filter((f) => !now.has(f.name)).map((f) => f.name),
    modified: next.filter((f) => old.has(f.name) && old.get(f.name) !== f.text).map((f) => f.name),
  };
}

/**
 * The files of every ruleset version that loaded, so that any server can go back to one, and the
 * way a rollback reaches every server: `announce` tells them all (itself included) which version
 * to serve.
 */
export interface RulesetVersionStore {
  keep(version: string, files: readonly RulesSource[]): Promise<void>;
  /** The files of a version kept, or null. */
  files(version: string): Promise<readonly RulesSource[] | null>;
  /** Tells every server to serve `version`; `by`: who asked (a key's name); `cause`: default rollback. */
  announce(version: string, by: string, cause?: AnnouncedCause): Promise<void>;
  /** Calls `listener` with each version announced by any server (this one's included). */
  onAnnounce(listener: (version: string, by: string, cause: AnnouncedCause) => void): Promise<void>;
}
