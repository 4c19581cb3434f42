import type { RulesSource } from '../ruleset/load.js';
import type { AnnouncedCause, RulesetVersionStore } from '../ruleset/ruleset-history.js';

/** Versions kept by the embedded store: the newest ones, in this process. */
export const VERSIONS_KEPT = 50;

export class MemoryRulesetVersionStore implements RulesetVersionStore {
  private readonly versions = new Map<string, readonly RulesSource[]>();
  private readonly listeners: ((version: string, by: string, cause: AnnouncedCause) => void)[] = [];

  keep(version: string, files: readonly RulesSource[]): Promise<void> {
    this.versions.delete(version);
    this.versions.set(version, files);
    if (this.versions.size > VERSIONS_KEPT) this.versions.delete(this.versions.keys().next().value!);
    return Promise.resolve();
  }

  files(version: string): Promise<readonly RulesSource[] | null> {
    return Promise.resolve(this.versions.get(version) ?? null);
  }

  announce(version: string, by: string, cause: AnnouncedCause = 'rollback'): Promise<void> {
    for (const listener of this.listeners) listener(version, by, cause);
    return Promise.resolve();
  }

  onAnnounce(listener: (version: string, by: string, cause: AnnouncedCause) => void): Promise<void> {
    this.listeners.push(listener);
    return Promise.resolve();
  }
}
