import type { Channel } from '../domain/channel.js';
import type { ContactEvent } from '../domain/contact.js';
import type { LearnedFacts } from '../learning/profile-learning.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { RulesetSnapshot } from '../ruleset/snapshot.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { IdentityLink, IdentityStore } from '../store/identity-store.js';
import type { LearnedFactsStore } from '../store/learned-facts-store.js';

/**
 * One step of a person's journey, newest first in a page:
 * - `offer`: an offer shown (channel, placement, campaign);
 * - `reaction`: what they did with one (click, accept, reject, dismiss, convert);
 * - `outcome`: a purchase, a cancel, a lead (with the campaign credited, if any);
 * - `identified`: an anonymous id of theirs was linked to them;
 * - `stage`: their lifecycle stage changed (from, to, what caused it).
 */
export interface JourneyStep {
  readonly at: string;
  readonly kind: 'offer' | 'reaction' | 'outcome' | 'identified' | 'stage';
  readonly type?: string;
  readonly channel?: Channel;
  readonly placement?: string;
  readonly offerId?: string;
  readonly campaignId?: string;
  readonly campaignName?: string;
  readonly offerName?: string;
  readonly productId?: string;
  readonly anonymousId?: string;
  readonly from?: string | null;
  readonly to?: string | null;
  readonly cause?: string;
}

export interface Journey {
  readonly customerId: string;
  /** The id asked for, when it is an anonymous id linked to the customer. */
  readonly resolvedFrom: string | null;
  readonly steps: readonly JourneyStep[];
  /** The `before` of the next page (the oldest step's time); null on the last page. */
  readonly next: string | null;
}

export interface JourneyServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly history: ContactHistoryStore;
  readonly identities: Pick<IdentityStore, 'resolve' | 'linksOf'>;
  readonly learned: Pick<LearnedFactsStore, 'get'>;
}

const CAUSED: Readonly<Record<JourneyStep['kind'], number>> = {
  stage: 0,
  identified: 1,
  outcome: 2,
  reaction: 2,
  offer: 2,
};

const REACTIONS: ReadonlySet<string> = new Set(['click', 'accept', 'reject', 'dismiss', 'convert']);
const OUTCOMES: ReadonlySet<string> = new Set(['purchase', 'cancel', 'lead']);

/**
 * A person's journey across channels and ids, read from what is kept anyway: the contact history
 * (offers shown and what became of them, bounded per person and by its retention; an anonymous id's
 * history moves into the customer's when they are linked), the identity links, and the stage
 * transitions of the learned facts. Nothing is written for it: the decision path pays nothing.
 */
export class JourneyService {
  constructor(private readonly deps: JourneyServiceDeps) {}

  async journey(
    id: string,
    page: { readonly limit: number; readonly before: number | null },
  ): Promise<Journey> {
    const { history, identities, learned, rules } = this.deps;
    const linked = await identities.resolve(id);
    const customerId = linked ?? id;
    const [contacts, links, facts] = await Promise.all([
      history.read(customerId),
      identities.linksOf(customerId),
      learned.get(customerId),
    ]);
    const { steps, next } = journeySteps({ events: contacts.events, links, facts }, rules.current, page);
    return { customerId, resolvedFrom: linked === null ? null : id, steps, next };
  }
}

/** What a journey is made of, as the stores keep it. */
export interface JourneySources {
  readonly events: readonly ContactEvent[];
  readonly links: readonly IdentityLink[];
  readonly facts: Pick<LearnedFacts, 'transitions'>;
}

/**
 * A page of steps from what was read (the dossier has read it already): newest first, `next` the
 * `before` of the following page, null on the last.
 */
export function journeySteps(
  sources: JourneySources,
  snapshot: Pick<RulesetSnapshot, 'campaignById' | 'offerById'>,
  page: { readonly limit: number; readonly before: number | null },
): { readonly steps: readonly JourneyStep[]; readonly next: string | null } {
  const steps: (JourneyStep & { readonly ms: number })[] = [];
  for (const e of sources.events) {
    const step = stepOf(e);
    if (step === null) continue;
    const campaignName = e.campaignId === '' ? undefined : snapshot.campaignById.get(e.campaignId)?.name;
    const offerName = e.offerId === '' ? undefined : snapshot.offerById.get(e.offerId)?.name;
    steps.push({
      ...step,
      ...(campaignName === undefined ? {} : { campaignName }),
      ...(offerName === undefined ? {} : { offerName }),
    });
  }
  for (const l of sources.links)
    steps.push({ ms: l.at, at: iso(l.at), kind: 'identified', anonymousId: l.anonymousId });
  for (const t of sources.facts.transitions)
    steps.push({ ms: t.at, at: iso(t.at), kind: 'stage', from: t.from, to: t.to, cause: t.cause });
  // Newest first; at one millisecond what an event caused (a stage, a link) comes before the event.
  const older = steps
    .filter((s) => page.before === null || s.ms < page.before)
    .sort((a, b) => b.ms - a.ms || CAUSED[a.kind] - CAUSED[b.kind]);
  const taken = older.slice(0, page.limit);
  const last = taken.at(-1);
  return {
    steps: taken.map(({ ms: _ms, ...step }) => step),
    next: older.length > page.limit && last !== undefined ? iso(last.ms) : null,
  };
}

/** A history event as a step; null for what the journey does not show (a held-out offer was never seen). */
function stepOf(e: ContactEvent): (JourneyStep & { readonly ms: number }) | null {
  const base = { ms: e.at, at: iso(e.at), channel: e.channel };
  const offer = e.offerId === '' ? {} : { offerId: e.offerId };
  const campaign = e.campaignId === '' ? {} : { campaignId: e.campaignId };
  if (e.outcome === 'impression')
    return {
      ...base,
      kind: 'offer',
      ...offer,
      ...campaign,
      ...(e.placement === undefined ? {} : { placement: e.placement }),
    };
  if (REACTIONS.has(e.outcome)) return { ...base, kind: 'reaction', type: e.outcome, ...offer, ...campaign };
  if (OUTCOMES.has(e.outcome))
    return {
      ...base,
      kind: 'outcome',
      type: e.outcome,
      ...offer,
      ...campaign,
      ...(e.productId === undefined ? {} : { productId: e.productId }),
    };
  return null;
}

const iso = (ms: number): string => new Date(ms).toISOString();
