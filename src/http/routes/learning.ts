import type { FastifyInstance } from 'fastify';
import type { LearningConfig } from '../../config.js';
import { CHANNELS } from '../../domain/channel.js';
import type { LearnedCell } from '../../learning/learned-model.js';
import type { LearningService } from '../../service/learning-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

/** Cells per answer unless `limit` says otherwise, and the most it may ask for. */
export const DEFAULT_CELL_LIMIT = 200;
export const MAX_CELL_LIMIT = 5000;

interface LearningQuerystring {
  offerId?: string;
  channel?: string;
  minImpressions?: number;
  limit?: number;
}

const cellSchema = {
  type: 'object',
  properties: {
    offerId: { type: 'string' },
    channel: { type: 'string' },
    segmentId: {
      type: ['string', 'null'],
      description: "Null: the offer × channel cell over all segments; else one target segment's own cell.",
    },
    impressions: { type: 'number' },
    accepts: { type: 'number' },
    expectedRate: {
      type: 'number',
      description: 'The accept rate the affinities predicted for the customers the offer was shown to.',
    },
    learnedRate: { type: 'number', description: 'Posterior mean of the accept rate.' },
    ci95: {
      type: 'array',
      items: { type: 'number' },
      minItems: 2,
      maxItems: 2,
      description: 'Equal-tailed 95% credible interval of the accept rate.',
    },
    ratio: {
      type: 'number',
      description: "Odds ratio applied to each customer's affinity: > 1 raises, < 1 lowers the propensity.",
    },
  },
} as const;

const learningResponseSchema = {
  type: 'object',
  properties: {
    enabled: { type: 'boolean', description: 'False: propensities are the affinities (OFFERLOOP_LEARNING).' },
    builtAt: {
      type: ['string', 'null'],
      description: 'When the counters of the model in use were read; null before the first refresh.',
    },
    refreshSeconds: { type: 'number' },
    days: { type: 'number', description: 'UTC days of counters the model learns from.' },
    exploration: { type: 'number', description: 'ε: the share of decisions that explore.' },
    priorStrength: { type: 'number', description: 'Impressions the affinities are worth.' },
    minSegmentImpressions: { type: 'number' },
    total: { type: 'integer', description: 'Cells that match the filters, before `limit`.' },
    cells: { type: 'array', items: cellSchema },
  },
} as const;

/** Impressions first; ties in a fixed order, so that pages and diffs of the answer are stable. */
function byImpressions(a: LearnedCell, b: LearnedCell): number {
  return (
    b.impressions - a.impressions ||
    (a.offerId < b.offerId ? -1 : a.offerId > b.offerId ? 1 : 0) ||
    (a.channel < b.channel ? -1 : a.channel > b.channel ? 1 : 0) ||
    (a.segmentId ?? '').localeCompare(b.segmentId ?? '')
  );
}

/** What learning has learned, for analysts and the dashboard (see docs/learning.md). */
export function learningRoutes(
  app: FastifyInstance,
  deps: { auth: ApiKeyAuth; learning: LearningService; config: LearningConfig },
): void {
  app.get<{ Querystring: LearningQuerystring }>(
    '/v1/learning',
    {
      onRequest: deps.auth.require('report'),
      schema: {
        summary: 'The learned estimates in use: per offer × channel (× segment) cell, sorted by impressions',
        description:
          'Scope `report`. The model this server decides with, as of its last refresh (`builtAt`); cells without impressions, and channels on which nothing was ever accepted, are not listed (their ratio is 1).',
        tags: ['learning'],
        security: [{ apiKey: [] }],
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            offerId: { type: 'string', minLength: 1, maxLength: 128, description: 'Only this offer.' },
            channel: { type: 'string', enum: CHANNELS, description: 'Only this channel.' },
            minImpressions: {
              type: 'number',
              minimum: 0,
              description: 'Only cells with at least this many impressions.',
            },
            limit: {
              type: 'integer',
              minimum: 1,
              maximum: MAX_CELL_LIMIT,
              default: DEFAULT_CELL_LIMIT,
              description: `At most this many cells (default ${DEFAULT_CELL_LIMIT}).`,
            },
          },
        },
        response: { 200: learningResponseSchema, '4xx': errorResponseSchema },
      },
    },
    (request) => {
      const { offerId, channel, minImpressions = 0 } = request.query;
      const limit = request.query.limit ?? DEFAULT_CELL_LIMIT;
      const config = deps.config;
      // The model decisions read now (rebuilt once here if the ruleset was reloaded since).
      const model = deps.learning.model();
      const cells = (model?.cells ?? []).filter(
        (c) =>
          (offerId === undefined || c.offerId === offerId) &&
          (channel === undefined || c.channel === channel) &&
          c.impressions >= minImpressions,
      );
      cells.sort(byImpressions);
      return {
        enabled: config.enabled,
        builtAt: model !== undefined && model.builtAt > 0 ? new Date(model.builtAt).toISOString() : null,
        refreshSeconds: config.refreshMs / 1000,
        days: config.days,
        exploration: config.exploration,
        priorStrength: config.priorStrength,
        minSegmentImpressions: config.minSegmentImpressions,
        total: cells.length,
        cells: cells.slice(0, limit),
      };
    },
  );
}
