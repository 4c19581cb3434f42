import type { Channel } from '../domain/channel.js';
import type { ContactEvent } from '../domain/contact.js';
import type { ChannelPolicy } from '../ruleset/snapshot.js';
import type { DecisionInput, WhyNot } from './decision-types.js';

/** Offers a recent reaction suppresses, by offer id; null when none is. */
export type SuppressionMap = ReadonlyMap<string, WhyNot> | null;

/** How many more offers this customer may be shown on the channel now, under the channel's and the global limits. */
export function contactRoom(input: DecisionInput, policy: ChannelPolicy, global: ChannelPolicy): number {
  return Math.min(
    roomUnder(input.history, policy, input.request.channel, input.now),
    roomUnder(input.history, global, null, input.now),
  );
}

function roomUnder(
  history: readonly ContactEvent[],
  policy: ChannelPolicy,
  channel: Channel | null,
  now: number,
): number {
  let room = Number.POSITIVE_INFINITY;
  for (const limit of policy.limits) {
    const since = now - limit.windowMs;
    let count = 0;
    for (const e of history) {
      if (
        e.outcome === 'impression' &&
        e.at > since &&
        e.at <= now &&
        (channel === null || e.channel === channel)
      ) {
        count++;
      }
    }
    room = Math.min(room, limit.max - count);
  }
  return room;
}

/** Offers suppressed by a recent reject or accept (on any channel), by offer id. */
export function offerSuppressions(
  history: readonly ContactEvent[],
  policy: ChannelPolicy,
  global: ChannelPolicy,
  now: number,
): SuppressionMap {
  if (history.length === 0) return null;
  const afterReject = Math.max(policy.suppressAfterRejectMs, global.suppressAfterRejectMs);
  const afterAccept = Math.max(policy.suppressAfterAcceptMs, global.suppressAfterAcceptMs);
  let map: Map<string, WhyNot> | null = null;
  for (const e of history) {
    const window = e.outcome === 'accept' ? afterAccept : e.outcome === 'reject' ? afterReject : 0;
    if (window > 0 && e.at > now - window && e.at <= now) {
      map ??= new Map();
      // An accept outranks a reject: it explains the suppression better.
      if (e.outcome === 'accept' || !map.has(e.offerId)) {
        map.set(e.offerId, e.outcome === 'accept' ? 'suppressed_after_accept' : 'suppressed_after_reject');
      }
    }
  }
  return map;
}
