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

const DATE_TIME = /^(\d{4})-(\d{2})-(\d{2})(?:T(\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:\d{2})?)?$/;

/**
 * An ISO 8601 date (midnight UTC) or date-time (UTC unless it has an offset) → epoch ms; null when
 * it is not a real date. Date.parse alone would roll 30 February over into March, and read a
 * date-time without a zone as the machine's local time.
 */
export function parseDate(text: string): number | null {
  const m = DATE_TIME.exec(text);
  if (m === null) return null;
  const [, y, mo, d, h = '00', mi = '00', s = '00', zone] = m;
  const day = new Date(Date.UTC(Number(y), Number(mo) - 1, Number(d)));
  if (day.getUTCMonth() !== Number(mo) - 1 || day.getUTCDate() !== Number(d)) return null;
  if (Number(h) > 23 || Number(mi) > 59 || Number(s) > 59) return null;
  const ms = Date.parse(m[4] === undefined ? `${text}T00:00:00Z` : zone === undefined ? `${text}Z` : text);
  return Number.isFinite(ms) ? ms : null;
}

export const DAY_MS = 86_400_000;
