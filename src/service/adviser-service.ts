import type { Channel } from '../domain/channel.js';
import type { AdviserBooks } from '../store/adviser-books.js';
import type { ErasedIds } from '../store/erased-ids.js';
import type { DecisionResult, DecisionService } from './decision-service.js';

/** One line of an adviser's "customers to contact today": the customer and their next best action. */
export interface TodayEntry {
  readonly customerId: string;
  /** The score of the best offer: its expected value for the business, net of the contact's cost. */
  readonly expectedValue: number;
  readonly offerId: string;
  readonly offerName: string;
  readonly campaignId: string;
  readonly propensity: number;
  readonly reasons: readonly string[];
}

export interface TodayList {
  readonly adviserId: string;
  readonly channel: Channel;
  /** Customers in the book. */
  readonly bookSize: number;
  /** The top `limit`, best expected value first. */
  readonly customers: readonly TodayEntry[];
  /** Customers in the book with no action today: contact policy (caps, consent), nothing eligible, no profile. */
  readonly withoutAction: number;
}

export interface AdviserServiceDeps {
  readonly books: AdviserBooks;
  readonly decisions: Pick<DecisionService, 'decide'>;
  /** Erased ids are left out of a book, as a bulk load leaves them out (docs/decisions/0009-erasure.md). */
  readonly erased: Pick<ErasedIds, 'covers'>;
}

/** Previews of a book decided at once: enough to keep Redis busy, few enough not to crowd out live decisions. */
const CONCURRENCY = 16;
/** Books larger than this are refused: the list is for a person's day, not an outbound campaign. */
export const MAX_BOOK = 10_000;

/**
 * Advisers: their books of customers (loaded by the CRM), and the customers to contact today,
 * ranked by the expected value of each one's next best action. The list is made of previews:
 * contact policy, caps and consent apply, and nothing is recorded (the adviser has not called yet).
 */
export class AdviserService {
  constructor(private readonly deps: AdviserServiceDeps) {}

  /** Answers how many customers the book holds: the ids given, once each, less the erased. */
  async putBook(adviserId: string, customerIds: readonly string[]): Promise<number> {
    const kept = [...new Set(customerIds)].filter((id) => !this.deps.erased.covers(id));
    await this.deps.books.put(adviserId, kept);
    return kept.length;
  }

  book(adviserId: string): Promise<readonly string[]> {
    return this.deps.books.book(adviserId);
  }

  async today(adviserId: string, channel: Channel, limit: number): Promise<TodayList> {
    const book = await this.deps.books.book(adviserId);
    const entries: TodayEntry[] = [];
    let next = 0;
    const work = async () => {
      while (next < book.length) {
        const customerId = book[next++]!;
        const decision = await this.deps.decisions.decide({ customerId, channel, limit: 1, preview: true });
        const entry = entryOf(decision);
        if (entry !== null) entries.push(entry);
      }
    };
    await Promise.all(Array.from({ length: Math.min(CONCURRENCY, book.length) }, work));
    entries.sort((a, b) => b.expectedValue - a.expectedValue || (a.customerId < b.customerId ? -1 : 1));
    return {
      adviserId,
      channel,
      bookSize: book.length,
      customers: entries.slice(0, limit),
      withoutAction: book.length - entries.length,
    };
  }
}

function entryOf(decision: DecisionResult): TodayEntry | null {
  const best = decision.engine.offers[0];
  if (best === undefined || !decision.customerKnown) return null;
  return {
    customerId: decision.customerId,
    expectedValue: Math.round(best.score * 100) / 100,
    offerId: best.offer.id,
    offerName: best.offer.name,
    campaignId: best.offer.campaign.id,
    propensity: best.propensity,
    reasons: best.reasons,
  };
}
