/**
 * Product associations mined from purchase baskets (`offerloop mine`, docs/mining.md), loaded with
 * the rules from `associations.ndjson` in the rules directory: one rule per line,
 * `{"antecedent":["p1"],"consequent":["p2"],"support":0.01,"confidence":0.4,"lift":3.1,"count":120}`.
 *
 * Conditions read them through `association('p2')`: the highest confidence of the rules for p2
 * whose antecedent the customer holds entirely — "customers who hold what this customer holds buy
 * p2 this often". Rules with a longer consequent count for each of its products.
 */
import { internId } from '../domain/intern.js';
import type { RulesProblem } from '../errors.js';

/** The rules file name `readRulesDir` picks up next to the YAML files. */
export const ASSOCIATIONS_FILE = 'associations.ndjson';

export interface AssociationRule {
  /** Interned product ids, as profiles' holdings are. */
  readonly antecedent: readonly string[];
  readonly consequent: readonly string[];
  readonly support: number;
  readonly confidence: number;
  readonly lift: number;
  readonly count: number;
}

/** A firing rule, for the dossier: why a product is suggested for this customer. */
export interface FiringAssociation {
  readonly product: string;
  readonly confidence: number;
  readonly lift: number;
  readonly support: number;
  /** The products the customer holds that make the rule fire. */
  readonly because: readonly string[];
}

export class Associations {
  static readonly NONE = new Associations([]);

  /** Rules by consequent product, highest confidence first, so the first that fires is the best. */
  private readonly byConsequent = new Map<string, AssociationRule[]>();

  constructor(readonly rules: readonly AssociationRule[]) {
    for (const rule of rules) {
      for (const product of rule.consequent) {
        let list = this.byConsequent.get(product);
        if (list === undefined) {
          list = [];
          this.byConsequent.set(product, list);
        }
        list.push(rule);
      }
    }
    for (const list of this.byConsequent.values()) {
      list.sort((a, b) => b.confidence - a.confidence || b.lift - a.lift);
    }
  }

  get size(): number {
    return this.rules.length;
  }

  /** The best rule for `product` that fires on `holdings`, or undefined. */
  best(product: string, holdings: ReadonlySet<string>): AssociationRule | undefined {
    const list = this.byConsequent.get(product);
    if (list === undefined) return undefined;
    for (const rule of list) if (holdsAll(holdings, rule.antecedent)) return rule;
    return undefined;
  }

  /** The confidence of the best firing rule for `product`; 0 when none fires. */
  confidence(product: string, holdings: ReadonlySet<string>): number {
    return this.best(product, holdings)?.confidence ?? 0;
  }

  /** The best firing rule per product the customer does not hold, best first, at most `limit`. */
  firing(holdings: ReadonlySet<string>, limit: number): FiringAssociation[] {
    const out: FiringAssociation[] = [];
    for (const product of this.byConsequent.keys()) {
      if (holdings.has(product)) continue;
      const rule = this.best(product, holdings);
      if (rule === undefined) continue;
      out.push({
        product,
        confidence: rule.confidence,
        lift: rule.lift,
        support: rule.support,
        because: rule.antecedent,
      });
    }
    out.sort((a, b) => b.confidence - a.confidence || b.lift - a.lift || (a.product < b.product ? -1 : 1));
    return out.slice(0, limit);
  }
}

function holdsAll(holdings: ReadonlySet<string>, items: readonly string[]): boolean {
  for (const item of items) if (!holdings.has(item)) return false;
  return true;
}

const ID = /^[A-Za-z0-9][A-Za-z0-9_.:-]*$/;

/**
 * Parses an associations file. Every bad line is a problem with its line number; the caller fails
 * the whole ruleset on any, like a bad YAML file, so the last good ruleset keeps serving.
 */
export function parseAssociations(name: string, text: string, problems: RulesProblem[]): Associations {
  const rules: AssociationRule[] = [];
  const lines = text.split('\n');
  const bad = (line: number, message: string) =>
    problems.push({ file: name, line, column: 1, path: '', message });
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.trim();
    if (line === '') continue;
    let value: unknown;
    try {
      value = JSON.parse(line);
    } catch {
      bad(i + 1, 'not a JSON object');
      continue;
    }
    const problem = ruleProblem(value);
    if (problem !== null) {
      bad(i + 1, problem);
      continue;
    }
    const r = value as AssociationRule;
    rules.push({
      antecedent: r.antecedent.map(internId),
      consequent: r.consequent.map(internId),
      support: r.support,
      confidence: r.confidence,
      lift: r.lift,
      count: r.count,
    });
  }
  return new Associations(rules);
}

function ruleProblem(value: unknown): string | null {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return 'not a JSON object';
  const r = value as Record<string, unknown>;
  const items = (key: string, min: number): string | null => {
    const list = r[key];
    if (!Array.isArray(list) || list.length < min)
      return `${key} must be a list of at least ${min} product ids`;
    for (const item of list)
      if (typeof item !== 'string' || !ID.test(item)) return `${key} has a bad product id`;
    return null;
  };
  const number = (key: string, min: number, max: number): string | null => {
    const x = r[key];
    return typeof x === 'number' && x >= min && x <= max
      ? null
      : `${key} must be a number from ${min} to ${max}`;
  };
  return (
    items('antecedent', 1) ??
    items('consequent', 1) ??
    number('support', 0, 1) ??
    number('confidence', 0, 1) ??
    number('lift', 0, Number.MAX_VALUE) ??
    number('count', 0, Number.MAX_SAFE_INTEGER)
  );
}
