import { CHANNELS } from './channel.js';

/** JSON Schema of a ProfileRecord: one NDJSON line of a profiles file, or an API body. */
export const profileRecordSchema = {
  type: 'object',
  additionalProperties: false,
  required: ['id'],
  properties: {
    id: { type: 'string', minLength: 1, maxLength: 128 },
    attributes: {
      type: 'object',
      maxProperties: 64,
      propertyNames: { pattern: '^[A-Za-z_][A-Za-z0-9_]{0,63}$' },
      additionalProperties: {
        anyOf: [
          { type: ['string', 'number', 'boolean', 'null'] },
          { type: 'array', maxItems: 64, items: { type: ['string', 'number'] } },
        ],
      },
    },
    consent: {
      type: 'object',
      additionalProperties: false,
      properties: Object.fromEntries(CHANNELS.map((c) => [c, { type: 'boolean' }])),
    },
    holdings: { type: 'array', maxItems: 256, items: { type: 'string', minLength: 1, maxLength: 64 } },
    affinities: {
      type: 'array',
      maxItems: 256,
      items: {
        type: 'object',
        additionalProperties: false,
        required: ['product', 'score'],
        properties: {
          product: { type: 'string', minLength: 1, maxLength: 64 },
          score: { type: 'number', minimum: 0, maximum: 1 },
        },
      },
    },
  },
} as const;
