import type { FastifyInstance, FastifyRequest } from 'fastify';
import { campaignReportCsv, GROUP_BYS, type GroupBy } from '../../evaluation/campaign-report.js';
import type { ReportService } from '../../service/report-service.js';
import type { ApiKeyAuth } from '../auth.js';
import { errorResponseSchema } from '../error-handler.js';

// Query dates are checked twice: the pattern here for the shape (and OpenAPI), the service for real
// calendar dates (2025-02-30 matches the pattern).
const date = (what: string) =>
  ({ type: 'string', pattern: '^\\d{4}-\\d{2}-\\d{2}$', description: what, example: '2025-06-01' }) as const;

const rangeProperties = {
  from: date('First day (UTC) of the report, inclusive. Default: 29 days before `to`.'),
  to: date('Last day (UTC) of the report, inclusive. Default: today.'),
} as const;

const nullableNumber = { type: ['number', 'null'] } as const;
const interval = { type: ['array', 'null'], items: { type: 'number' }, minItems: 2, maxItems: 2 } as const;

/** One group of the per-customer uplift (CustomerGroupReport). */
const customerGroupSchema = {
  type: 'object',
  properties: {
    customers: { type: 'number', description: 'Customer episodes opened in the range.' },
    conversions: { type: 'number', description: 'Of those, the episodes that converted.' },
    rate: { ...nullableNumber, description: 'conversions / customers; null without customers.' },
    ci95: { ...interval, description: 'Wilson 95% interval of the rate.' },
    revenue: { type: 'number', description: 'Revenue of the converting episodes.' },
    revenuePerCustomer: { ...nullableNumber, description: 'revenue / customers; null without customers.' },
  },
} as const;

/** A funnel transition's credit by each attribution model (AttributionCredits). */
const creditsSchema = {
  type: 'object',
  properties: {
    firstTouch: {
      type: 'number',
      description: 'Persons whose first touchpoint before it was one of these offers.',
    },
    lastTouch: { type: 'number', description: 'Persons whose last touchpoint before it was.' },
    positionBased: {
      type: 'number',
      description:
        'Position-based shares (40 % first, 40 % last, 20 % over the middle): fractions of persons.',
    },
  },
} as const;

const daysHistogramSchema = {
  type: 'object',
  description:
    'Bucket lower bound in days → persons (buckets 0, 1, 2, 3, 5, 7, 10, 14, 21, 30, 45, 60, 90, 180).',
  additionalProperties: { type: 'number' },
} as const;

/** What made them leads and customers (JourneysReport). */
const journeysSchema = {
  type: 'object',
  description:
    'Persons who became leads and customers in the range, credited to the touchpoints before (first touch, last touch, position-based), with the median days; see docs/reports.md.',
  properties: {
    leads: creditsSchema,
    customers: creditsSchema,
    medianDaysToLead: {
      ...nullableNumber,
      description:
        'Median days from the first touch to the lead, interpolated within the bucket of the middle person; null without any.',
    },
    medianDaysToCustomer: {
      ...nullableNumber,
      description: 'Median days from the first touch to the customer.',
    },
    medianDaysLeadToCustomer: {
      ...nullableNumber,
      description: 'Median days from the lead to the customer.',
    },
    daysToLead: daysHistogramSchema,
    daysToCustomer: daysHistogramSchema,
    daysLeadToCustomer: daysHistogramSchema,
    funnel: {
      type: 'array',
      description:
        'Per person: prospects (treated customers reached) → leads → customers (position-based credits).',
      items: {
        type: 'object',
        properties: {
          stage: { type: 'string', enum: ['prospect', 'lead', 'customer'] },
          count: { type: 'number' },
          fromPrevious: nullableNumber,
          medianDaysFromPrevious: nullableNumber,
        },
      },
    },
  },
} as const;

const metricsProperties = {
  impressions: { type: 'number', description: 'Offers shown (in decisions).' },
  views: { type: 'number', description: 'Impressions the channel confirmed as seen.' },
  clicks: { type: 'number' },
  accepts: { type: 'number' },
  rejects: { type: 'number' },
  dismissals: { type: 'number' },
  conversions: { type: 'number' },
  revenue: { type: 'number' },
  cost: { type: 'number', description: "Impressions × the channel's contact cost." },
  controls: { type: 'number', description: 'Would-be impressions held out for the control group.' },
  controlConversions: { type: 'number' },
  controlRevenue: { type: 'number' },
  customers: {
    type: 'number',
    description: 'Customer episodes opened by a shown offer (on the day each opened).',
  },
  controlCustomers: {
    type: 'number',
    description: 'Customer episodes opened by an offer held out for the control group.',
  },
  customerConversions: { type: 'number', description: 'Treated episodes that converted (at most one each).' },
  controlCustomerConversions: { type: 'number', description: 'Control episodes that converted.' },
  customerRevenue: { type: 'number', description: 'Revenue of the converting treated episodes.' },
  controlCustomerRevenue: { type: 'number', description: 'Revenue of the converting control episodes.' },
  customerCancels: {
    type: 'number',
    description:
      'Treated episodes in which the customer cancelled a product (at most one each): retention is 1 − customerCancels / customers.',
  },
  controlCustomerCancels: {
    type: 'number',
    description: 'Control episodes in which the customer cancelled.',
  },
  roi: { ...nullableNumber, description: '(revenue − cost) / cost; null without cost.' },
  rates: {
    type: 'object',
    description: 'Per impression; null without impressions.',
    properties: {
      clickRate: nullableNumber,
      acceptRate: nullableNumber,
      rejectRate: nullableNumber,
      conversionRate: nullableNumber,
    },
  },
  acceptRateCi95: { ...interval, description: 'Wilson 95% interval of the accept rate.' },
  funnel: {
    type: 'array',
    items: {
      type: 'object',
      properties: {
        stage: { type: 'string' },
        label: { type: 'string' },
        count: { type: 'number' },
        fromPrevious: nullableNumber,
        fromTop: nullableNumber,
      },
    },
  },
  uplift: {
    type: 'object',
    description: 'Conversion rate per decision, treated (shown) against the control group (held out).',
    properties: {
      metric: { type: 'string' },
      treatedRate: nullableNumber,
      controlRate: nullableNumber,
      uplift: nullableNumber,
      ci95: { ...interval, description: "Newcombe's hybrid score 95% interval." },
      relative: nullableNumber,
      incrementalConversions: nullableNumber,
      revenuePerDecision: {
        type: 'object',
        properties: { treated: nullableNumber, control: nullableNumber },
      },
    },
  },
  lifecycleMix: {
    type: 'object',
    description:
      'Treated customers reached (episodes opened), by their lifecycle stage then: stage id → customers.',
    additionalProperties: { type: 'number' },
  },
  journeys: journeysSchema,
  customerUplift: {
    type: 'object',
    description:
      'Conversion rate per customer episode, treated against control: the headline uplift (each customer counts once per episode).',
    properties: {
      metric: { type: 'string' },
      treated: customerGroupSchema,
      control: customerGroupSchema,
      uplift: {
        ...nullableNumber,
        description: 'Treated rate − control rate; null when either group has no customers.',
      },
      ci95: { ...interval, description: "Newcombe's hybrid score 95% interval." },
      relative: nullableNumber,
      revenuePerCustomerDiff: { ...nullableNumber, description: 'Revenue per customer, treated − control.' },
      incrementalCustomers: { ...nullableNumber, description: 'uplift × treated customers.' },
      incrementalRevenue: { ...nullableNumber, description: 'revenuePerCustomerDiff × treated customers.' },
    },
  },
} as const;

const metricsSchema = { type: 'object', properties: metricsProperties } as const;

const kpiSchema = {
  type: ['object', 'null'],
  properties: {
    metric: { type: 'string' },
    target: { type: 'number' },
    actual: nullableNumber,
    progress: { ...nullableNumber, description: 'actual / target' },
  },
} as const;

/** Every KPI of a campaign (KpiProgress), in the rules' order. */
const kpisSchema = {
  type: 'array',
  description: "Every KPI of the campaign, in the rules' order; `kpi` is the first (the headline one).",
  items: { ...kpiSchema, type: 'object' },
} as const;

const campaignReportSchema = {
  type: 'object',
  properties: {
    campaign: {
      type: 'object',
      properties: {
        id: { type: 'string' },
        name: { type: 'string' },
        objective: { type: 'string' },
        controlShare: { type: 'number' },
        start: { type: ['string', 'null'], description: 'Null: no start in the schedule.' },
        end: { type: ['string', 'null'], description: 'Null: no end in the schedule.' },
      },
    },
    from: { type: 'string' },
    to: { type: 'string' },
    kpi: kpiSchema,
    kpis: kpisSchema,
    totals: metricsSchema,
    groupBy: { type: ['string', 'null'] },
    groups: {
      type: 'array',
      description: 'One per key, sorted by key; every day of the range when groupBy is day.',
      items: { type: 'object', properties: { key: { type: 'string' }, ...metricsProperties } },
    },
  },
} as const;

const campaignsReportSchema = {
  type: 'object',
  properties: {
    from: { type: 'string' },
    to: { type: 'string' },
    campaigns: {
      type: 'array',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          objective: { type: 'string' },
          kpi: kpiSchema,
          kpis: kpisSchema,
          totals: metricsSchema,
        },
      },
    },
  },
} as const;

/** A group's response (segment-assumptions.ts Response). */
const responseSchema = {
  type: 'object',
  properties: {
    impressions: { type: 'number' },
    accepts: { type: 'number' },
    rate: { ...nullableNumber, description: 'Accepts per impression; null without impressions.' },
    ci95: { ...interval, description: 'Wilson 95% interval of the rate.' },
  },
} as const;

/** A segment against the rest of the population in one scope (Comparison). */
const comparisonProperties = {
  segment: responseSchema,
  rest: {
    ...responseSchema,
    description: 'Every other impression of the same scope (other segments, none).',
  },
  difference: { ...nullableNumber, description: 'Segment rate − rest rate.' },
  ci95: { ...interval, description: "Newcombe's hybrid score 95% interval of the difference." },
  verdict: {
    type: 'string',
    enum: ['above', 'below', 'similar', 'not_enough_data'],
    description:
      'above / below: the interval of the difference excludes 0; not_enough_data: a group has fewer than minImpressions.',
  },
} as const;

const breakdownSchema = {
  type: 'array',
  items: {
    type: 'object',
    properties: { key: { type: 'string' }, name: { type: 'string' }, ...comparisonProperties },
  },
} as const;

const segmentSummaryProperties = {
  id: { type: 'string' },
  name: { type: 'string' },
  assumption: {
    type: ['object', 'null'],
    description: "The segment's stated assumption (rules); null: none.",
    properties: {
      acceptRate: nullableNumber,
      bestChannel: { type: ['string', 'null'] },
      respondsTo: { type: 'array', items: { type: 'string' } },
    },
  },
  overall: { type: 'object', properties: comparisonProperties },
  checks: {
    type: 'array',
    description: 'Each stated assumption, checked: consistent, contradicted or not_enough_data.',
    items: {
      type: 'object',
      properties: {
        assumption: { type: 'string', enum: ['acceptRate', 'bestChannel', 'respondsTo'] },
        expected: { type: ['number', 'string'], description: 'The assumed rate, channel or campaign id.' },
        verdict: { type: 'string', enum: ['consistent', 'contradicted', 'not_enough_data'] },
        reason: { type: 'string', description: 'Why, in a sentence with the figures.' },
        observed: responseSchema,
        comparedWith: {
          type: ['object', 'null'],
          properties: {
            key: { type: 'string', description: '`rest` (of a campaign audience) or a channel.' },
            response: responseSchema,
            difference: nullableNumber,
            interval: interval,
            level: { type: 'number', description: 'Confidence level of the interval.' },
          },
        },
      },
    },
  },
  contradicted: { type: 'number', description: 'How many checks the data contradicts.' },
} as const;

const segmentReportHead = {
  from: { type: 'string' },
  to: { type: 'string' },
  rulesetVersion: { type: 'string' },
  minImpressions: { type: 'number', description: 'Impressions each compared group needs for a verdict.' },
  population: responseSchema,
} as const;

const segmentsReportSchema = {
  type: 'object',
  properties: {
    ...segmentReportHead,
    segments: { type: 'array', items: { type: 'object', properties: segmentSummaryProperties } },
  },
} as const;

const segmentReportSchema = {
  type: 'object',
  properties: {
    ...segmentReportHead,
    segment: {
      type: 'object',
      properties: {
        ...segmentSummaryProperties,
        byCampaign: breakdownSchema,
        byOffer: breakdownSchema,
        byChannel: breakdownSchema,
      },
    },
  },
} as const;

/** A metric with its target, actual and progress (PlanFactor, PlanGoal). */
const progressProperties = {
  actual: {
    ...nullableNumber,
    description:
      'Null: no data (a rate without impressions, days outside the period) or a metric not counted yet.',
  },
  progress: { ...nullableNumber, description: 'actual / target; null when either says nothing.' },
} as const;

const planCampaignSchema = {
  type: 'object',
  properties: {
    id: { type: 'string' },
    name: { type: 'string' },
    objective: { type: 'string' },
    actual: { ...nullableNumber, description: "The factor's metric over this campaign alone." },
    kpis: kpisSchema,
  },
} as const;

const planReportSchema = {
  type: 'object',
  properties: {
    from: { type: 'string' },
    to: { type: 'string' },
    goals: {
      type: 'array',
      description: 'In ruleset order.',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          description: { type: ['string', 'null'] },
          objective: { type: 'string' },
          target: {
            type: 'object',
            properties: { metric: { type: 'string' }, value: { type: 'number' } },
          },
          period: {
            type: 'object',
            description: "The goal's period as the rules say; `end` null when open.",
            properties: { start: { type: 'string' }, end: { type: ['string', 'null'] } },
          },
          counted: {
            type: ['object', 'null'],
            description:
              "The days counted: the goal's period clipped to from..to; null when they do not overlap.",
            properties: { from: { type: 'string' }, to: { type: 'string' } },
          },
          ...progressProperties,
          factorProgress: {
            ...nullableNumber,
            description: "The mean of the factors' progress, each capped at 1; null when none has one.",
          },
          factorsMet: { type: 'number', description: 'Factors at or above their target.' },
          factors: {
            type: 'array',
            items: {
              type: 'object',
              properties: {
                id: { type: 'string' },
                name: { type: 'string' },
                description: { type: ['string', 'null'] },
                metric: { type: 'string' },
                target: { type: 'number' },
                ...progressProperties,
                campaigns: {
                  type: 'array',
                  description: 'The campaigns that serve the factor (their `serves`), in ruleset order.',
                  items: planCampaignSchema,
                },
              },
            },
          },
        },
      },
    },
    unplanned: {
      type: 'array',
      description: 'Campaigns that serve no factor, over the whole range.',
      items: {
        type: 'object',
        properties: {
          id: { type: 'string' },
          name: { type: 'string' },
          objective: { type: 'string' },
          kpis: kpisSchema,
        },
      },
    },
  },
} as const;

interface CampaignReportQuerystring {
  from?: string;
  to?: string;
  groupBy?: GroupBy;
  format?: 'json' | 'csv';
}

/** CSV when asked for by `format`, or, without one, by an Accept header that wants CSV and not JSON. */
function wantsCsv(request: FastifyRequest<{ Querystring: CampaignReportQuerystring }>): boolean {
  if (request.query.format !== undefined) return request.query.format === 'csv';
  const accept = request.headers.accept?.toLowerCase() ?? '';
  return accept.includes('text/csv') && !accept.includes('application/json');
}

/** Campaign evaluation reports for analysts and the dashboard (see docs/reports.md). */
export function reportRoutes(app: FastifyInstance, deps: { auth: ApiKeyAuth; reports: ReportService }): void {
  const report = deps.auth.require('report');

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/reports/campaigns',
    {
      onRequest: report,
      schema: {
        summary: 'Every campaign of the ruleset in force, with its totals and KPI progress',
        description:
          'Scope `report`. Counts come from the feedback aggregates per UTC day; counters of offers no longer in the ruleset are left out.',
        tags: ['reports'],
        security: [{ apiKey: [] }],
        querystring: { type: 'object', additionalProperties: false, properties: rangeProperties },
        response: { 200: campaignsReportSchema, '4xx': errorResponseSchema, 503: errorResponseSchema },
      },
    },
    (request) => deps.reports.campaigns(request.query),
  );

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/reports/plan',
    {
      onRequest: report,
      schema: {
        summary:
          'The plan: goals, their critical success factors and the campaigns serving them, with progress against targets',
        description:
          "Scope `report`. A factor pools its campaigns (counts and revenue add up; rates are all their numerators over all their denominators); a goal is measured by its target's metric over every campaign serving its factors. Each goal counts only the days of its period within from..to. See docs/reports.md.",
        tags: ['reports'],
        security: [{ apiKey: [] }],
        querystring: { type: 'object', additionalProperties: false, properties: rangeProperties },
        response: { 200: planReportSchema, '4xx': errorResponseSchema, 503: errorResponseSchema },
      },
    },
    (request) => deps.reports.plan(request.query),
  );

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/reports/channel-economics',
    {
      onRequest: report,
      schema: {
        summary:
          'Channel economics per segment: contacts, accepts, revenue and contact cost per segment × channel',
        description:
          "Scope `report`. A contact is priced at the segment's `economics.contactCost` for the channel, else the channel policy's `cost`.",
        tags: ['reports'],
        security: [{ apiKey: [] }],
        querystring: { type: 'object', additionalProperties: false, properties: rangeProperties },
        response: { '4xx': errorResponseSchema, 503: errorResponseSchema },
      },
    },
    (request) => deps.reports.channelEconomics(request.query),
  );

  app.get<{ Querystring: { from?: string; to?: string } }>(
    '/v1/reports/segments',
    {
      onRequest: report,
      schema: {
        summary:
          "Segments against behaviour: each segment's accept rate against the rest of the population, its assumptions checked",
        description:
          'Scope `report`. A response is an accept of a shown offer. Each assumption of the rules (`acceptRate`, `bestChannel`, `respondsTo`) is consistent, contradicted by the data, or not_enough_data; see docs/reports.md.',
        tags: ['reports'],
        security: [{ apiKey: [] }],
        querystring: { type: 'object', additionalProperties: false, properties: rangeProperties },
        response: { 200: segmentsReportSchema, '4xx': errorResponseSchema, 503: errorResponseSchema },
      },
    },
    (request) => deps.reports.segments(request.query),
  );

  app.get<{ Params: { id: string }; Querystring: { from?: string; to?: string } }>(
    '/v1/reports/segments/:id',
    {
      onRequest: report,
      schema: {
        summary: 'One segment against the rest of the population, per campaign, offer and channel',
        description: 'Scope `report`. The checks of the list, with the breakdowns they rest on.',
        tags: ['reports'],
        security: [{ apiKey: [] }],
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
        },
        querystring: { type: 'object', additionalProperties: false, properties: rangeProperties },
        response: { 200: segmentReportSchema, '4xx': errorResponseSchema, 503: errorResponseSchema },
      },
    },
    (request) => deps.reports.segment(request.params.id, request.query),
  );

  app.get<{ Params: { id: string }; Querystring: CampaignReportQuerystring }>(
    '/v1/reports/campaigns/:id',
    {
      onRequest: report,
      schema: {
        summary:
          'One campaign: totals, rates, funnel, uplift per customer and per decision against its control group, KPI progress',
        description:
          'Scope `report`. `format=csv` (or `Accept: text/csv`) answers a CSV download: a row per group, then a `total` row.',
        tags: ['reports'],
        security: [{ apiKey: [] }],
        params: {
          type: 'object',
          required: ['id'],
          properties: { id: { type: 'string', minLength: 1, maxLength: 128 } },
        },
        querystring: {
          type: 'object',
          additionalProperties: false,
          properties: {
            ...rangeProperties,
            groupBy: { type: 'string', enum: GROUP_BYS, description: 'Break the totals down by this.' },
            format: { type: 'string', enum: ['json', 'csv'], description: 'Default: json.' },
          },
        },
        response: { 200: campaignReportSchema, '4xx': errorResponseSchema, 503: errorResponseSchema },
      },
    },
    async (request, reply) => {
      const result = await deps.reports.campaign(request.params.id, request.query);
      reply.header('vary', 'Accept');
      if (!wantsCsv(request)) return result;
      // A text content type: Fastify sends the string as it is, past the JSON response schema.
      return reply
        .type('text/csv; charset=utf-8')
        .header(
          'content-disposition',
          `attachment; filename="campaign-${result.campaign.id}-${result.from}-${result.to}.csv"`,
        )
        .send(campaignReportCsv(result));
    },
  );
}
