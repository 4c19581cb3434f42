import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import type { CompiledLifecycleStage, EvalContext } from '../ruleset/snapshot.js';

/**
 * A profile that learns from what the customer does. Pure: the facts an outcome teaches are kept
 * apart from the loaded profile (so that a later bulk load, which replaces the profile, can have
 * them applied again: docs/decisions/0007-customer-attribution.md), and applied on top of it.
 *
 * - A purchase (or a conversion, or an accept of an offer that `holdsOnAccept`) adds the product
 *   to the holdings; a cancel removes it. What the facts say about a product wins over the load.
 * - Purchases add up to the relationship value, as attributes conditions can read:
 *   `lifetimeRevenue`, `purchases`, `productsHeld`, `firstPurchaseAt`, `lastPurchaseAt` (ISO dates).
 * - The lifecycle stage is the first of the ruleset's stages whose condition holds, evaluated when
 *   an outcome changed the profile; each change is a transition (when, from, to, what caused it).
 */

export type FactKind = 'purchase' | 'cancel' | 'convert' | 'accept' | 'lead';

/** One thing the customer did, as learning sees it. */
export interface Fact {
  /** The idempotency key: a fact seen before changes nothing. */
  readonly eventId: string;
  readonly kind: FactKind;
  /** The product; for a lead, the product of interest ('' when none was named). */
  readonly productId: string;
  /** Revenue (purchases only count it); null when absent. */
  readonly value: number | null;
  readonly at: number;
}

export interface StageTransition {
  readonly at: number;
  readonly from: string | null;
  readonly to: string | null;
  /** What caused it, e.g. `purchase of savings-plus (event ord-1)`. */
  readonly cause: string;
}

export interface LearnedFacts {
  /** Product → when it was last added (purchase, conversion, accept) or removed (cancel). */
  readonly holdings: Readonly<Record<string, { readonly held: boolean; readonly at: number }>>;
  readonly lifetimeRevenue: number;
  readonly purchases: number;
  readonly firstPurchaseAt: number | null;
  readonly lastPurchaseAt: number | null;
  /** When the person first became a lead (a form, a call-back request), and the product of interest. */
  readonly leadAt: number | null;
  readonly interest: string | null;
  readonly stage: string | null;
  readonly stageSince: number | null;
  /** Newest last, the last MAX_TRANSITIONS. */
  readonly transitions: readonly StageTransition[];
  /** Ids of the facts applied, newest last, the last MAX_EVENTS: a redelivered fact changes nothing. */
  readonly events: readonly string[];
}

export const MAX_TRANSITIONS = 20;
export const MAX_EVENTS = 50;

export const NO_FACTS: LearnedFacts = Object.freeze({
  holdings: Object.freeze({}),
  lifetimeRevenue: 0,
  purchases: 0,
  firstPurchaseAt: null,
  lastPurchaseAt: null,
  leadAt: null,
  interest: null,
  stage: null,
  stageSince: null,
  transitions: Object.freeze([]),
  events: Object.freeze([]),
});

/** The facts after one more; the same facts when it was applied before. Stages are not judged here (see judgeStage). */
export function learn(facts: LearnedFacts, fact: Fact): LearnedFacts {
  if (facts.events.includes(fact.eventId)) return facts;
  const events = [...facts.events, fact.eventId].slice(-MAX_EVENTS);
  if (fact.kind === 'lead') {
    return {
      ...facts,
      events,
      leadAt: facts.leadAt === null ? fact.at : Math.min(facts.leadAt, fact.at),
      interest: fact.productId === '' ? facts.interest : fact.productId,
    };
  }
  const holdings = { ...facts.holdings, [fact.productId]: { held: fact.kind !== 'cancel', at: fact.at } };
  if (fact.kind !== 'purchase') return { ...facts, holdings, events };
  const revenue = fact.value !== null && Number.isFinite(fact.value) ? fact.value : 0;
  return {
    ...facts,
    holdings,
    events,
    lifetimeRevenue: round2(facts.lifetimeRevenue + revenue),
    purchases: facts.purchases + 1,
    firstPurchaseAt: facts.firstPurchaseAt === null ? fact.at : Math.min(facts.firstPurchaseAt, fact.at),
    lastPurchaseAt: facts.lastPurchaseAt === null ? fact.at : Math.max(facts.lastPurchaseAt, fact.at),
  };
}

/** The profile with the facts applied on top: holdings, relationship value and stage. */
export function applyFacts(profile: CustomerProfile, facts: LearnedFacts): CustomerProfile {
  if (facts === NO_FACTS) return profile;
  const holdings = new Set(profile.holdings);
  for (const [product, h] of Object.entries(facts.holdings)) {
    if (h.held) holdings.add(product);
    else holdings.delete(product);
  }
  const attributes: Record<string, AttributeValue> = {
    ...profile.attributes,
    lifetimeRevenue: facts.lifetimeRevenue,
    purchases: facts.purchases,
    productsHeld: holdings.size,
  };
  if (facts.leadAt !== null) attributes.leadAt = isoDate(facts.leadAt);
  if (facts.interest !== null) attributes.interest = facts.interest;
  if (facts.firstPurchaseAt !== null) attributes.firstPurchaseAt = isoDate(facts.firstPurchaseAt);
  if (facts.lastPurchaseAt !== null) attributes.lastPurchaseAt = isoDate(facts.lastPurchaseAt);
  if (facts.stage !== null) {
    attributes.lifecycleStage = facts.stage;
    if (facts.stageSince !== null) attributes.lifecycleSince = isoDate(facts.stageSince);
  }
  return { ...profile, attributes, holdings };
}

/** The first stage whose condition holds for the profile at `now`; null when none does (or none is defined). */
export function stageOf(
  stages: readonly CompiledLifecycleStage[],
  profile: CustomerProfile,
  now: number,
): string | null {
  if (stages.length === 0) return null;
  // A customer nothing was learned of yet still holds what was loaded: the rules see that count.
  const seen =
    profile.attributes.productsHeld === undefined
      ? { ...profile, attributes: { ...profile.attributes, productsHeld: profile.holdings.size } }
      : profile;
  // What a stage's condition reads: the customer alone (no request). Segments are judged as they are
  // named; the few stages of a ruleset need no memo.
  const scope: EvalContext = {
    customer: seen.attributes,
    context: NO_CONTEXT,
    holdings: seen.holdings,
    affinities: seen.affinities,
    now,
    inSegment: (segment) => segment.when(scope),
  };
  for (const stage of stages) if (stage.when(scope)) return stage.id;
  return null;
}

/**
 * The facts with the stage judged on the profile they make (`profile` is the profile without
 * them): a changed stage is a transition caused by `cause`, dated `at` (the event's time; by default
 * `now`, when the conditions are judged). `before` is the stage to record as left when none was
 * judged yet (what the rules said of the person before the event).
 */
export function judgeStage(
  facts: LearnedFacts,
  profile: CustomerProfile,
  stages: readonly CompiledLifecycleStage[],
  now: number,
  cause: string,
  at: number = now,
  before: string | null = null,
): LearnedFacts {
  const stage = stageOf(stages, applyFacts(profile, facts), now);
  const current = facts.stage ?? stringOrNull(profile.attributes.lifecycleStage) ?? before;
  if (stage === current || stage === null) return facts;
  const transition: StageTransition = { at, from: current, to: stage, cause };
  return {
    ...facts,
    stage,
    stageSince: at,
    transitions: [...facts.transitions, transition].slice(-MAX_TRANSITIONS),
  };
}

/**
 * The facts of a customer and of an anonymous id linked to them, as one person's: holdings by the
 * latest change of each product, values added up, the earliest lead, the customer's stage (judged
 * again by the caller), transitions and event ids of both.
 */
export function mergeFacts(customer: LearnedFacts, anonymous: LearnedFacts): LearnedFacts {
  if (anonymous === NO_FACTS) return customer;
  const holdings: Record<string, { readonly held: boolean; readonly at: number }> = { ...anonymous.holdings };
  for (const [product, h] of Object.entries(customer.holdings)) {
    const other = holdings[product];
    if (other === undefined || h.at >= other.at) holdings[product] = h;
  }
  return {
    holdings,
    lifetimeRevenue: round2(customer.lifetimeRevenue + anonymous.lifetimeRevenue),
    purchases: customer.purchases + anonymous.purchases,
    firstPurchaseAt: minOf(customer.firstPurchaseAt, anonymous.firstPurchaseAt),
    lastPurchaseAt: maxOf(customer.lastPurchaseAt, anonymous.lastPurchaseAt),
    leadAt: minOf(customer.leadAt, anonymous.leadAt),
    interest: customer.interest ?? anonymous.interest,
    stage: customer.stage,
    stageSince: customer.stageSince,
    transitions: [...anonymous.transitions, ...customer.transitions]
      .sort((a, b) => a.at - b.at)
      .slice(-MAX_TRANSITIONS),
    events: [...new Set([...anonymous.events, ...customer.events])].slice(-MAX_EVENTS),
  };
}

/**
 * The profile of a customer with what an anonymous id linked to them knew (a lead's form): the
 * customer's attributes, consent and affinities win; the anonymous id's fill the gaps; holdings add up.
 */
export function mergeProfiles(customer: CustomerProfile, anonymous: CustomerProfile): CustomerProfile {
  const { anonymous: _marker, ...known } = anonymous.attributes;
  return {
    ...customer,
    attributes: { ...known, ...customer.attributes },
    consent: { ...anonymous.consent, ...customer.consent },
    holdings: new Set([...customer.holdings, ...anonymous.holdings]),
    affinities: customer.affinities.size > 0 ? customer.affinities : anonymous.affinities,
  };
}

/** What caused a change, in words for the transition record. */
export function causeOf(fact: Fact): string {
  if (fact.kind === 'lead')
    return fact.productId === ''
      ? `lead (event ${fact.eventId})`
      : `lead for ${fact.productId} (event ${fact.eventId})`;
  return `${fact.kind} of ${fact.productId} (event ${fact.eventId})`;
}

const NO_CONTEXT: Readonly<Record<string, never>> = Object.freeze({});
const isoDate = (ms: number): string => new Date(ms).toISOString();
const minOf = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.min(a, b);
const maxOf = (a: number | null, b: number | null): number | null =>
  a === null ? b : b === null ? a : Math.max(a, b);
const round2 = (n: number): number => Math.round(n * 100) / 100;
const stringOrNull = (v: AttributeValue | undefined): string | null => (typeof v === 'string' ? v : null);
