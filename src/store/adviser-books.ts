/**
 * Advisers' books of customers as the CRM loads them (`PUT /v1/advisers/:id/book`): which adviser
 * a customer belongs to, and every customer of an adviser. A customer is in one book at most; a
 * book put again replaces the adviser's customers.
 */
export interface AdviserBooks {
  /** Replaces the adviser's book; customers in another adviser's book move to this one. */
  put(adviserId: string, customerIds: readonly string[]): Promise<void>;
  book(adviserId: string): Promise<readonly string[]>;
  adviserOf(customerId: string): Promise<string | null>;
  /** Takes the customers out of every book (erasure); answers how many were in one. */
  forget(customerIds: readonly string[]): Promise<number>;
}

export class MemoryAdviserBooks implements AdviserBooks {
  private readonly books = new Map<string, Set<string>>();
  private readonly advisers = new Map<string, string>();

  put(adviserId: string, customerIds: readonly string[]): Promise<void> {
    for (const customerId of this.books.get(adviserId) ?? []) this.advisers.delete(customerId);
    const book = new Set(customerIds);
    for (const customerId of book) {
      const before = this.advisers.get(customerId);
      if (before !== undefined && before !== adviserId) this.books.get(before)?.delete(customerId);
      this.advisers.set(customerId, adviserId);
    }
    if (book.size === 0) this.books.delete(adviserId);
    else this.books.set(adviserId, book);
    return Promise.resolve();
  }

  book(adviserId: string): Promise<readonly string[]> {
    return Promise.resolve([...(this.books.get(adviserId) ?? [])]);
  }

  adviserOf(customerId: string): Promise<string | null> {
    return Promise.resolve(this.advisers.get(customerId) ?? null);
  }

  forget(customerIds: readonly string[]): Promise<number> {
    let n = 0;
    for (const customerId of customerIds) {
      const adviserId = this.advisers.get(customerId);
      if (adviserId === undefined) continue;
      this.advisers.delete(customerId);
      const book = this.books.get(adviserId);
      book?.delete(customerId);
      if (book?.size === 0) this.books.delete(adviserId);
      n++;
    }
    return Promise.resolve(n);
  }
}
