import { describe, expect, it } from 'vitest';
import { MemoryContactHistoryStore } from '../../store/contact-history-store.js';
import type { DecisionLogEntry } from '../feedback-event.js';
import { MemoryFeedbackLog } from './memory-feedback-log.js';

const decision = (n: number): DecisionLogEntry => ({
  decisionId: `d${n}`,
  customerId: 'c1',
  channel: 'web',
  placement: null,
  rulesetVersion: 'v1',
  at: 1_000 + n,
  offers: [],
  heldOut: [],
});

describe('MemoryFeedbackLog', () => {
  it('keeps the newest entries, oldest first, however many came before', () => {
    const log = new MemoryFeedbackLog(new MemoryContactHistoryStore(), {
      windows: { reactionMs: 1, conversionMs: 1 },
      maxDecisions: 10,
      maxEntries: 3,
      clock: () => 1_000,
    });
    log.recordDecision(decision(1));
    log.recordDecision(decision(2));
    const ids = () =>
      log.entries().map((e) => (e.kind === 'decision' ? e.decision.decisionId : e.event.eventId));
    expect(ids()).toEqual(['d1', 'd2']);
    for (let n = 3; n <= 7; n++) log.recordDecision(decision(n));
    expect(ids()).toEqual(['d5', 'd6', 'd7']);
  });
});
