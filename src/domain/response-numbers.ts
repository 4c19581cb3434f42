/**
 * Scores, propensities and affinities in responses carry 4 decimals, whatever the store: the Redis
 * store keeps an affinity in 16 bits (within 1/131070 of it), the embedded one as read, and both
 * must answer the same number. Affinities with up to 4 decimals come back exactly as loaded.
 */
export function round4(n: number): number {
  return Math.round(n * 1e4) / 1e4;
}
