import type { AssociationRule } from '../../src/mining/rules.js';

/** An association rule over item ids, for tests: only the confidence and lift vary. */
export function rule(
  antecedent: number[],
  consequent: number[],
  confidence: number,
  lift = 2,
): AssociationRule {
  return {
    antecedent: Int32Array.from(antecedent),
    consequent: Int32Array.from(consequent),
    count: 1,
    antecedentCount: 1,
    consequentCount: 1,
    support: 0.1,
    confidence,
    lift,
  };
}
