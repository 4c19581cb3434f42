// The JSON Schema of a rules file. Single source of truth: rules/schema/ruleset.schema.json is
// written from it by `npm run schema` for editors, and schema.test.ts fails when the two differ.
export const rulesetSchema = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'https://offerloop.dev/schema/ruleset.schema.json',
  title: 'Offerloop rules file',
  description:
    'One YAML file of an Offerloop ruleset. Any file may hold any of the sections; the loader merges every *.yaml file of the rules directory. Conditions are Offerloop expressions (docs/expressions.md).',
  type: 'object',
  additionalProperties: false,
  properties: {
    segments: {
      type: 'array',
      items: {
        $ref: '#/definitions/segment',
      },
    },
    campaigns: {
      type: 'array',
      items: {
        $ref: '#/definitions/campaign',
      },
    },
    offers: {
      type: 'array',
      items: {
        $ref: '#/definitions/offer',
      },
    },
    contactPolicies: {
      type: 'array',
      items: {
        $ref: '#/definitions/contactPolicy',
      },
    },
    globalHoldout: {
      type: 'number',
      minimum: 0,
      maximum: 0.5,
      description:
        'Share of customers (0.02 is 2%) who are shown no offer at all, on any channel: the baseline of the whole programme. Their would-be offers are logged as held out. At most one file may set it.',
    },
    lifecycle: {
      type: 'array',
      description:
        "The customer's lifecycle stages, in order: the first whose condition holds is the stage. Evaluated whenever an outcome changes the profile (customer.lifecycleStage); each transition is recorded. Conditions read customer attributes, including what outcomes keep up to date: lifetimeRevenue, purchases, productsHeld, firstPurchaseAt, lastPurchaseAt. At most one file may set it.",
      items: {
        $ref: '#/definitions/lifecycleStage',
      },
    },
    goals: {
      type: 'array',
      description:
        'The plan: business goals over a period, each measured by one metric. Critical success factors (`factors`) serve a goal; campaigns serve factors (`serves`). GET /v1/reports/plan rolls campaign results up to factors and goals.',
      items: {
        $ref: '#/definitions/goal',
      },
    },
    factors: {
      type: 'array',
      description:
        'Critical success factors: what must go right for a goal (`goal`), measured by a metric over the campaigns that name the factor in their `serves`.',
      items: {
        $ref: '#/definitions/factor',
      },
    },
    banners: {
      type: 'array',
      description:
        "Default banners of website placements, shown when no offer is eligible; placement '*' covers every placement without its own.",
      items: {
        $ref: '#/definitions/defaultBanner',
      },
    },
    triggers: {
      type: 'array',
      description:
        'Real-time triggers: when an event of type `on` arrives for a customer (POST /v1/events, or the WebSocket `events` message) and `when` holds, Offerloop decides on `channel` (contact policy applies, the decision is recorded) and pushes it to whom `notify` names. The first matching trigger of an event type wins; an event id triggers at most once. See docs/channels.md.',
      items: {
        $ref: '#/definitions/trigger',
      },
    },
  },
  definitions: {
    trigger: {
      type: 'object',
      additionalProperties: false,
      description:
        "`when` is an expression over `customer` and `event`: `event.type` and the event's attributes by name (`event.cartValue >= 50`).",
      required: ['id', 'on', 'channel', 'notify'],
      properties: {
        id: { $ref: '#/definitions/id' },
        on: {
          type: 'string',
          pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$',
          description:
            'The event type, e.g. page.viewed, app.opened, cart.abandoned, transaction.large, or one of your own.',
        },
        when: { $ref: '#/definitions/expression' },
        channel: { $ref: '#/definitions/channel' },
        placement: { $ref: '#/definitions/id' },
        limit: {
          type: 'integer',
          minimum: 1,
          maximum: 20,
          description: 'Offers in the decision pushed; default 1: the next best action.',
        },
        notify: {
          type: 'array',
          minItems: 1,
          uniqueItems: true,
          description:
            "Who gets the decision: `subscribers` (WebSocket sessions subscribed to the customer), `adviser` (the customer's adviser: their book, or the profile attribute adviserId), `webhook:<name>` (a webhook of OFFERLOOP_WEBHOOKS: signed, retried, dead-lettered).",
          items: {
            type: 'string',
            pattern: '^(subscribers|adviser|webhook:[a-z0-9][a-z0-9_-]{0,63})$',
          },
        },
      },
    },
    defaultBanner: {
      type: 'object',
      additionalProperties: false,
      required: ['placement', 'headline', 'image', 'link'],
      properties: {
        placement: {
          anyOf: [{ $ref: '#/definitions/id' }, { const: '*' }],
        },
        headline: { type: 'string', minLength: 1 },
        body: { type: 'string' },
        image: { type: 'string', minLength: 1 },
        link: { type: 'string', minLength: 1 },
        cta: { type: 'string' },
      },
    },
    id: {
      type: 'string',
      pattern: '^[a-z0-9][a-z0-9_.-]{0,63}$',
      description: "Lower-case letters, digits, '_', '.', '-'; at most 64 characters.",
    },
    channel: {
      type: 'string',
      enum: ['call_center', 'web', 'mobile', 'sales_force', 'email'],
    },
    expression: {
      type: 'string',
      minLength: 1,
      maxLength: 4000,
    },
    date: {
      type: 'string',
      pattern: '^\\d{4}-\\d{2}-\\d{2}(T\\d{2}:\\d{2}(:\\d{2}(\\.\\d+)?)?(Z|[+-]\\d{2}:\\d{2}))?$',
      description: 'An ISO date (2026-01-31, midnight UTC) or date-time with a zone.',
    },
    duration: {
      type: 'string',
      pattern: '^\\d+(ms|s|m|h|d|w)$',
      description: 'A duration such as 30m, 12h, 7d, 2w.',
    },
    caps: {
      type: 'object',
      additionalProperties: false,
      properties: {
        total: {
          type: 'integer',
          minimum: 1,
        },
        perDay: {
          type: 'integer',
          minimum: 1,
        },
      },
    },
    kpiMetric: {
      enum: ['accept_rate', 'conversion_rate', 'conversions', 'revenue', 'new_customers', 'retention'],
      description:
        'accept_rate, conversion_rate: per impression; conversions, revenue: as counted; new_customers: persons who became customers, credited position-based to the touchpoints before; retention: the share of customers reached who cancelled nothing in the episode. See docs/reports.md.',
    },
    kpi: {
      type: 'object',
      additionalProperties: false,
      required: ['metric', 'target'],
      properties: {
        metric: {
          $ref: '#/definitions/kpiMetric',
        },
        target: {
          type: 'number',
          minimum: 0,
          description: 'Rates are fractions (0.04 is 4%); counts and revenue are absolute.',
        },
      },
    },
    goal: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'name', 'objective', 'target', 'period'],
      properties: {
        id: {
          $ref: '#/definitions/id',
        },
        name: {
          type: 'string',
          minLength: 1,
        },
        description: {
          type: 'string',
        },
        objective: {
          type: 'string',
          minLength: 1,
          description: 'The objective in words, e.g. "Deepen relationships with families".',
        },
        target: {
          type: 'object',
          additionalProperties: false,
          required: ['metric', 'value'],
          description:
            'What the goal is measured by: over every campaign serving its factors, within its period.',
          properties: {
            metric: {
              $ref: '#/definitions/kpiMetric',
            },
            value: {
              type: 'number',
              minimum: 0,
              description: 'Rates are fractions (0.04 is 4%); counts and revenue are absolute.',
            },
          },
        },
        period: {
          type: 'object',
          additionalProperties: false,
          required: ['start'],
          description: 'When the goal runs; no end: open. Reports count only the days of the period.',
          properties: {
            start: {
              $ref: '#/definitions/date',
            },
            end: {
              $ref: '#/definitions/date',
            },
          },
        },
      },
    },
    factor: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'name', 'goal', 'metric', 'target'],
      properties: {
        id: {
          $ref: '#/definitions/id',
        },
        name: {
          type: 'string',
          minLength: 1,
        },
        description: {
          type: 'string',
        },
        goal: {
          $ref: '#/definitions/id',
          description: 'The goal this factor serves.',
        },
        metric: {
          $ref: '#/definitions/kpiMetric',
        },
        target: {
          type: 'number',
          minimum: 0,
          description:
            'Over the campaigns that serve the factor, pooled: counts and revenue add up, rates are pooled (all their accepts over all their impressions).',
        },
      },
    },
    lifecycleStage: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'when', 'funnel'],
      properties: {
        id: {
          $ref: '#/definitions/id',
        },
        name: {
          type: 'string',
        },
        funnel: {
          enum: ['prospect', 'lead', 'customer'],
          description:
            'Where the stage sits in the funnel from prospect to lead to customer: a person whose stage moves up it is a new lead or a new customer, and the touchpoints before are credited (first touch, last touch, position-based).',
        },
        when: {
          $ref: '#/definitions/expression',
        },
      },
    },
    segment: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'when'],
      properties: {
        id: {
          $ref: '#/definitions/id',
        },
        name: {
          type: 'string',
        },
        description: {
          type: 'string',
        },
        when: {
          $ref: '#/definitions/expression',
        },
        economics: {
          type: 'object',
          additionalProperties: false,
          description:
            "What contacting the segment's customers costs and how much care they get, on every channel; a customer in several segments with economics gets the first one's.",
          properties: {
            preferredChannel: {
              $ref: '#/definitions/channel',
              description:
                "The channel that fits these customers best, instead of their profile's preferredChannel.",
            },
            careIntensity: {
              type: 'number',
              exclusiveMinimum: 0,
              maximum: 10,
              description: 'Contact limits of every channel times this (1: as the policies say).',
            },
            contactCost: {
              type: 'object',
              additionalProperties: false,
              description: "The cost of one contact on a channel, instead of the channel policy's cost.",
              properties: {
                call_center: { type: 'number', minimum: 0 },
                web: { type: 'number', minimum: 0 },
                mobile: { type: 'number', minimum: 0 },
                sales_force: { type: 'number', minimum: 0 },
                email: { type: 'number', minimum: 0 },
              },
            },
          },
        },
        assumption: {
          type: 'object',
          additionalProperties: false,
          minProperties: 1,
          description:
            "What the analysts believe about the segment's behaviour, checked against the feedback by the segment report (GET /v1/reports/segments), which flags what the data contradicts. Changes no decision (economics does). A response is an accept of a shown offer.",
          properties: {
            acceptRate: {
              type: 'number',
              minimum: 0,
              maximum: 1,
              description:
                "Accepts per impression expected of the segment (0.05 is 5%): contradicted when outside the 95% interval of the segment's actual rate.",
            },
            bestChannel: {
              $ref: '#/definitions/channel',
              description:
                'The channel the segment is believed to respond to best: contradicted when its accept rate there is significantly below that on another channel.',
            },
            respondsTo: {
              type: 'array',
              minItems: 1,
              uniqueItems: true,
              items: { $ref: '#/definitions/id' },
              description:
                'Campaigns (ids, each targeting the segment) it is believed to respond to at least as well as the rest of their audience: contradicted when significantly below.',
            },
          },
        },
      },
    },
    campaign: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'name', 'objective'],
      properties: {
        id: {
          $ref: '#/definitions/id',
        },
        name: {
          type: 'string',
          minLength: 1,
        },
        description: {
          type: 'string',
        },
        objective: {
          enum: ['cross_sell', 'up_sell', 'retention', 'acquisition', 'activation', 'service'],
        },
        kpi: {
          $ref: '#/definitions/kpi',
          description: 'The older form of one `kpis` entry, still read; write `kpis`. Not both.',
        },
        kpis: {
          type: 'array',
          items: {
            $ref: '#/definitions/kpi',
          },
          minItems: 1,
          description:
            'What the campaign is measured by, each metric once; the first is its headline KPI (the dashboard shows it).',
        },
        serves: {
          type: 'array',
          items: {
            $ref: '#/definitions/id',
          },
          uniqueItems: true,
          description:
            'The critical success factors (ids) this campaign serves: the plan report rolls its results up to them.',
        },
        segments: {
          type: 'array',
          items: {
            $ref: '#/definitions/id',
          },
          uniqueItems: true,
        },
        schedule: {
          type: 'object',
          additionalProperties: false,
          properties: {
            start: {
              $ref: '#/definitions/date',
            },
            end: {
              $ref: '#/definitions/date',
            },
          },
        },
        controlGroup: {
          type: 'number',
          minimum: 0,
          maximum: 0.5,
        },
        priority: {
          type: 'number',
          exclusiveMinimum: 0,
          maximum: 10,
          description: 'A score multiplier for every offer of the campaign (1 is neutral), not a rank.',
        },
        budget: {
          type: 'number',
          minimum: 0,
          description:
            'Most the campaign may spend on contacts, in the currency of the channel costs; once spent, its offers stop (why-not code budget_exhausted).',
        },
        caps: {
          $ref: '#/definitions/caps',
        },
      },
    },
    creatives: {
      type: 'object',
      additionalProperties: false,
      minProperties: 1,
      properties: {
        call_center: {
          type: 'object',
          additionalProperties: false,
          required: ['talkTrack'],
          properties: {
            talkTrack: {
              type: 'string',
              minLength: 1,
            },
            headline: {
              type: 'string',
            },
          },
        },
        web: {
          type: 'object',
          additionalProperties: false,
          required: ['headline', 'image', 'link'],
          properties: {
            headline: {
              type: 'string',
              minLength: 1,
            },
            body: {
              type: 'string',
            },
            image: {
              type: 'string',
              minLength: 1,
            },
            link: {
              type: 'string',
              minLength: 1,
            },
            cta: {
              type: 'string',
            },
          },
        },
        mobile: {
          $ref: '#/definitions/appCard',
        },
        sales_force: {
          $ref: '#/definitions/appCard',
        },
        email: {
          type: 'object',
          additionalProperties: false,
          required: ['subject', 'body', 'link'],
          properties: {
            subject: {
              type: 'string',
              minLength: 1,
            },
            body: {
              type: 'string',
              minLength: 1,
            },
            link: {
              type: 'string',
              minLength: 1,
            },
          },
        },
      },
    },
    appCard: {
      type: 'object',
      additionalProperties: false,
      required: ['title', 'body'],
      properties: {
        title: {
          type: 'string',
          minLength: 1,
        },
        body: {
          type: 'string',
          minLength: 1,
        },
        image: {
          type: 'string',
        },
        link: {
          type: 'string',
        },
        cta: {
          type: 'string',
        },
      },
    },
    offer: {
      type: 'object',
      additionalProperties: false,
      required: ['id', 'name', 'campaign', 'product', 'channels', 'value', 'creatives'],
      properties: {
        id: {
          $ref: '#/definitions/id',
        },
        name: {
          type: 'string',
          minLength: 1,
        },
        description: {
          type: 'string',
        },
        campaign: {
          $ref: '#/definitions/id',
        },
        product: {
          $ref: '#/definitions/id',
          description:
            'The product offered. An offer is never shown to a customer who already holds its product (why-not code holds_product).',
        },
        group: {
          $ref: '#/definitions/id',
        },
        holdsOnAccept: {
          type: 'boolean',
          description:
            'An accept of this offer adds its product to the customer’s holdings (an activation that is done when accepted). Otherwise only a purchase or a conversion does.',
        },
        channels: {
          type: 'array',
          items: {
            $ref: '#/definitions/channel',
          },
          minItems: 1,
          uniqueItems: true,
        },
        placements: {
          type: 'object',
          propertyNames: {
            $ref: '#/definitions/channel',
          },
          patternProperties: {
            '.*': {
              type: 'array',
              items: {
                $ref: '#/definitions/id',
              },
              minItems: 1,
              uniqueItems: true,
            },
          },
        },
        value: {
          type: 'number',
          minimum: 0,
        },
        weight: {
          type: 'number',
          minimum: 0,
          maximum: 100,
        },
        basePropensity: {
          type: 'number',
          minimum: 0,
          maximum: 1,
        },
        propensity: {
          type: 'string',
          minLength: 1,
          description:
            "An expression for the customer's propensity, used instead of the affinity; clamped to [0, 1]. E.g. \"max(affinity('loan-car'), association('loan-car'))\" to use mined product associations (associations.ndjson).",
        },
        validity: {
          type: 'object',
          additionalProperties: false,
          properties: {
            from: {
              $ref: '#/definitions/date',
            },
            to: {
              $ref: '#/definitions/date',
            },
          },
        },
        when: {
          $ref: '#/definitions/expression',
        },
        caps: {
          $ref: '#/definitions/caps',
        },
        creatives: {
          $ref: '#/definitions/creatives',
        },
      },
    },
    contactPolicy: {
      type: 'object',
      additionalProperties: false,
      required: ['channel'],
      properties: {
        channel: {
          anyOf: [
            {
              $ref: '#/definitions/channel',
            },
            {
              const: 'all',
            },
          ],
        },
        limits: {
          type: 'array',
          items: {
            type: 'object',
            additionalProperties: false,
            required: ['max', 'window'],
            properties: {
              max: {
                type: 'integer',
                minimum: 0,
              },
              window: {
                $ref: '#/definitions/duration',
              },
            },
          },
        },
        suppressAfterReject: {
          $ref: '#/definitions/duration',
        },
        suppressAfterAccept: {
          $ref: '#/definitions/duration',
        },
        suppressGroupAfterAccept: {
          type: 'boolean',
          description:
            'After an accept, a conversion or a purchase, every offer of the same group is suppressed too (not only the offers for that product).',
        },
        cost: {
          type: 'number',
          minimum: 0,
        },
        preferredChannelFit: {
          type: 'number',
          minimum: 0,
          maximum: 10,
        },
        otherChannelFit: {
          type: 'number',
          minimum: 0,
          maximum: 10,
        },
        requiresConsent: {
          type: 'boolean',
        },
      },
    },
  },
} as const;
