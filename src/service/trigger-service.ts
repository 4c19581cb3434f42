import type { AttributeValue } from '../domain/profile.js';
import { firedTrigger } from '../engine/triggers.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { CompiledTrigger } from '../ruleset/snapshot.js';
import type { AdviserBooks } from '../store/adviser-books.js';
import type { ErasedIds } from '../store/erased-ids.js';
import type { EventDedupe } from '../store/event-dedupe.js';
import type { ProfileStore } from '../store/profile-store.js';
import type { WebhookOutbox } from '../store/webhook-outbox.js';
import type { DecisionResult, DecisionService } from './decision-service.js';

/** An event from any system: POST /v1/events, or the WebSocket `events` message. */
export interface EventInput {
  /** The sender's id of the event: the same id triggers at most once. */
  readonly eventId: string;
  /** `page.viewed`, `app.opened`, `cart.abandoned`, `transaction.large`, or a type of your own. */
  readonly type: string;
  readonly customerId: string;
  /** When it happened (ISO); default: when it arrived. */
  readonly at?: string | undefined;
  /** What the rules read as `event.<name>`. */
  readonly attributes?: Readonly<Record<string, AttributeValue>> | undefined;
}

/**
 * What became of an event: `triggered` (decided and pushed), `no_trigger` (no trigger of its type
 * whose condition holds), `suppressed` (the contact policy leaves no room: a limit reached, or no
 * consent on the channel), `no_offer` (nothing eligible), `duplicate` (its id triggered already),
 * `unknown_customer` (no profile: nothing decided), `erased` (the customer was erased: nothing
 * decided, pushed or kept, not even the event id).
 */
export type EventStatus =
  | 'triggered'
  | 'no_trigger'
  | 'suppressed'
  | 'no_offer'
  | 'duplicate'
  | 'unknown_customer'
  | 'erased';
export const EVENT_STATUSES: readonly EventStatus[] = [
  'triggered',
  'no_trigger',
  'suppressed',
  'no_offer',
  'duplicate',
  'unknown_customer',
  'erased',
];

export interface EventReceipt {
  readonly eventId: string;
  readonly status: EventStatus;
  readonly triggerId?: string;
  readonly decisionId?: string;
  readonly offers?: readonly string[];
  readonly adviserId?: string | null;
  /** Sessions on this server that got the push (with Redis, other servers' sessions get it too). */
  readonly sessions?: number;
  /** Webhook deliveries queued (sent off the request path). */
  readonly webhooks?: number;
}

/** What a trigger pushes, beside its decision. */
export interface TriggerPush {
  readonly eventId: string;
  readonly eventType: string;
  readonly triggerId: string;
  readonly customerId: string;
  readonly adviserId: string | null;
  readonly at: number;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/** Encodes a trigger push once, and delivers it to the WebSocket topics of the customer and the adviser. */
export interface TriggerPublisher {
  encode(push: TriggerPush, decision: DecisionResult): string;
  /** Answers how many sessions of this server got it. */
  publish(json: string, customerId: string | null, adviserId: string | null): number;
}

export interface TriggerServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly profiles: Pick<ProfileStore, 'get'>;
  readonly decisions: Pick<DecisionService, 'decide'>;
  readonly dedupe: EventDedupe;
  readonly books: Pick<AdviserBooks, 'adviserOf'>;
  readonly publisher: TriggerPublisher;
  readonly outbox: Pick<WebhookOutbox, 'add'>;
  /** Erased ids (and pseudonyms): their events are refused (`erased`), nothing is pushed. */
  readonly erased: Pick<ErasedIds, 'covers'>;
  /** Tells the webhook dispatcher a job is waiting. */
  readonly queued: () => void;
  readonly clock: () => number;
  readonly eventIdTtlMs: number;
  /** Hears every receipt (metrics); must be cheap and must not throw. */
  readonly observer?: ((receipt: EventReceipt) => void) | undefined;
}

/** The profile attribute that names a customer's adviser when the CRM loaded no book for them. */
export const ADVISER_ATTRIBUTE = 'adviserId';

const NO_ATTRIBUTES: Readonly<Record<string, AttributeValue>> = Object.freeze({});

/**
 * Real-time triggers: an event finds its trigger in the rules, runs a real decision on the
 * trigger's channel (contact policy applies; the decision is recorded like any other) and pushes
 * it to the customer's subscribers, the customer's adviser and webhooks (queued, delivered by
 * WebhookDispatcher off the request path). An event id triggers at most once.
 */
export class TriggerService {
  constructor(private readonly deps: TriggerServiceDeps) {}

  /** Events in order: one customer's second event sees the contact the first one made. */
  async record(events: readonly EventInput[]): Promise<EventReceipt[]> {
    const receipts: EventReceipt[] = [];
    for (const event of events) receipts.push(await this.one(event));
    return receipts;
  }

  private async one(event: EventInput): Promise<EventReceipt> {
    const { dedupe, eventIdTtlMs, observer, erased } = this.deps;
    if (erased.covers(event.customerId))
      return observed(observer, { eventId: event.eventId, status: 'erased' });
    if (!(await dedupe.claim(event.eventId, eventIdTtlMs))) {
      return observed(observer, { eventId: event.eventId, status: 'duplicate' });
    }
    try {
      return observed(observer, await this.handle(event));
    } catch (err) {
      // Not processed: a retry of the same id must be able to trigger.
      await dedupe.release(event.eventId).catch(() => {});
      throw err;
    }
  }

  private async handle(event: EventInput): Promise<EventReceipt> {
    const { rules, profiles, clock } = this.deps;
    const { eventId } = event;
    const { profile } = await profiles.get(event.customerId);
    if (profile === null) return { eventId, status: 'unknown_customer' };
    const attributes = event.attributes ?? NO_ATTRIBUTES;
    const trigger = firedTrigger(rules.current, { type: event.type, attributes }, profile, clock());
    if (trigger === null) return { eventId, status: 'no_trigger' };
    const decision = await this.deps.decisions.decide({
      customerId: event.customerId,
      channel: trigger.channel,
      placement: trigger.placement ?? undefined,
      limit: trigger.limit,
      // Offers may read why they are decided: context.trigger, context.eventType.
      context: { trigger: trigger.id, eventType: event.type },
    });
    const decided = { eventId, triggerId: trigger.id, decisionId: decision.decisionId };
    // No room left on the channel for this customer (a contact limit, no consent): nothing to push.
    if (decision.engine.limit === 0) return { ...decided, status: 'suppressed', offers: [] };
    if (decision.engine.offers.length === 0) return { ...decided, status: 'no_offer', offers: [] };
    // Erased while the decision was made: push nothing (the erasure's second sweep takes the rest).
    if (this.deps.erased.covers(event.customerId)) return { eventId, status: 'erased' };
    const adviserId = trigger.adviser ? await this.adviserOf(event.customerId, profile.attributes) : null;
    const push: TriggerPush = {
      eventId,
      eventType: event.type,
      triggerId: trigger.id,
      customerId: event.customerId,
      adviserId,
      at: event.at === undefined ? clock() : Date.parse(event.at),
      attributes,
    };
    const json = this.deps.publisher.encode(push, decision);
    const sessions = this.deps.publisher.publish(
      json,
      trigger.subscribers ? event.customerId : null,
      adviserId,
    );
    const webhooks = await this.queue(trigger, decision, event.customerId, json);
    return {
      ...decided,
      status: 'triggered',
      offers: decision.engine.offers.map((o) => o.offer.id),
      adviserId,
      sessions,
      webhooks,
    };
  }

  /** The adviser whose book the customer is in, else the one the profile names. */
  private async adviserOf(
    customerId: string,
    attributes: Readonly<Record<string, AttributeValue>>,
  ): Promise<string | null> {
    const booked = await this.deps.books.adviserOf(customerId);
    if (booked !== null) return booked;
    const named = attributes[ADVISER_ATTRIBUTE];
    return typeof named === 'string' && named !== '' ? named : null;
  }

  private async queue(
    trigger: CompiledTrigger,
    decision: DecisionResult,
    customerId: string,
    json: string,
  ): Promise<number> {
    if (trigger.webhooks.length === 0) return 0;
    const now = this.deps.clock();
    for (const webhook of trigger.webhooks) {
      await this.deps.outbox.add(
        {
          id: `${decision.decisionId}:${webhook}`,
          webhook,
          customerId,
          body: json,
          attempts: 0,
          createdAt: now,
          lastError: null,
        },
        // Due at once: the dispatcher runs on the real clock, not on the business clock of `now`.
        0,
      );
    }
    this.deps.queued();
    return trigger.webhooks.length;
  }
}

function observed(observer: TriggerServiceDeps['observer'], receipt: EventReceipt): EventReceipt {
  observer?.(receipt);
  return receipt;
}
