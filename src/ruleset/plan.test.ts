import { describe, expect, it } from 'vitest';
import { RulesetError } from '../errors.js';
import { buildRuleset, type RulesSource } from './load.js';

// The plan in the rules: goals → critical success factors → the campaigns that serve them (compile.ts).

const NOW = Date.parse('2026-11-22T12:00:00Z');

const offers = `offers:
  - id: o1
    name: Offer one
    campaign: c1
    product: p1
    channels: [web]
    value: 10
    creatives:
      web: { headline: H, image: /i.png, link: /l }
`;

const campaigns = (c1 = '', c2 = '') => `campaigns:
  - id: c1
    name: One
    objective: cross_sell
${c1}  - id: c2
    name: Two
    objective: retention
${c2}`;

const plan = `goals:
  - id: grow
    name: Grow
    objective: Customers hold more with us.
    target: { metric: revenue, value: 1000 }
    period: { start: "2026-01-01", end: "2026-12-31" }
factors:
  - id: f1
    name: Factor one
    goal: grow
    metric: conversions
    target: 50
  - id: f2
    name: Factor two
    goal: grow
    metric: accept_rate
    target: 0.1
`;

function problemsOf(sources: RulesSource[]) {
  try {
    buildRuleset(sources, NOW);
  } catch (err) {
    if (err instanceof RulesetError) return err.problems;
    throw err;
  }
  throw new Error('expected the ruleset to be rejected');
}

describe('the plan in the rules', () => {
  it('links goals to their factors and factors to the campaigns that serve them', () => {
    const s = buildRuleset(
      [
        {
          name: 'campaigns.yaml',
          text:
            campaigns(
              `    kpis:\n      - { metric: accept_rate, target: 0.05 }\n      - { metric: new_customers, target: 20 }\n    serves: [f1, f2]\n`,
              '    serves: [f2]\n',
            ) + offers,
        },
        { name: 'plan.yaml', text: plan },
      ],
      NOW,
    );
    expect(s.goals).toHaveLength(1);
    const goal = s.goals[0]!;
    expect(goal).toMatchObject({
      id: 'grow',
      objective: 'Customers hold more with us.',
      target: { metric: 'revenue', value: 1000 },
      start: Date.parse('2026-01-01T00:00:00Z'),
      // A bare end date means the whole of that day.
      end: Date.parse('2027-01-01T00:00:00Z') - 1,
    });
    expect(goal.factors.map((f) => [f.id, f.metric, f.target, f.campaigns.map((c) => c.id)])).toEqual([
      ['f1', 'conversions', 50, ['c1']],
      ['f2', 'accept_rate', 0.1, ['c1', 'c2']],
    ]);
    const c1 = s.campaignById.get('c1')!;
    expect(c1.kpis).toEqual([
      { metric: 'accept_rate', target: 0.05 },
      { metric: 'new_customers', target: 20 },
    ]);
    expect(c1.kpi).toEqual({ metric: 'accept_rate', target: 0.05 });
    expect(s.campaignById.get('c2')!.kpis).toEqual([]);
    expect(s.campaignById.get('c2')!.kpi).toBeNull();
  });

  it('still reads the older single kpi, as one kpis entry', () => {
    const s = buildRuleset(
      [{ name: 'a.yaml', text: campaigns('    kpi: { metric: revenue, target: 2500 }\n') + offers }],
      NOW,
    );
    const c1 = s.campaignById.get('c1')!;
    expect(c1.kpis).toEqual([{ metric: 'revenue', target: 2500 }]);
    expect(c1.kpi).toEqual({ metric: 'revenue', target: 2500 });
    expect(s.goals).toEqual([]);
  });

  it('reports unknown goals and factors at their file and line', () => {
    const problems = problemsOf([
      { name: 'campaigns.yaml', text: campaigns('    serves: [f1, nope]\n') + offers },
      {
        name: 'plan.yaml',
        text: `${plan}  - id: f3\n    name: Three\n    goal: shrink\n    metric: revenue\n    target: 1\n`,
      },
    ]);
    expect(problems).toEqual([
      {
        file: 'plan.yaml',
        line: 20,
        column: 11,
        path: '/factors/2/goal',
        message: "unknown goal 'shrink' (known: grow)",
      },
      {
        file: 'campaigns.yaml',
        line: 5,
        column: 18,
        path: '/campaigns/0/serves/1',
        message: "unknown factor 'nope' (known: f1, f2, f3)",
      },
    ]);
  });

  it('refuses kpi and kpis together, a metric twice, a period that ends before it starts, a duplicate factor', () => {
    const problems = problemsOf([
      {
        name: 'campaigns.yaml',
        text:
          campaigns(
            '    kpi: { metric: revenue, target: 1 }\n    kpis: [{ metric: revenue, target: 1 }]\n',
            '    kpis: [{ metric: conversions, target: 1 }, { metric: conversions, target: 2 }]\n',
          ) + offers,
      },
      {
        name: 'plan.yaml',
        text: `${plan.replace('end: "2026-12-31"', 'end: "2025-12-31"')}  - id: f1\n    name: Again\n    goal: grow\n    metric: revenue\n    target: 1\n`,
      },
    ]);
    expect(problems.map((p) => `${p.file}:${p.line} ${p.path} ${p.message}`)).toEqual([
      'campaigns.yaml:5 /campaigns/0/kpi kpi and kpis are both set: write kpis only (kpi is its older, single form)',
      "campaigns.yaml:10 /campaigns/1/kpis/1/metric a second KPI on 'conversions'",
      "plan.yaml:18 /factors/2/id duplicate factor id 'f1' (first defined in plan.yaml)",
      'plan.yaml:6 /goals/0/period period.start is after period.end',
    ]);
  });

  it('refuses a metric it does not know, with the ones it does', () => {
    const problems = problemsOf([
      { name: 'a.yaml', text: campaigns('    kpis: [{ metric: happiness, target: 1 }]\n') + offers },
    ]);
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatchObject({ file: 'a.yaml', line: 5, path: '/campaigns/0/kpis/0/metric' });
    expect(problems[0]!.message).toContain(
      'accept_rate, conversion_rate, conversions, revenue, new_customers, retention',
    );
  });
});
