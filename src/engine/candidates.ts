import { LearnedModel } from '../learning/learned-model.js';
import type { CandidateList, CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';

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
 * placement, else the placement's (offers with no placement list count for every placement); with
 * a campaign (an outbound selection), only that campaign's offers among them.
 */
export function candidateListFor(
  model: LearnedModel,
  ch: number,
  placement: string | null,
  campaign: string | null = null,
): CandidateList {
  const index = model.channels[ch]!;
  const list = placement === null ? index.all : (index.byPlacement.get(placement) ?? index.unlisted);
  return campaign === null ? list : ofCampaign(list, campaign);
}

// A campaign's part of a list, built once per list (lists belong to a snapshot or a learned model).
const campaignLists = new WeakMap<CandidateList, Map<string, CandidateList>>();

/** The list's offers of one campaign, in the list's order: the same walk, over fewer offers. */
function ofCampaign(list: CandidateList, campaign: string): CandidateList {
  let lists = campaignLists.get(list);
  if (lists === undefined) {
    lists = new Map();
    campaignLists.set(list, lists);
  }
  let part = lists.get(campaign);
  if (part === undefined) {
    const mine = (o: CompiledOffer) => o.campaign.id === campaign;
    const byProduct = list.byProduct.map((offers) => {
      const kept = offers?.filter(mine);
      return kept === undefined || kept.length === 0 ? undefined : kept;
    });
    part = {
      byStaticScore: list.byStaticScore.filter(mine),
      byExpression: list.byExpression.filter(mine),
      byProduct,
    };
    lists.set(campaign, part);
  }
  return part;
}
