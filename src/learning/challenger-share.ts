import { stableHash32 } from '../domain/stable-hash.js';
import { controlDraw } from './control-group.js';

/**
 * Which customers a champion/challenger test decides on the challenger: a stable share of them,
 * drawn from the customer id like control groups, under a salt of its own so that the challenger
 * share is independent of every campaign's control group and of the global holdout. The same
 * customer lands in the same arm on every server and after every restart, for as long as the
 * share stays; raising the share only adds customers (the draw is compared with it).
 */
export const CHALLENGER_SALT = stableHash32('offerloop:challenger');

/** The customer is decided on the challenger when a test gives it `share` (0..1) of customers. */
export function inChallengerShare(customerId: string, share: number): boolean {
  return share > 0 && controlDraw(stableHash32(customerId), CHALLENGER_SALT) < share;
}
