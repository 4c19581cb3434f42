const UNIT_MS: Readonly<Record<string, number>> = {
  ms: 1,
  s: 1000,
  m: 60_000,
  h: 3_600_000,
  d: 86_400_000,
  w: 604_800_000,
};

/** `30m`, `12h`, `7d`, `2w` → milliseconds; null when malformed. The schema checks the shape first. */
export function parseDuration(text: string): number | null {
  const m = /^(\d+)(ms|s|m|h|d|w)$/.exec(text);
  if (!m) return null;
  return Number(m[1]) * (UNIT_MS[m[2]!] ?? Number.NaN);
}

/** An ISO date (midnight UTC) or date-time → epoch ms; null when not a real date. */
export function parseDate(text: string): number | null {
  const ms = Date.parse(text.length === 10 ? `${text}T00:00:00Z` : text);
  return Number.isFinite(ms) ? ms : null;
}

export const DAY_MS = 86_400_000;
