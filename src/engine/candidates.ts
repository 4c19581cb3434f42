import { LearnedModel } from '../learning/learned-model.js';
import type { CandidateList, RulesetSnapshot } from '../ruleset/snapshot.js';

// The model that learned nothing, one per snapshot, for decisions without a learned model.
const identities = new WeakMap<RulesetSnapshot, LearnedModel>();

/** The model a decision scores with: `learned` if it was built for `snapshot`, else the identity. */
export function modelFor(snapshot: RulesetSnapshot, learned: LearnedModel | undefined): LearnedModel {
  if (learned !== undefined && learned.snapshot === snapshot) return learned;
  let identity = identities.get(snapshot);
  if (identity === undefined) {
    identity = LearnedModel.identity(snapshot);
    identities.set(snapshot, identity);
  }
  return identity;
}

/**
 * The candidates a decision walks for channel × placement: all of the channel's offers without a
 * placement, else the placement's (offers with no placement list count for every placement).
 */
export function candidateListFor(model: LearnedModel, ch: number, placement: string | null): CandidateList {
  const index = model.channels[ch]!;
  if (placement === null) return index.all;
  return index.byPlacement.get(placement) ?? index.unlisted;
}
