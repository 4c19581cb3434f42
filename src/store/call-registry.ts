import { LRUCache } from 'lru-cache';
import type { AttributeValue } from '../domain/profile.js';

/** A call in progress, as the CTI events told it. */
export interface CallState {
  readonly callId: string;
  readonly agentId: string;
  /** Null: the caller's number is not known to the profile store. */
  readonly customerId: string | null;
  readonly customerKnown: boolean;
  /** What the rules see as `context.*`, grown by call.context events. */
  readonly context: Readonly<Record<string, AttributeValue>>;
  /** Why the customer called, in the agent's words: shown on the desktop, never given to the rules or logged. */
  readonly reason: string | null;
  readonly startedAt: number;
}

/** A call nobody ended is forgotten after this long (a CTI that lost the call.ended, say). */
export const CALL_TTL_MS = 4 * 3_600_000;

/** Calls in progress: where call.context and call.ended find what call.started knew. */
export interface CallRegistry {
  get(callId: string): Promise<CallState | null>;
  put(call: CallState): Promise<void>;
  /** Forgets the call and answers what it was (null: unknown). */
  end(callId: string): Promise<CallState | null>;
  /** The calls in progress of any of `customerIds` (an export). */
  callsOf(customerIds: readonly string[]): Promise<CallState[]>;
  /** Erasure: forgets every call of any of `customerIds`; answers how many. */
  forgetCustomers(customerIds: readonly string[]): Promise<number>;
}

/** Calls held by this server alone: the embedded store, and the first tier in front of Redis. */
export class MemoryCallRegistry implements CallRegistry {
  private readonly calls = new LRUCache<string, CallState>({ max: 100_000, ttl: CALL_TTL_MS });

  get(callId: string): Promise<CallState | null> {
    return Promise.resolve(this.calls.get(callId) ?? null);
  }

  put(call: CallState): Promise<void> {
    this.calls.set(call.callId, call);
    return Promise.resolve();
  }

  end(callId: string): Promise<CallState | null> {
    const call = this.calls.get(callId) ?? null;
    this.calls.delete(callId);
    return Promise.resolve(call);
  }

  callsOf(customerIds: readonly string[]): Promise<CallState[]> {
    const out: CallState[] = [];
    for (const call of this.calls.values()) {
      if (call.customerId !== null && customerIds.includes(call.customerId)) out.push(call);
    }
    return Promise.resolve(out);
  }

  async forgetCustomers(customerIds: readonly string[]): Promise<number> {
    const calls = await this.callsOf(customerIds);
    for (const call of calls) this.calls.delete(call.callId);
    return calls.length;
  }
}
