import type { RulesSource } from '../ruleset/load.js';

/**
 * The champion/challenger test in progress: the candidate's files as they were when it started
 * (so that what is promoted is what was tested, whatever happens to the candidate meanwhile), the
 * share of customers it decides for, since when and by which key.
 */
export interface StoredChallenger {
  readonly candidate: string;
  /** The challenger ruleset's version (a hash of its files). */
  readonly version: string;
  readonly files: readonly RulesSource[];
  /** 0..1: the share of customers decided on the challenger (learning/challenger-share.ts). */
  readonly share: number;
  readonly since: number;
  /** The API key's name that started it. */
  readonly by: string;
}

/**
 * Where the test lives, shared by every server, and how a change reaches them all: `announce`
 * tells every server (this one included) to read the test again.
 */
export interface ChallengerStore {
  get(): Promise<StoredChallenger | null>;
  put(test: StoredChallenger): Promise<void>;
  /** False when no test was running. */
  clear(): Promise<boolean>;
  announce(): Promise<void>;
  onAnnounce(listener: () => void): Promise<void>;
}

/** The embedded store's test: one process, one field. */
export class MemoryChallengerStore implements ChallengerStore {
  private test: StoredChallenger | null = null;
  private readonly listeners: (() => void)[] = [];

  get(): Promise<StoredChallenger | null> {
    return Promise.resolve(this.test);
  }

  put(test: StoredChallenger): Promise<void> {
    this.test = test;
    return Promise.resolve();
  }

  clear(): Promise<boolean> {
    const had = this.test !== null;
    this.test = null;
    return Promise.resolve(had);
  }

  announce(): Promise<void> {
    for (const listener of this.listeners) listener();
    return Promise.resolve();
  }

  onAnnounce(listener: () => void): Promise<void> {
    this.listeners.push(listener);
    return Promise.resolve();
  }
}
