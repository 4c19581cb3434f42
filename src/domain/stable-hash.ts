/**
 * FNV-1a over UTF-16 code units, 32 bits: the same number for the same id on every node, process and
 * platform. Control groups, holdouts, feedback-log shards and population buckets are all drawn from it,
 * so changing it reshuffles every one of them.
 */
export function stableHash32(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) {
    h ^= text.charCodeAt(i);
    h = Math.imul(h, 0x01000193);
  }
  return h >>> 0;
}
