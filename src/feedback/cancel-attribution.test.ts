import { describe, expect, it } from 'vitest';
import type { ContactEvent, ContactOutcome } from '../domain/contact.js';
import { cancelCounters, cancelRecord, episodesCancelled } from './cancel-attribution.js';
import { dayOf } from './feedback-effects.js';

const H = 3_600_000;
const DAY = 24 * H;
const WINDOW = 7 * DAY;
const T0 = Date.UTC(2026, 0, 5);

const event = (outcome: ContactOutcome, offerId: string, campaignId: string, at: number): ContactEvent => ({
  offerId,
  campaignId,
  channel: 'web',
  outcome,
  at,
});
const shown = (offerId: string, campaignId: string, at: number) =>
  event('impression', offerId, campaignId, at);
const heldOut = (offerId: string, campaignId: string, at: number) =>
  event('held_out', offerId, campaignId, at);
const cancelled = (at: number): ContactEvent => ({ ...event('cancel', '', '', at), productId: 'card' });

describe('retention: cancels per customer episode', () => {
  it('a cancel counts against every campaign episode open then, treated or control, on the opening day and offer', () => {
    const history = [
      shown('stay-fee', 'stay', T0),
      shown('stay-bonus', 'stay', T0 + DAY),
      heldOut('loan-web', 'loans', T0 + 2 * DAY),
    ];
    expect(cancelCounters(history, T0 + 3 * DAY, WINDOW)).toEqual([
      { day: dayOf(T0), field: 'stay-fee|web|-|customerCancels', amount: 1, float: false },
      { day: dayOf(T0 + 2 * DAY), field: 'loan-web|web|-|controlCustomerCancels', amount: 1, float: false },
    ]);
  });

  it('an episode counts its first cancel only; a cancel after the episode closed counts nothing', () => {
    const history = [shown('stay-fee', 'stay', T0)];
    expect(episodesCancelled(history, T0 + DAY, WINDOW)).toHaveLength(1);
    // The first cancel is in the history now: a second one in the same episode counts nothing.
    expect(episodesCancelled([...history, cancelled(T0 + DAY)], T0 + 2 * DAY, WINDOW)).toEqual([]);
    // A cancel before the episode opened does not count as its cancel.
    expect(episodesCancelled([cancelled(T0 - DAY), ...history], T0 + DAY, WINDOW)).toHaveLength(1);
    // The episode is over: nothing is open to count against.
    expect(episodesCancelled(history, T0 + 8 * DAY, WINDOW)).toEqual([]);
    // A touch after the cancel is not a touch before it.
    expect(episodesCancelled(history, T0 - H, WINDOW)).toEqual([]);
  });

  it('the cancel is recorded against the latest touch, on its own channel if it has one', () => {
    const history = [shown('stay-fee', 'stay', T0), heldOut('loan-web', 'loans', T0 + DAY)];
    expect(cancelRecord(history, { productId: 'card', at: T0 + 2 * DAY, channel: null }, WINDOW)).toEqual({
      offerId: 'loan-web',
      campaignId: 'loans',
      channel: 'web',
      outcome: 'cancel',
      at: T0 + 2 * DAY,
      productId: 'card',
    });
    expect(cancelRecord([], { productId: 'card', at: T0, channel: 'call_center' }, WINDOW)).toEqual({
      offerId: '',
      campaignId: '',
      channel: 'call_center',
      outcome: 'cancel',
      at: T0,
      productId: 'card',
    });
    // No touch, no channel: no episode is open, and the journey has nowhere to put it.
    expect(cancelRecord([], { productId: 'card', at: T0, channel: null }, WINDOW)).toBeNull();
  });
});
