import { stableHash32 } from '../domain/stable-hash.js';

/**
 * Stable control-group assignment: the same customer lands in the same group of a campaign on every
 * node and after every restart, without storing anything. Changing a campaign id reshuffles it.
 */

/**
 * A uniform draw in [0, 1) from a customer hash and a campaign salt. The murmur3 finaliser mixes
 * the two so that control groups of different campaigns are independent of each other.
 */
export function controlDraw(customerHash: number, campaignSalt: number): number {
  let h = (customerHash ^ Math.imul(campaignSalt, 0x9e3779b1)) >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return (h >>> 0) / 4294967296;
}

export function inControlGroup(customerHash: number, campaignSalt: number, share: number): boolean {
  return share > 0 && controlDraw(customerHash, campaignSalt) < share;
}

/** The salt of the global holdout: customers who see no offer at all, the baseline of the whole programme. */
export const GLOBAL_HOLDOUT_SALT = stableHash32('offerloop:global-holdout');
