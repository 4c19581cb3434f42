import { BadRequestError, NotFoundError } from '../errors.js';
import { buildRuleset, type RulesSource } from '../ruleset/load.js';
import type { RulesetSnapshot } from '../ruleset/snapshot.js';
import type { CandidateStore, StoredCandidate } from '../store/candidate-store.js';

/** Candidates kept at once: a workbench holds a few drafts, not an archive. */
export const MAX_CANDIDATES = 20;

/** What the API says of a candidate. */
export interface CandidateSummary {
  readonly name: string;
  readonly version: string;
  readonly files: readonly string[];
  readonly offers: number;
  readonly uploadedAt: string;
  readonly by: string;
}

/**
 * Candidate rulesets for previews: uploaded by an admin key, compiled and checked like a reload
 * (a bad one is refused with file, line and reason), kept in the shared store, and never live. A
 * decision with `"preview": true, "candidate": name` runs on one. Each server compiles a
 * candidate once, when first asked, and again only when it is uploaded anew.
 */
export class CandidateService {
  /** Each candidate as this server compiled it. */
  private readonly compiled = new Map<string, RulesetSnapshot>();

  constructor(private readonly deps: { readonly store: CandidateStore; readonly clock: () => number }) {}

  /** Compiles and stores a candidate (replacing one of the same name); throws RulesetError (422) if it does not compile. */
  async upload(name: string, files: readonly RulesSource[], by: string): Promise<CandidateSummary> {
    const uploadedAt = this.deps.clock();
    const snapshot = buildRuleset(files, uploadedAt);
    const held = await this.deps.store.list();
    if (held.length >= MAX_CANDIDATES && !held.some((c) => c.name === name)) {
      throw new BadRequestError(`at most ${MAX_CANDIDATES} candidates are kept: delete one first`);
    }
    const candidate: StoredCandidate = { name, files, version: snapshot.version, uploadedAt, by };
    await this.deps.store.put(candidate);
    this.compiled.set(name, snapshot);
    return summaryOf(candidate, snapshot);
  }

  /** The compiled candidate; NotFoundError (404) when there is none of that name. */
  async snapshot(name: string): Promise<RulesetSnapshot> {
    const stored = await this.deps.store.get(name);
    if (stored === null) throw new NotFoundError(`no candidate ruleset '${name}'`);
    return this.compile(stored);
  }

  /** The candidate's files with its compiled ruleset (a challenger starts from both); fails as snapshot() does. */
  async withFiles(
    name: string,
  ): Promise<{ readonly files: readonly RulesSource[]; readonly snapshot: RulesetSnapshot }> {
    const stored = await this.deps.store.get(name);
    if (stored === null) throw new NotFoundError(`no candidate ruleset '${name}'`);
    return { files: stored.files, snapshot: this.compile(stored) };
  }

  async list(): Promise<CandidateSummary[]> {
    const all = await this.deps.store.list();
    return all.sort((a, b) => a.name.localeCompare(b.name)).map((c) => summaryOf(c, this.compile(c)));
  }

  async delete(name: string): Promise<void> {
    this.compiled.delete(name);
    if (!(await this.deps.store.delete(name))) throw new NotFoundError(`no candidate ruleset '${name}'`);
  }

  /** Uploaded to another server, or anew: it compiled there, so it compiles here (once). */
  private compile(stored: StoredCandidate): RulesetSnapshot {
    const cached = this.compiled.get(stored.name);
    if (cached !== undefined && cached.version === stored.version) return cached;
    const snapshot = buildRuleset(stored.files, stored.uploadedAt);
    this.compiled.set(stored.name, snapshot);
    return snapshot;
  }
}

function summaryOf(c: StoredCandidate, snapshot: RulesetSnapshot): CandidateSummary {
  return {
    name: c.name,
    version: snapshot.version,
    files: c.files.map((f) => f.name),
    offers: snapshot.offers.length,
    uploadedAt: new Date(c.uploadedAt).toISOString(),
    by: c.by,
  };
}
