import type { RulesSource } from '../ruleset/load.js';

/** A candidate ruleset as uploaded: its files, when and by which key. */
export interface StoredCandidate {
  readonly name: string;
  readonly files: readonly RulesSource[];
  /** The compiled ruleset's version: a hash of the files, which tells a server its copy is stale. */
  readonly version: string;
  readonly uploadedAt: number;
  /** The API key's name that uploaded it (never the key itself). */
  readonly by: string;
}

/**
 * Candidate rulesets, shared by every server (a preview may reach any of them): their sources, not
 * their compiled snapshots, which each server builds for itself when first asked.
 */
export interface CandidateStore {
  put(candidate: StoredCandidate): Promise<void>;
  get(name: string): Promise<StoredCandidate | null>;
  list(): Promise<StoredCandidate[]>;
  /** False when there was no such candidate. */
  delete(name: string): Promise<boolean>;
}

/** The embedded store's candidates: one process, one Map. */
export class MemoryCandidateStore implements CandidateStore {
  private readonly candidates = new Map<string, StoredCandidate>();

  put(candidate: StoredCandidate): Promise<void> {
    this.candidates.set(candidate.name, candidate);
    return Promise.resolve();
  }

  get(name: string): Promise<StoredCandidate | null> {
    return Promise.resolve(this.candidates.get(name) ?? null);
  }

  list(): Promise<StoredCandidate[]> {
    return Promise.resolve([...this.candidates.values()]);
  }

  delete(name: string): Promise<boolean> {
    return Promise.resolve(this.candidates.delete(name));
  }
}
