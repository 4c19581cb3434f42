/** The channels Offerloop serves. The order is the index used by compiled lookup tables. */
export const CHANNELS = ['call_center', 'web', 'mobile', 'sales_force', 'email'] as const;

export type Channel = (typeof CHANNELS)[number];

const channelIndexes: ReadonlyMap<string, number> = new Map(CHANNELS.map((c, i) => [c, i]));

/** Index of a channel in CHANNELS; -1 for an unknown name. */
export function channelIndex(value: string): number {
  return channelIndexes.get(value) ?? -1;
}
