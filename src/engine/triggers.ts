import type { AttributeValue, CustomerProfile } from '../domain/profile.js';
import type { CompiledTrigger, RulesetSnapshot } from '../ruleset/snapshot.js';
import { DecisionScope } from './decision-scope.js';

/** An event from any system, as a trigger's condition reads it: `event.type` and its attributes by name. */
export interface TriggerEvent {
  readonly type: string;
  readonly attributes: Readonly<Record<string, AttributeValue>>;
}

/**
 * The trigger an event fires for a customer: the first of its type, in ruleset order, whose
 * condition holds; null when none does. `event.type` is the event's type even if an attribute is
 * named so.
 */
export function firedTrigger(
  snapshot: RulesetSnapshot,
  event: TriggerEvent,
  profile: CustomerProfile,
  now: number,
): CompiledTrigger | null {
  const triggers = snapshot.triggers.get(event.type);
  if (triggers === undefined) return null;
  const view = { ...event.attributes, type: event.type };
  const scope = new DecisionScope().reset(profile, view, now, snapshot.segments.length);
  for (const trigger of triggers) if (trigger.when === null || trigger.when(scope)) return trigger;
  return null;
}
