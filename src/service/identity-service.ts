import type { CustomerProfile } from '../domain/profile.js';
import { BadRequestError, NotFoundError, OfferloopError } from '../errors.js';
import { applyFacts, judgeStage, mergeFacts, mergeProfiles } from '../learning/profile-learning.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { ErasedIds } from '../store/erased-ids.js';
import type { IdentityLink, IdentityStore, LinkRefusal } from '../store/identity-store.js';
import type { LearnedFactsStore } from '../store/learned-facts-store.js';
import type { ProfileStore } from '../store/profile-store.js';

export interface IdentityServiceDeps {
  readonly identities: IdentityStore;
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  readonly learned: LearnedFactsStore;
  readonly rules: Pick<RulesetHolder, 'current'>;
  /** Tells every server to forget its memory copy of an id (profile, history, identity). */
  readonly announceProfileChange: (customerId: string) => Promise<void>;
  readonly clock: () => number;
  /** Erased ids: an erased anonymous id is not linked (its link would be a trace of it again). */
  readonly erased?: Pick<ErasedIds, 'covers'> | undefined;
}

export interface LinkResult {
  readonly link: IdentityLink;
  /** The same link was made before: nothing changed. */
  readonly existed: boolean;
  /** Contacts of the anonymous id moved into the customer's history. */
  readonly contactsMerged: number;
}

/** 409: a link that would contradict the links there are; nothing was changed. */
export class IdentityConflictError extends OfferloopError {
  constructor(message: string) {
    super('identity_conflict', 409, message);
  }
}

/**
 * Links an anonymous id to the customer it turns out to be, and merges what the anonymous id did
 * into the customer: contact history (so contact policy counts across both, and the journey holds
 * both), the profile a lead form gave it (the customer's attributes win) and what its outcomes
 * taught. Decisions and outcomes for the anonymous id are the customer's from then on.
 */
export class IdentityService {
  constructor(private readonly deps: IdentityServiceDeps) {}

  async link(anonymousId: string, customerId: string): Promise<LinkResult> {
    const { identities, profiles } = this.deps;
    if (anonymousId === customerId)
      throw new BadRequestError('anonymousId and customerId are the same id: a link joins two ids');
    if (this.deps.erased?.covers(anonymousId))
      throw new IdentityConflictError(`anonymousId '${anonymousId}' was erased: it is not linked again`);
    const [anonymous, customer, chained] = await Promise.all([
      profiles.get(anonymousId),
      profiles.get(customerId),
      identities.resolve(customerId),
    ]);
    // Before the 404: a linked anonymous id has no profile of its own (it was merged), yet it is known.
    if (chained !== null)
      throw new IdentityConflictError(
        refusalMessage(anonymousId, customerId, { reason: 'customer_is_linked', customerId: chained }),
      );
    if (customer.profile === null) throw new NotFoundError(`no customer '${customerId}'`);
    if (customer.profile.attributes.anonymous === true)
      throw new IdentityConflictError(
        `'${customerId}' is an anonymous id (a lead nobody has identified): link it to a customer`,
      );
    if (anonymous.profile !== null && anonymous.profile.attributes.anonymous !== true)
      throw new IdentityConflictError(`'${anonymousId}' is a customer id: two customers are not merged`);
    const outcome = await identities.link(anonymousId, customerId, this.deps.clock());
    if (!outcome.linked) throw new IdentityConflictError(refusalMessage(anonymousId, customerId, outcome));
    if (outcome.existed) return { link: outcome.link, existed: true, contactsMerged: 0 };
    const contactsMerged = await this.merge(anonymousId, customerId, anonymous.profile);
    return { link: outcome.link, existed: false, contactsMerged };
  }

  /** Moves the anonymous id's history, profile and facts into the customer's; returns the contacts moved. */
  private async merge(
    anonymousId: string,
    customerId: string,
    anonymous: CustomerProfile | null,
  ): Promise<number> {
    const { history, profiles, learned, rules, announceProfileChange, clock } = this.deps;
    const { events } = await history.read(anonymousId);
    if (events.length > 0) await history.append(customerId, events);
    const [anonymousFacts, read] = await Promise.all([learned.get(anonymousId), learned.read(customerId)]);
    const now = clock();
    const cause = `identified as the anonymous id ${anonymousId}`;
    const facts = mergeFacts(read.facts, anonymousFacts);
    let judged = facts;
    await profiles.update(customerId, (current) => {
      if (current === null) return null;
      const merged = anonymous === null ? current : mergeProfiles(current, anonymous);
      judged = judgeStage(facts, merged, rules.current.lifecycle, now, cause);
      return applyFacts(merged, judged);
    });
    // Facts written meanwhile (an outcome of the customer) are rare: merged into them, unjudged till the next.
    if (!(await learned.replace(customerId, read, judged)))
      await learned.update(customerId, (current) => mergeFacts(current, anonymousFacts));
    await Promise.all([history.erase(anonymousId), profiles.delete(anonymousId), learned.erase(anonymousId)]);
    await Promise.all([announceProfileChange(anonymousId), announceProfileChange(customerId)]);
    return events.length;
  }
}

function refusalMessage(anonymousId: string, customerId: string, refusal: LinkRefusal): string {
  switch (refusal.reason) {
    case 'linked_elsewhere':
      return `'${anonymousId}' is linked to another customer ('${refusal.customerId}'); an anonymous id belongs to one customer`;
    case 'customer_is_linked':
      return `'${customerId}' is itself an anonymous id linked to '${refusal.customerId}': link to that customer (links do not chain)`;
    case 'anonymous_is_customer':
      return `'${anonymousId}' has anonymous ids linked to it: it is a customer id, not an anonymous one`;
  }
}
