import { AffinityTable } from './affinity-table.js';
import type { Channel } from './channel.js';
import { internId } from './intern.js';

/** A scalar or list value of a profile attribute or a request context field. */
export type AttributeValue = string | number | boolean | null | readonly (string | number)[];

/**
 * A customer as the engine sees it. Affinities are the precomputed top-K products with a score in
 * [0, 1] (market-basket rules, models), loaded offline; they are the prior of the propensity.
 */
export interface CustomerProfile {
  readonly id: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  /** Channels the customer agreed to be contacted on; a channel that is absent is not consented. */
  readonly consent: Readonly<Partial<Record<Channel, boolean>>>;
  readonly holdings: ReadonlySet<string>;
  readonly affinities: AffinityTable;
}

const NOTHING: Readonly<Record<string, never>> = Object.freeze({});
const NO_HOLDINGS: ReadonlySet<string> = new Set();

/** The profile of a visitor nobody knows: no attributes, no holdings, no affinities. */
export function anonymousProfile(id: string): CustomerProfile {
  return {
    id,
    attributes: NOTHING,
    consent: NOTHING,
    holdings: NO_HOLDINGS,
    affinities: AffinityTable.EMPTY,
  };
}

/** The interchange form of a profile (NDJSON lines, API bodies): plain JSON. */
export interface ProfileRecord {
  id: string;
  attributes?: Record<string, AttributeValue>;
  consent?: Partial<Record<Channel, boolean>>;
  holdings?: string[];
  affinities?: { product: string; score: number }[];
}

/**
 * `shareId` shares the holdings' ids: internId for loaded data (a million profiles, a few hundred
 * products), knownId for a record a client sent, so that made-up ids do not grow the pool.
 */
export function profileFromRecord(
  record: ProfileRecord,
  shareId: (id: string) => string = internId,
): CustomerProfile {
  return {
    id: record.id,
    attributes: record.attributes ?? {},
    consent: record.consent ?? {},
    holdings: new Set((record.holdings ?? []).map(shareId)),
    affinities: AffinityTable.from(record.affinities ?? [], shareId),
  };
}
