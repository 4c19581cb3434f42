/** Feeds `bytes` to `push` in chunks cut at `cuts` (any order, clamped to the input). */
export function pushInChunks(
  bytes: Uint8Array,
  cuts: readonly number[],
  push: (chunk: Uint8Array) => void,
): void {
  let from = 0;
  for (const cut of [...cuts].sort((a, b) => a - b)) {
    const at = Math.min(Math.max(cut, from), bytes.length);
    push(bytes.subarray(from, at));
    from = at;
  }
  push(bytes.subarray(from));
}
