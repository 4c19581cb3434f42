import type { AttributeValue } from '../domain/profile.js';
import { BadRequestError, NotFoundError } from '../errors.js';
import type { CallRegistry, CallState } from '../store/call-registry.js';
import { normalizePhone, type PhoneDirectory, phoneOf } from '../store/phone-directory.js';
import type { ProfileStore } from '../store/profile-store.js';
import type { DecisionResult, DecisionService } from './decision-service.js';
import type { Dossier, DossierService } from './dossier-service.js';

type Context = Readonly<Record<string, AttributeValue>>;

/** What telephony (CTI) reports about a call: POST /v1/interactions/calls. */
export type CallEvent =
  | {
      readonly type: 'call.started';
      readonly callId: string;
      readonly agentId: string;
      readonly customerId?: string;
      readonly phone?: string;
      readonly context?: Context;
    }
  | {
      readonly type: 'call.context';
      readonly callId: string;
      readonly reason?: string;
      readonly intent?: string;
      readonly context?: Context;
    }
  | { readonly type: 'call.ended'; readonly callId: string };

/** What a call event did: who it was about, what was decided, how many sessions here got the push. */
export interface CallOutcome {
  readonly callId: string;
  readonly event: CallEvent['type'];
  readonly agentId: string;
  readonly customerId: string | null;
  readonly customerKnown: boolean;
  readonly decisionId: string | null;
  readonly offers: readonly string[];
  readonly sessions: number;
}

export interface CallServiceDeps {
  readonly decisions: Pick<DecisionService, 'decide'>;
  readonly dossiers: Pick<DossierService, 'dossier'>;
  readonly profiles: Pick<ProfileStore, 'get'>;
  readonly phones: PhoneDirectory;
  readonly callRegistry: CallRegistry;
  /** Where pushes go: the agent's and the customer's WebSocket sessions (ws/call-publisher.ts). */
  readonly publisher: CallPublisher;
  readonly clock: () => number;
}

/** What a call event pushes to the agent's screens, beside its decision. */
export interface CallPush {
  readonly event: 'call.started' | 'call.context' | 'call.ended';
  readonly callId: string;
  readonly agentId: string;
  readonly customerId: string | null;
  readonly customerKnown: boolean;
  readonly at: number;
  readonly context?: Readonly<Record<string, unknown>>;
  /** On call.started and call.context: what the agent sees of the caller, as GET /v1/customers/:id. */
  readonly dossier?: Dossier;
}

/** Delivers a call push with its decision; answers how many sessions of this server got it. */
export interface CallPublisher {
  publish(push: CallPush, decision: DecisionResult | null): number;
}

/**
 * The call center's real-time path: on call.started, decide for the caller and push the dossier and
 * the offers to the agent's screens; on call.context, decide again with what the agent learned and
 * push the change, with the dossier read again (an outcome during the call, a purchase, changes the
 * relationship the agent sees); on call.ended, tell the screens to clear.
 */
export class CallService {
  constructor(private readonly deps: CallServiceDeps) {}

  async handle(event: CallEvent): Promise<CallOutcome> {
    switch (event.type) {
      case 'call.started':
        return this.started(event);
      case 'call.context':
        return this.context(event);
      case 'call.ended':
        return this.ended(event.callId);
    }
  }

  private async started(event: Extract<CallEvent, { type: 'call.started' }>): Promise<CallOutcome> {
    if ((event.customerId === undefined) === (event.phone === undefined)) {
      throw new BadRequestError('call.started names the caller by customerId or by phone (one of the two)');
    }
    const customerId = event.customerId ?? (await this.resolvePhone(event.phone!));
    const call: CallState = {
      callId: event.callId,
      agentId: event.agentId,
      customerId,
      customerKnown: false,
      context: event.context ?? {},
      reason: null,
      startedAt: this.deps.clock(),
    };
    if (customerId === null) {
      await this.deps.callRegistry.put(call);
      return this.push(call, 'call.started', null, null);
    }
    const [decision, dossier] = await Promise.all([this.decide(call), this.dossierOf(customerId)]);
    const known = { ...call, customerKnown: decision.customerKnown };
    await this.deps.callRegistry.put(known);
    return this.push(known, 'call.started', decision, dossier);
  }

  private async context(event: Extract<CallEvent, { type: 'call.context' }>): Promise<CallOutcome> {
    const before = await this.deps.callRegistry.get(event.callId);
    if (before === null) throw new NotFoundError(`no call '${event.callId}' in progress`);
    const call: CallState = {
      ...before,
      context: {
        ...before.context,
        ...event.context,
        ...(event.intent === undefined ? {} : { intent: event.intent }),
      },
      reason: event.reason ?? before.reason,
    };
    await this.deps.callRegistry.put(call);
    if (call.customerId === null) return this.push(call, 'call.context', null, null);
    const [decision, dossier] = await Promise.all([this.decide(call), this.dossierOf(call.customerId)]);
    return this.push(call, 'call.context', decision, dossier);
  }

  private async ended(callId: string): Promise<CallOutcome> {
    const call = await this.deps.callRegistry.end(callId);
    if (call === null) throw new NotFoundError(`no call '${callId}' in progress`);
    return this.push(call, 'call.ended', null, null);
  }

  private decide(call: CallState): Promise<DecisionResult> {
    return this.deps.decisions.decide({
      customerId: call.customerId!,
      channel: 'call_center',
      context: call.context,
      // One call is one contact, however often it is decided again.
      contactSince: call.startedAt,
    });
  }

  private async dossierOf(customerId: string): Promise<Dossier | null> {
    try {
      return await this.deps.dossiers.dossier(customerId);
    } catch (err) {
      if (err instanceof NotFoundError) return null;
      throw err;
    }
  }

  /** The customer with this number, confirmed by the profile itself (the directory may be stale). */
  private async resolvePhone(raw: string): Promise<string | null> {
    const phone = normalizePhone(raw);
    if (phone === null) return null;
    const customerId = await this.deps.phones.lookup(phone);
    if (customerId === null) return null;
    const { profile } = await this.deps.profiles.get(customerId);
    return profile !== null && phoneOf(profile) === phone ? customerId : null;
  }

  private push(
    call: CallState,
    event: CallEvent['type'],
    decision: DecisionResult | null,
    dossier: Dossier | null,
  ): CallOutcome {
    const sessions = this.deps.publisher.publish(
      {
        event,
        callId: call.callId,
        agentId: call.agentId,
        customerId: call.customerId,
        customerKnown: call.customerKnown,
        at: this.deps.clock(),
        ...(event === 'call.context' ? { context: { ...call.context, reason: call.reason } } : {}),
        ...(dossier === null ? {} : { dossier }),
      },
      decision,
    );
    return {
      callId: call.callId,
      event,
      agentId: call.agentId,
      customerId: call.customerId,
      customerKnown: call.customerKnown,
      decisionId: decision?.decisionId ?? null,
      offers: decision?.engine.offers.map((o) => o.offer.id) ?? [],
      sessions,
    };
  }
}
