import { describe, expect, it } from 'vitest';
import { type ContactEvent, type ContactOutcome, isTouch } from '../domain/contact.js';
import { Rng } from '../domain/random.js';
import { creditOf, episodeOpener, episodesOpened } from './customer-attribution.js';
import { customerCounters } from './feedback-effects.js';

const H = 3_600_000;
const DAY = 24 * H;
const WINDOW = 7 * DAY;
const T0 = Date.UTC(2026, 0, 5);

const PRODUCTS: Record<string, string> = {
  'gold-cc': 'gold-card',
  'gold-web': 'gold-card',
  'loan-web': 'car-loan',
};
const productOf = (offerId: string) => PRODUCTS[offerId];

function event(
  outcome: ContactOutcome,
  offerId: string,
  campaignId: string,
  at: number,
  extra: Partial<ContactEvent> = {},
): ContactEvent {
  return {
    offerId,
    campaignId,
    channel: offerId.endsWith('-cc') ? 'call_center' : 'web',
    outcome,
    at,
    ...extra,
  };
}
const shown = (offerId: string, campaignId: string, at: number) =>
  event('impression', offerId, campaignId, at);
const heldOut = (offerId: string, campaignId: string, at: number) =>
  event('held_out', offerId, campaignId, at);

describe('episodes', () => {
  it('a campaign counts a customer once per conversion window: the first touch opens, later ones belong to it', () => {
    const history = [shown('gold-cc', 'cards', T0), shown('gold-web', 'cards', T0 + 2 * DAY)];
    expect(episodeOpener([], 'cards', T0, WINDOW)).toBeNull();
    expect(episodeOpener(history, 'cards', T0 + 3 * DAY, WINDOW)?.at).toBe(T0);
    // The window closed: the next touch opens a new episode.
    expect(episodeOpener(history, 'cards', T0 + 8 * DAY, WINDOW)).toBeNull();
    // Another campaign's touches do not open this one's.
    expect(episodeOpener(history, 'loans', T0 + DAY, WINDOW)).toBeNull();
  });

  it('episodes are fixed from their opener: a touch every day does not stretch one episode for ever', () => {
    const daily = Array.from({ length: 10 }, (_, d) => shown('gold-web', 'cards', T0 + d * DAY));
    expect(episodeOpener(daily, 'cards', T0 + 6 * DAY, WINDOW)?.at).toBe(T0);
    expect(episodeOpener(daily, 'cards', T0 + 8 * DAY, WINDOW)?.at).toBe(T0 + 8 * DAY);
    expect(episodeOpener(daily, 'cards', T0 + 9 * DAY, WINDOW)?.at).toBe(T0 + 8 * DAY);
  });
  it('in any order of the history, the opener is the one of the episodes chained in time order', () => {
    // The rule as written: sort the campaign's touches up to `at`, chain episodes from the first.
    const byTheRule = (history: readonly ContactEvent[], campaignId: string, at: number) => {
      const touches = history
        .filter((e) => isTouch(e.outcome) && e.campaignId === campaignId && e.at <= at)
        .sort((a, b) => a.at - b.at);
      let opener: ContactEvent | null = null;
      for (const e of touches) if (opener === null || e.at > opener.at + WINDOW) opener = e;
      return opener !== null && at <= opener.at + WINDOW ? opener : null;
    };
    const rng = new Rng(7, 'episodes');
    const outcomes: ContactOutcome[] = ['impression', 'held_out', 'accept', 'click'];
    for (let round = 0; round < 500; round++) {
      const history = Array.from({ length: rng.int(0, 30) }, () =>
        event(rng.pick(outcomes), 'gold-web', rng.pick(['cards', 'loans']), T0 + rng.int(0, 40) * 12 * H),
      );
      const at = T0 + rng.int(0, 45) * 12 * H;
      const expected = byTheRule(history, 'cards', at);
      const got = episodeOpener(history, 'cards', at, WINDOW);
      expect(got === null ? null : [got.at, got.heldOut]).toEqual(
        expected === null ? null : [expected.at, expected.outcome === 'held_out'],
      );
    }
  });
});

describe('episodesOpened', () => {
  it('a decision opens one episode per campaign that has none open, at its first touch of it', () => {
    const before = [shown('loan-web', 'loans', T0)];
    const touches = [
      shown('gold-cc', 'cards', T0 + DAY),
      heldOut('gold-web', 'cards', T0 + DAY),
      shown('loan-web', 'loans', T0 + DAY),
    ];
    expect([...episodesOpened(before, touches, T0 + DAY, WINDOW)]).toEqual(['gold-cc']);
    expect([...episodesOpened(before, touches, T0 + 8 * DAY, WINDOW)]).toEqual(['gold-cc', 'loan-web']);
  });
});

describe('creditOf', () => {
  it('credits the latest touch of an offer for the product within the window (the worked example of ADR 0007)', () => {
    // Monday: a phone pitch of the gold card; Wednesday: a web banner for it and one for a car loan;
    // Friday the order system reports the gold card bought.
    const history = [
      shown('gold-cc', 'cards', T0),
      shown('gold-web', 'cards', T0 + 2 * DAY),
      shown('loan-web', 'loans', T0 + 2 * DAY),
    ];
    const credit = creditOf(history, { productId: 'gold-card', at: T0 + 4 * DAY }, productOf, WINDOW);
    expect(credit?.touch).toMatchObject({ offerId: 'gold-web', campaignId: 'cards', heldOut: false });
    expect(credit?.opener).toMatchObject({ offerId: 'gold-cc', at: T0 });
    expect(credit?.converts).toBe(true);
    expect(customerCounters(credit!, 250)).toEqual([
      { day: T0 / DAY, field: 'gold-cc|call_center|-|customerConversions', amount: 1, float: false },
      { day: T0 / DAY, field: 'gold-cc|call_center|-|customerRevenue', amount: 250, float: true },
    ]);
  });

  it('credits a held-out offer alike: the control customer converts through the same rule', () => {
    const credit = creditOf(
      [heldOut('gold-web', 'cards', T0)],
      { productId: 'gold-card', at: T0 + DAY },
      productOf,
      WINDOW,
    );
    expect(credit?.touch.heldOut).toBe(true);
    expect(customerCounters(credit!, null)).toEqual([
      { day: T0 / DAY, field: 'gold-web|web|-|controlCustomerConversions', amount: 1, float: false },
    ]);
  });

  it('credits nothing without a touch of the product, after the window, or before the touch', () => {
    const history = [shown('loan-web', 'loans', T0), shown('gold-web', 'cards', T0 + 5 * DAY)];
    expect(creditOf(history, { productId: 'gold-card', at: T0 + DAY }, productOf, WINDOW)).toBeNull();
    expect(creditOf(history, { productId: 'gold-card', at: T0 + 13 * DAY }, productOf, WINDOW)).toBeNull();
    expect(creditOf(history, { productId: 'savings', at: T0 + 6 * DAY }, productOf, WINDOW)).toBeNull();
  });

  it('an episode converts once: the purchase after the channel’s convert adds no second conversion', () => {
    const history = [shown('gold-web', 'cards', T0), event('convert', 'gold-web', 'cards', T0 + DAY)];
    const credit = creditOf(history, { productId: 'gold-card', at: T0 + 2 * DAY }, productOf, WINDOW);
    expect(credit?.converts).toBe(false);
    expect(customerCounters(credit!, 250)).toEqual([]);
    // The next episode may convert again.
    const later = [...history, shown('gold-web', 'cards', T0 + 9 * DAY)];
    expect(creditOf(later, { productId: 'gold-card', at: T0 + 10 * DAY }, productOf, WINDOW)?.converts).toBe(
      true,
    );
  });

  it('a credited purchase marks the episode converted for a later purchase of the same campaign', () => {
    const history = [
      shown('gold-web', 'cards', T0),
      event('purchase', '', 'cards', T0 + DAY, { productId: 'gold-card', offerId: 'gold-web' }),
    ];
    expect(creditOf(history, { productId: 'gold-card', at: T0 + 2 * DAY }, productOf, WINDOW)?.converts).toBe(
      false,
    );
  });

  it('an offer the ruleset no longer has is no touch of any product', () => {
    const credit = creditOf(
      [shown('gone', 'cards', T0)],
      { productId: 'gold-card', at: T0 + DAY },
      productOf,
      WINDOW,
    );
    expect(credit).toBeNull();
  });
});
