import { type Channel, channelIndex } from '../domain/channel.js';
import type { CapUsage } from '../domain/contact.js';
import type { CompiledCampaign, CompiledOffer, RulesetSnapshot } from '../ruleset/snapshot.js';

/**
 * How many more offers of a campaign can be shown on a channel before one of its caps or its
 * budget could bind: the campaign's caps (total and today), its budget at the dearest contact
 * cost of the channel, and the caps of its offers on the channel that still have room (an offer
 * with none is simply passed over). Infinity when nothing binds. An outbound selection decides
 * customers side by side only while this exceeds what they could show together: that keeps caps
 * and budgets exact (service/selection-service.ts).
 */
export function campaignRoom(
  snapshot: RulesetSnapshot,
  campaign: CompiledCampaign,
  channel: Channel,
  usage: CapUsage,
  now: number,
): number {
  const id = campaign.id;
  let room = Math.min(
    campaign.capTotal - usage.campaignTotal(id),
    campaign.capPerDay - usage.campaignToday(id, now),
  );
  const cost = dearestContact(snapshot, channel);
  if (campaign.budget !== null && cost > 0)
    room = Math.min(room, Math.floor((campaign.budget - usage.campaignSpend(id)) / cost));
  for (const offer of campaignOffersOn(snapshot, campaign, channel)) {
    const left = Math.min(
      offer.capTotal - usage.offerTotal(offer.id),
      offer.capPerDay - usage.offerToday(offer.id, now),
    );
    if (left > 0) room = Math.min(room, left);
  }
  return Math.max(0, room);
}

// A campaign's offers on a channel, found once per compiled campaign (a selection asks per decision).
const campaignOffers = new WeakMap<CompiledCampaign, Map<Channel, readonly CompiledOffer[]>>();

/** A campaign's offers on a channel; empty when it has none there. */
export function campaignOffersOn(
  snapshot: RulesetSnapshot,
  campaign: CompiledCampaign,
  channel: Channel,
): readonly CompiledOffer[] {
  let byChannel = campaignOffers.get(campaign);
  if (byChannel === undefined) {
    byChannel = new Map();
    campaignOffers.set(campaign, byChannel);
  }
  let offers = byChannel.get(channel);
  if (offers === undefined) {
    offers = snapshot.offers.filter((o) => o.campaign === campaign && o.channels.includes(channel));
    byChannel.set(channel, offers);
  }
  return offers;
}

/** The most one contact on the channel may cost: the policy's, or a segment's economics. */
export function dearestContact(snapshot: RulesetSnapshot, channel: Channel): number {
  const ch = channelIndex(channel);
  let cost = snapshot.policies[ch]!.cost;
  for (const segment of snapshot.economicSegments) cost = Math.max(cost, segment.economics?.cost[ch] ?? 0);
  return cost;
}
