import type { CounterIncrement } from '../feedback-effects.js';
import type { LogEntry } from '../feedback-event.js';

/**
 * What an entry of the feedback log does to its customer beyond the counters every entry adds:
 * an outcome or a conversion is credited to the customer's recent decisions (history, per-customer
 * counters), and outcomes teach the profile (holdings, relationship value, lifecycle stage).
 * Implemented above the logs (src/service/customer-loop-service.ts), which hold the stores it needs;
 * the embedded log applies it at once, Redis' feedback consumers before they acknowledge an entry.
 */
export interface CustomerLoop {
  /**
   * Applies the entry and returns the counters of its credit. Idempotent: an entry delivered again
   * changes nothing twice. Rejects while a store it needs is unreachable (the entry comes back).
   */
  apply(entry: LogEntry): Promise<readonly CounterIncrement[]>;
  /** The customer an id stands for: itself, or the customer an anonymous id is linked to. */
  resolve(customerId: string): Promise<string>;
}

/** The entries a customer loop has work for: outcomes, conversions and accepts of shown offers. */
export function concernsCustomer(entry: LogEntry): boolean {
  if (entry.kind === 'outcome') return true;
  return (
    entry.kind === 'feedback' &&
    !(entry.attribution.heldOut && entry.event.type !== 'convert') &&
    (entry.event.type === 'convert' || entry.event.type === 'accept')
  );
}
