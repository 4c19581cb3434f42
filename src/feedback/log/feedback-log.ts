import type { DecisionLogEntry, FeedbackVerdict, SubmittedEvent } from '../feedback-event.js';

/** How the log is doing, for /health/ready and operators. */
export interface FeedbackLogHealth {
  /** `direct`: writing to the shared log; `spooling`: Redis is away, events go to the local spool. */
  readonly mode: 'embedded' | 'direct' | 'spooling' | 'draining';
  readonly spool: { readonly segments: number; readonly bytes: number; readonly openLines: number };
  /** Decision entries that could be written neither to Redis nor to the spool (a failing disk). */
  readonly decisionsLost: number;
}

/**
 * The closed-loop feedback log: every decision and every reaction to it. Decisions are recorded
 * without making the response wait; reactions are judged against their decision and acknowledged
 * only once durable.
 */
export interface FeedbackLog {
  /** Records a decision. Never waits and never throws: buffered, then written to the log or the spool. */
  recordDecision(entry: DecisionLogEntry): void;
  /**
   * Judges each reaction against its decision, and each outcome by its event id alone (the service
   * checked the rest), and records the accepted ones. Resolves, one verdict per event in order, only
   * when every accepted (or queued) event is durable.
   */
  submit(events: readonly SubmittedEvent[], receivedAt: number): Promise<FeedbackVerdict[]>;
  health(): FeedbackLogHealth;
  /** Writes out everything buffered and stops taking more. */
  close(): Promise<void>;
}
