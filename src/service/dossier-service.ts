import type { ContactEvent } from '../domain/contact.js';
import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import { round4 } from '../domain/response-numbers.js';
import { segmentsOf } from '../engine/decision-scope.js';
import { NotFoundError } from '../errors.js';
import { type LearnedFacts, NO_FACTS, stageOf } from '../learning/profile-learning.js';
import type { FiringAssociation } from '../ruleset/associations.js';
import type { RulesetHolder } from '../ruleset/ruleset-holder.js';
import type { RulesetSnapshot } from '../ruleset/snapshot.js';
import type { ContactHistoryStore } from '../store/contact-history-store.js';
import type { IdentityLink, IdentityStore } from '../store/identity-store.js';
import type { LearnedFactsStore } from '../store/learned-facts-store.js';
import type { ProfileStore } from '../store/profile-store.js';
import { type JourneyStep, journeySteps } from './journey-service.js';

/** A lifecycle stage as the agent reads it: the ruleset's id and name. */
export interface StageRef {
  readonly id: string;
  /** The ruleset's name of the stage; its id when the ruleset no longer has it. */
  readonly name: string;
}

/** The customer's relationship, as outcomes taught it (learning/profile-learning.ts). */
export interface Relationship {
  /**
   * The stage the profile records (`recorded`: judged when an outcome last changed the profile, or
   * loaded), or, when it records none, the ruleset's stage judged now (`judged`, no `since`).
   * Null when the ruleset has no lifecycle.
   */
  readonly stage:
    | (StageRef & { readonly since: string | null; readonly source: 'recorded' | 'judged' })
    | null;
  /** Newest first, the last RECENT_TRANSITIONS. */
  readonly transitions: readonly {
    readonly at: string;
    readonly from: StageRef | null;
    readonly to: StageRef | null;
    readonly cause: string;
  }[];
  readonly lifetimeRevenue: number;
  readonly purchases: number;
  readonly productsHeld: number;
  readonly firstPurchaseAt: string | null;
  readonly lastPurchaseAt: string | null;
}

/**
 * A step of the caller's journey (journey-service.ts), with what the agent needs to read it at a
 * glance: a stage change names its stages (`fromName`, `toName`), as the relationship does.
 */
export type DossierJourneyStep = JourneyStep & { readonly fromName?: string; readonly toName?: string };

/** A contact as the agent sees it: with its time in ISO 8601 and, when known, its product. */
export type DossierContact = Omit<ContactEvent, 'at'> & { readonly at: string };

export interface Dossier {
  readonly customerId: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
  readonly consent: Readonly<Record<string, boolean>>;
  readonly holdings: readonly string[];
  readonly relationship: Relationship;
  readonly affinities: readonly { product: string; score: number }[];
  readonly segments: readonly { id: string; name: string }[];
  /**
   * Products the customer does not hold that mined associations suggest, best first, each with the
   * holdings that make its rule fire: the story behind an offer's `association:<product>` reason.
   */
  readonly associations: readonly FiringAssociation[];
  /** Newest first; offers a control group withheld (`held_out`) are internal and left out. */
  readonly recentContacts: readonly DossierContact[];
  /**
   * The newest ten steps of the person's journey, newest first: across channels and the
   * anonymous ids linked to them, with identity links and stage changes (GET /v1/customers/:id/journey
   * pages further back).
   */
  readonly journey: readonly DossierJourneyStep[];
  readonly degraded: boolean;
}

export interface DossierServiceDeps {
  readonly rules: Pick<RulesetHolder, 'current'>;
  readonly profiles: ProfileStore;
  readonly history: ContactHistoryStore;
  readonly learned: Pick<LearnedFactsStore, 'get'>;
  /** The anonymous ids linked to the customer, for the journey. */
  readonly identities: Pick<IdentityStore, 'linksOf'>;
  readonly clock: () => number;
}

const TOP_AFFINITIES = 10;
const TOP_ASSOCIATIONS = 5;
const RECENT_CONTACTS = 20;
const RECENT_TRANSITIONS = 5;
/** What a call screen has room for; older steps are a page of the journey away. */
const JOURNEY_PAGE = { limit: 10, before: null } as const;

/** What an agent sees when a customer calls: who they are, what they hold and what they may want. */
export class DossierService {
  constructor(private readonly deps: DossierServiceDeps) {}

  async dossier(customerId: string): Promise<Dossier> {
    const [lookup, history, learned, links] = await Promise.all([
      this.deps.profiles.get(customerId),
      this.deps.history.read(customerId),
      this.learnedFacts(customerId),
      this.links(customerId),
    ]);
    const profile = lookup.profile;
    if (!profile) throw new NotFoundError(`no customer '${customerId}'`);
    const now = this.deps.clock();
    const snapshot = this.deps.rules.current;
    return {
      customerId: profile.id,
      attributes: profile.attributes,
      consent: profile.consent,
      holdings: [...profile.holdings],
      relationship: relationshipOf(profile, learned.facts, snapshot, now),
      affinities: [...profile.affinities]
        .sort((a, b) => b[1] - a[1])
        .slice(0, TOP_AFFINITIES)
        .map(([product, score]) => ({ product, score: round4(score) })),
      segments: segmentsOf(snapshot.segments, profile, {}, now).map((s) => ({
        id: s.id,
        name: s.name,
      })),
      associations: snapshot.associations.firing(profile.holdings, TOP_ASSOCIATIONS),
      recentContacts: history.events
        .filter((c) => c.outcome !== 'held_out')
        .sort((a, b) => b.at - a.at)
        .slice(0, RECENT_CONTACTS)
        .map((c) => contactOf(c, snapshot)),
      // From what was read above: the journey costs the dossier (and the call push) one read, the links.
      // A journey without its links would be a wrong one: none then, and the dossier degraded.
      journey: links.degraded
        ? []
        : journeySteps(
            { events: history.events, links: links.links, facts: learned.facts },
            snapshot,
            JOURNEY_PAGE,
          ).steps.map((step) => journeyStepOf(step, snapshot)),
      degraded: lookup.degraded || history.degraded || learned.degraded || links.degraded,
    };
  }

  /** Like the transitions, the links are history: without them the dossier is still worth showing. */
  private async links(customerId: string): Promise<{ links: readonly IdentityLink[]; degraded: boolean }> {
    try {
      return { links: await this.deps.identities.linksOf(customerId), degraded: false };
    } catch {
      return { links: [], degraded: true };
    }
  }

  /** The transitions are history, not the profile: without them the dossier is still worth showing. */
  private async learnedFacts(customerId: string): Promise<{ facts: LearnedFacts; degraded: boolean }> {
    try {
      return { facts: await this.deps.learned.get(customerId), degraded: false };
    } catch {
      return { facts: NO_FACTS, degraded: true };
    }
  }
}

/**
 * The relationship from the profile's attributes (the facts applied, as the rules read them), and
 * the transitions from the facts. Attributes a load brought without facts count as well.
 */
function relationshipOf(
  profile: CustomerProfile,
  facts: LearnedFacts,
  snapshot: RulesetSnapshot,
  now: number,
): Relationship {
  const a = profile.attributes;
  const stageRef = (id: string): StageRef => ({
    id,
    name: snapshot.lifecycle.find((s) => s.id === id)?.name ?? id,
  });
  const recorded = stringOr(a.lifecycleStage, facts.stage);
  const judged = recorded === null ? stageOf(snapshot.lifecycle, profile, now) : null;
  const stage =
    recorded !== null
      ? {
          ...stageRef(recorded),
          since: stringOr(a.lifecycleSince, isoOrNull(facts.stageSince)),
          source: 'recorded' as const,
        }
      : judged !== null
        ? { ...stageRef(judged), since: null, source: 'judged' as const }
        : null;
  return {
    stage,
    transitions: facts.transitions
      .slice(-RECENT_TRANSITIONS)
      .reverse()
      .map((t) => ({
        at: new Date(t.at).toISOString(),
        from: t.from === null ? null : stageRef(t.from),
        to: t.to === null ? null : stageRef(t.to),
        cause: t.cause,
      })),
    lifetimeRevenue: numberOr(a.lifetimeRevenue, facts.lifetimeRevenue),
    purchases: numberOr(a.purchases, facts.purchases),
    productsHeld: numberOr(a.productsHeld, profile.holdings.size),
    firstPurchaseAt: stringOr(a.firstPurchaseAt, isoOrNull(facts.firstPurchaseAt)),
    lastPurchaseAt: stringOr(a.lastPurchaseAt, isoOrNull(facts.lastPurchaseAt)),
  };
}

/** An event about an offer names the offer's product too, so that every line says what it was about. */
function contactOf(c: ContactEvent, snapshot: RulesetSnapshot): DossierContact {
  const productId = c.productId ?? snapshot.offerById.get(c.offerId)?.productId;
  return { ...c, at: new Date(c.at).toISOString(), ...(productId === undefined ? {} : { productId }) };
}

/** A stage change with the ruleset's names of its stages; other steps as they are. */
function journeyStepOf(step: JourneyStep, snapshot: RulesetSnapshot): DossierJourneyStep {
  if (step.kind !== 'stage') return step;
  const nameOf = (id: string | null | undefined) =>
    typeof id === 'string' ? (snapshot.lifecycle.find((s) => s.id === id)?.name ?? id) : undefined;
  const fromName = nameOf(step.from);
  const toName = nameOf(step.to);
  return {
    ...step,
    ...(fromName === undefined ? {} : { fromName }),
    ...(toName === undefined ? {} : { toName }),
  };
}

const isoOrNull = (ms: number | null): string | null => (ms === null ? null : new Date(ms).toISOString());
const stringOr = (v: AttributeValue | undefined, fallback: string | null): string | null =>
  typeof v === 'string' && v !== '' ? v : fallback;
const numberOr = (v: AttributeValue | undefined, fallback: number): number =>
  typeof v === 'number' && Number.isFinite(v) ? v : fallback;
