import { AffinityTable } from './affinity-table.js';
import { CHANNELS, type Channel } from './channel.js';
import { knownId } from './intern.js';
import type { AttributeValue, CustomerProfile } from './profile.js';
import { profileRecordSchema } from './profile-schema.js';

/**
 * A change to a known customer, as the CRM reports it (`PATCH /v1/customers/:id`). Attributes and
 * consent merge key by key (null removes a key); holdings gain and lose products; affinities, when
 * given, replace the customer's table.
 */
export interface ProfilePatch {
  readonly attributes?: Readonly<Record<string, AttributeValue>>;
  readonly consent?: Readonly<Partial<Record<Channel, boolean | null>>>;
  readonly holdings?: { readonly add?: readonly string[]; readonly remove?: readonly string[] };
  readonly affinities?: readonly { readonly product: string; readonly score: number }[];
}

const record = profileRecordSchema.properties;

export const profilePatchSchema = {
  type: 'object',
  additionalProperties: false,
  minProperties: 1,
  properties: {
    attributes: record.attributes,
    consent: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(CHANNELS.map((c) => [c, { type: ['boolean', 'null'] }])),
    },
    holdings: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: { add: record.holdings, remove: record.holdings },
    },
    affinities: record.affinities,
  },
} as const;

export function applyPatch(profile: CustomerProfile, patch: ProfilePatch): CustomerProfile {
  let holdings = profile.holdings;
  if (patch.holdings !== undefined) {
    const next = new Set(holdings);
    for (const product of patch.holdings.add ?? []) next.add(knownId(product));
    for (const product of patch.holdings.remove ?? []) next.delete(product);
    holdings = next;
  }
  return {
    id: profile.id,
    attributes:
      patch.attributes === undefined ? profile.attributes : merge(profile.attributes, patch.attributes),
    consent: patch.consent === undefined ? profile.consent : merge(profile.consent, patch.consent),
    holdings,
    affinities:
      patch.affinities === undefined ? profile.affinities : AffinityTable.from(patch.affinities, knownId),
  };
}

function merge<V>(
  base: Readonly<Record<string, V>>,
  changes: Readonly<Record<string, V | null>>,
): Record<string, V> {
  const out: Record<string, V> = { ...base };
  for (const [key, value] of Object.entries(changes)) {
    if (value === null) delete out[key];
    else out[key] = value;
  }
  return out;
}
