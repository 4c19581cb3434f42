/**
 * Links between the ids a person has: anonymous ids (a website's first-party visitor id, an app's
 * install id) and the customer id they turn out to be. A link goes one way, from an anonymous id to
 * a customer id, and never chains: a customer id is never itself linked, and an anonymous id is
 * linked to one customer at most (docs/decisions/0008-identities-and-journeys.md).
 */
export interface IdentityLink {
  readonly anonymousId: string;
  readonly customerId: string;
  /** When it was linked (the server's clock). */
  readonly at: number;
}

/** Why a link cannot be made; nothing was changed. */
export type LinkRefusal =
  /** The anonymous id is linked to another customer already. */
  | { readonly reason: 'linked_elsewhere'; readonly customerId: string }
  /** The customer id is itself an anonymous id linked to someone: links never chain. */
  | { readonly reason: 'customer_is_linked'; readonly customerId: string }
  /** The anonymous id has anonymous ids linked to it: it is somebody's customer id. */
  | { readonly reason: 'anonymous_is_customer' };

export type LinkOutcome =
  | { readonly linked: true; readonly link: IdentityLink; readonly existed: boolean }
  | ({ readonly linked: false } & LinkRefusal);

export interface IdentityStore {
  /** The customer an anonymous id is linked to, or null: use the id as it is. */
  resolve(id: string): Promise<string | null>;
  /** Links an anonymous id to a customer; linking the same pair again changes nothing. */
  link(anonymousId: string, customerId: string, at: number): Promise<LinkOutcome>;
  /** The anonymous ids linked to a customer, oldest first. */
  linksOf(customerId: string): Promise<readonly IdentityLink[]>;
  /** Removes every link of the customer (erasure); returns the anonymous ids that were linked. */
  erase(customerId: string): Promise<readonly string[]>;
}

/** Links kept per customer: a person has a few devices and browsers, not thousands. */
export const MAX_LINKS_PER_CUSTOMER = 50;

/** The embedded store's links: two maps, as long as the process lives. */
export class MemoryIdentityStore implements IdentityStore {
  private readonly customerOf = new Map<string, IdentityLink>();
  private readonly linksByCustomer = new Map<string, IdentityLink[]>();

  resolve(id: string): Promise<string | null> {
    return Promise.resolve(this.customerOf.get(id)?.customerId ?? null);
  }

  link(anonymousId: string, customerId: string, at: number): Promise<LinkOutcome> {
    return Promise.resolve(this.linkNow(anonymousId, customerId, at));
  }

  private linkNow(anonymousId: string, customerId: string, at: number): LinkOutcome {
    const existing = this.customerOf.get(anonymousId);
    if (existing !== undefined) {
      if (existing.customerId === customerId) return { linked: true, link: existing, existed: true };
      return { linked: false, reason: 'linked_elsewhere', customerId: existing.customerId };
    }
    const chained = this.customerOf.get(customerId);
    if (chained !== undefined)
      return { linked: false, reason: 'customer_is_linked', customerId: chained.customerId };
    if ((this.linksByCustomer.get(anonymousId)?.length ?? 0) > 0)
      return { linked: false, reason: 'anonymous_is_customer' };
    const link: IdentityLink = { anonymousId, customerId, at };
    this.customerOf.set(anonymousId, link);
    const links = [...(this.linksByCustomer.get(customerId) ?? []), link];
    // The oldest link goes when a customer has too many: it forgets that id, as erasure would.
    while (links.length > MAX_LINKS_PER_CUSTOMER) this.customerOf.delete(links.shift()!.anonymousId);
    this.linksByCustomer.set(customerId, links);
    return { linked: true, link, existed: false };
  }

  linksOf(customerId: string): Promise<readonly IdentityLink[]> {
    return Promise.resolve(this.linksByCustomer.get(customerId) ?? []);
  }

  erase(customerId: string): Promise<readonly string[]> {
    const links = this.linksByCustomer.get(customerId) ?? [];
    for (const l of links) this.customerOf.delete(l.anonymousId);
    this.linksByCustomer.delete(customerId);
    return Promise.resolve(links.map((l) => l.anonymousId));
  }
}
