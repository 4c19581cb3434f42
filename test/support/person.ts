import type { FastifyInstance, LightMyRequestResponse } from 'fastify';
import { expect } from 'vitest';
import { stableHash32 } from '../../src/domain/stable-hash.js';
import { GLOBAL_HOLDOUT_SALT, inControlGroup } from '../../src/learning/control-group.js';
import type { RulesetSnapshot } from '../../src/ruleset/snapshot.js';
import type { Journey, JourneyStep } from '../../src/service/journey-service.js';

// One person's API calls for the identity and journey tests: a visitor's banners and decisions,
// feedback, lead forms, identity links, journeys, dossiers and the funnel report, through inject on
// whichever server the test names.

export const KEYS = 'agent-key=decide+feedback,admin-key=admin,report-key=report,pk-web=banner';
const bearer = (key: string) => ({ authorization: `Bearer ${key}` });

export interface Offer {
  readonly offerId: string;
  readonly campaignId: string;
  readonly productId: string;
}
export interface Decision {
  readonly decisionId: string;
  readonly customerId: string;
  readonly offers: readonly Offer[];
  readonly suppressed?: readonly { offerId: string; campaignId: string; reason: string }[];
}
export interface Banner {
  readonly customerId: string | null;
  readonly decisionId: string | null;
  readonly offerId: string | null;
  readonly campaignId: string | null;
  readonly default: boolean;
}
/** A journey as the API answers it. */
export type { Journey, JourneyStep };
export interface Credits {
  readonly firstTouch: number;
  readonly lastTouch: number;
  readonly positionBased: number;
}
export interface Journeys {
  readonly leads: Credits;
  readonly customers: Credits;
  readonly funnel: readonly { stage: string; count: number }[];
}

/**
 * An id the campaign shows its offers to: neither in its control group nor in the global holdout
 * (both are drawn from the id's hash, src/engine/decide.ts), so a test's banner is never a hole.
 */
export function treatedBy(snapshot: RulesetSnapshot, campaignId: string, id: string): boolean {
  const campaign = snapshot.campaignById.get(campaignId);
  if (campaign === undefined) throw new Error(`no campaign ${campaignId}`);
  const hash = stableHash32(id);
  if (snapshot.globalHoldout > 0 && inControlGroup(hash, GLOBAL_HOLDOUT_SALT, snapshot.globalHoldout))
    return false;
  return !inControlGroup(hash, campaign.salt, campaign.controlShare);
}

/** The first id `make(n)` makes, n = 1, 2, …, that the campaign treats. */
export function treatedId(
  snapshot: RulesetSnapshot,
  campaignId: string,
  make: (n: number) => string,
): string {
  for (let n = 1; n < 1000; n++) {
    const id = make(n);
    if (treatedBy(snapshot, campaignId, id)) return id;
  }
  throw new Error(`no id treated by ${campaignId}`);
}

/** A visitor id as banner.js makes them (`v-` and 32 hex digits), from a tag and a number. */
export function visitorId(tag: string, n: number): string {
  const hex = Buffer.from(`${tag}:${n}`).toString('hex').padEnd(32, '0').slice(0, 32);
  return `v-${hex}`;
}

/** The calls, on one server. */
export class PersonApi {
  constructor(readonly app: FastifyInstance) {}

  async decide(customerId: string, channel: string, extra: object = {}): Promise<Decision> {
    const res = await this.app.inject({
      method: 'POST',
      url: '/v1/decisions',
      headers: bearer('agent-key'),
      payload: { customerId, channel, ...extra },
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  /** What a website's page asks for its placement (banner.js's request, with the visitor id). */
  async banner(placement: string, customerId: string): Promise<Banner> {
    const res = await this.app.inject({
      url: `/v1/banners/${placement}?customerId=${encodeURIComponent(customerId)}`,
      headers: bearer('pk-web'),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  async feedback(events: readonly object[]): Promise<{ eventId: string; status: string }[]> {
    const res = await this.app.inject({
      method: 'POST',
      url: '/v1/feedback',
      headers: bearer('agent-key'),
      payload: { events },
    });
    expect(res.statusCode, res.body).toBe(202);
    return res.json().results;
  }

  /** POST /v1/identities, answered as it is (status and body). */
  link(anonymousId: string, customerId: string): Promise<LightMyRequestResponse> {
    return this.app.inject({
      method: 'POST',
      url: '/v1/identities',
      headers: bearer('agent-key'),
      payload: { anonymousId, customerId },
    });
  }

  /** A customer of our own, created by the CRM: no holdings, so a prospect by the lifecycle rules. */
  async putCustomer(id: string): Promise<void> {
    const res = await this.app.inject({
      method: 'PUT',
      url: `/v1/customers/${id}`,
      headers: bearer('admin-key'),
      payload: {
        attributes: { age: 40, churnRisk: 0.1 },
        consent: { call_center: true, web: true, mobile: true, email: true },
        holdings: [],
        affinities: [],
      },
    });
    expect(res.statusCode, res.body).toBe(200);
  }

  erase(id: string): Promise<LightMyRequestResponse> {
    return this.app.inject({ method: 'DELETE', url: `/v1/customers/${id}`, headers: bearer('admin-key') });
  }

  dossier(id: string): Promise<LightMyRequestResponse> {
    return this.app.inject({ url: `/v1/customers/${id}`, headers: bearer('agent-key') });
  }

  async journey(id: string, query = ''): Promise<Journey> {
    const res = await this.app.inject({
      url: `/v1/customers/${id}/journey${query}`,
      headers: bearer('agent-key'),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json();
  }

  async journeys(campaignId: string): Promise<Journeys> {
    const res = await this.app.inject({
      url: `/v1/reports/campaigns/${campaignId}`,
      headers: bearer('report-key'),
    });
    expect(res.statusCode, res.body).toBe(200);
    return res.json().totals.journeys;
  }
}

/** A step as the tests compare them: what happened, without the time. */
export function shape(step: JourneyStep): string {
  switch (step.kind) {
    case 'offer':
      return `offer ${step.channel}${step.placement ? `/${step.placement}` : ''} ${step.offerId}`;
    case 'reaction':
      return `${step.type} ${step.channel} ${step.offerId}`;
    case 'outcome':
      return `${step.type} ${step.channel}${step.productId ? ` ${step.productId}` : ''}`;
    case 'identified':
      return `identified ${step.anonymousId}`;
    case 'stage':
      return `stage ${step.from} -> ${step.to}`;
  }
}
