/*
 * The workbench's plan (GET /v1/reports/plan): each goal of the rules with its objective, period and
 * progress against its target; under it, its critical success factors, each with the campaigns that
 * serve it and every KPI of those; then the campaigns that serve no factor. Progress is text and a
 * bar. Shows only what the API answers, for the days asked for. Needs the report scope.
 */
(() => {
  const METRICS = {
    accept_rate: 'Accept rate',
    conversion_rate: 'Conversion rate',
    conversions: 'Conversions',
    revenue: 'Revenue',
    new_customers: 'New customers',
    retention: 'Retention',
  };
  const RATES = new Set(['accept_rate', 'conversion_rate', 'retention']);

  const isNumber = (x) => typeof x === 'number' && Number.isFinite(x);
  const count = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const decimal = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });

  const metricLabel = (metric) => METRICS[metric] ?? String(metric);

  /** A value of a metric: "3.10%", "1,250,000.00", "8", "1,500.25"; "—" for no data. */
  function value(metric, x) {
    if (!isNumber(x)) return '—';
    if (RATES.has(metric)) return `${(x * 100).toFixed(2)}%`;
    if (metric === 'revenue') return money.format(x);
    if (metric === 'conversions') return count.format(x);
    return decimal.format(x);
  }

  const percent = (progress) => `${Math.round(progress * 100)}%`;

  /** "Revenue 1,250,000.00 of 2,500,000.00". */
  const actualOfTarget = (metric, actual, target) =>
    `${metricLabel(metric)} ${value(metric, actual)} of ${value(metric, target)}`;

  /** A UTC day of an ISO date-time: "2026-01-01". */
  const day = (iso) => iso.slice(0, 10);

  window.offerloopWorkbench.register({
    id: 'plan',
    title: 'Plan',
    render(container, ctx) {
      const { h } = ctx;

      /** The progress as a bar and text (the bar full at 100% or more); "no data yet" without one. */
      function progressOf(progress, what) {
        if (!isNumber(progress))
          return h('span', { class: 'muted', 'data-field': 'progress' }, 'no data yet');
        return h(
          'span',
          { class: 'kpi-progress' },
          h('meter', {
            min: 0,
            max: 100,
            value: Math.max(0, Math.min(100, Math.round(progress * 100))),
            'aria-label': `${percent(progress)} of the ${what} target`,
          }),
          h('span', { class: 'kpi-percent', 'data-field': 'progress' }, percent(progress)),
        );
      }

      /** A campaign's KPIs, one per line: "Accept rate 3.00% of 4.00% (75%)". */
      function kpiList(kpis) {
        if (kpis.length === 0) return h('span', { class: 'muted' }, 'no KPIs');
        return h(
          'ul',
          { class: 'kpis' },
          ...kpis.map((k) =>
            h(
              'li',
              { 'data-kpi': k.metric },
              `${actualOfTarget(k.metric, k.actual, k.target)} (${isNumber(k.progress) ? percent(k.progress) : 'no data yet'})`,
            ),
          ),
        );
      }

      function factorRows(factor) {
        const head = h(
          'tr',
          { 'data-factor': factor.id },
          h('th', { scope: 'row' }, factor.name),
          h('td', {}, metricLabel(factor.metric)),
          h('td', { class: 'num', 'data-field': 'actual' }, value(factor.metric, factor.actual)),
          h('td', { class: 'num', 'data-field': 'target' }, value(factor.metric, factor.target)),
          h('td', {}, progressOf(factor.progress, metricLabel(factor.metric).toLowerCase())),
        );
        const campaigns =
          factor.campaigns.length === 0
            ? [
                h(
                  'tr',
                  { 'data-factor-of': factor.id },
                  h('td', { colspan: 5, class: 'muted' }, 'No campaign serves this factor yet.'),
                ),
              ]
            : factor.campaigns.map((c) =>
                h(
                  'tr',
                  { 'data-campaign': c.id, 'data-factor-of': factor.id },
                  h('td', {}, `↳ ${c.name}`),
                  h('td', { class: 'muted' }, 'campaign'),
                  h('td', { class: 'num', 'data-field': 'actual' }, value(factor.metric, c.actual)),
                  h('td', { colspan: 2 }, kpiList(c.kpis)),
                ),
              );
        return [head, ...campaigns];
      }

      function periodText(goal) {
        const period = `${day(goal.period.start)} to ${goal.period.end === null ? 'open' : day(goal.period.end)}`;
        return goal.counted === null
          ? `Period ${period}: outside the days asked for, nothing counted.`
          : `Period ${period}; counted ${goal.counted.from} to ${goal.counted.to}.`;
      }

      function goalSection(goal) {
        const met = `${goal.factorsMet} of ${goal.factors.length} factors at target`;
        const mean = isNumber(goal.factorProgress)
          ? `; factors ${percent(goal.factorProgress)} on average`
          : '';
        return h(
          'section',
          { class: 'goal', 'data-goal': goal.id, 'aria-labelledby': `goal-${goal.id}` },
          h('h3', { id: `goal-${goal.id}` }, goal.name),
          h('p', { 'data-field': 'objective' }, goal.objective),
          goal.description === null ? null : h('p', { class: 'hint' }, goal.description),
          h('p', { class: 'muted', 'data-field': 'period' }, periodText(goal)),
          h(
            'p',
            { class: 'kpi' },
            h(
              'span',
              { class: 'kpi-summary', 'data-field': 'headline' },
              actualOfTarget(goal.target.metric, goal.actual, goal.target.value),
            ),
            ' ',
            progressOf(goal.progress, metricLabel(goal.target.metric).toLowerCase()),
          ),
          h('p', { 'data-field': 'factors' }, `${met}${mean}.`),
          goal.factors.length === 0
            ? h('p', { class: 'muted' }, 'No critical success factor names this goal yet.')
            : h(
                'div',
                { class: 'table-wrap' },
                h(
                  'table',
                  {},
                  h(
                    'caption',
                    {},
                    `Critical success factors of “${goal.name}” and the campaigns serving them`,
                  ),
                  h(
                    'thead',
                    {},
                    h(
                      'tr',
                      {},
                      h('th', { scope: 'col' }, 'Factor / campaign'),
                      h('th', { scope: 'col' }, 'Metric'),
                      h('th', { scope: 'col', class: 'num' }, 'Actual'),
                      h('th', { scope: 'col', class: 'num' }, 'Target'),
                      h('th', { scope: 'col' }, 'Progress / KPIs'),
                    ),
                  ),
                  h('tbody', {}, ...goal.factors.flatMap(factorRows)),
                ),
              ),
        );
      }

      function unplannedSection(campaigns) {
        if (campaigns.length === 0) return null;
        return h(
          'section',
          { id: 'plan-unplanned', 'aria-labelledby': 'plan-unplanned-heading' },
          h('h3', { id: 'plan-unplanned-heading' }, 'Campaigns outside the plan'),
          h('p', { class: 'hint' }, 'These serve no critical success factor (their rules have no `serves`).'),
          h(
            'ul',
            {},
            ...campaigns.map((c) =>
              h('li', { 'data-campaign': c.id }, h('strong', {}, c.name), ' ', kpiList(c.kpis)),
            ),
          ),
        );
      }

      // ---- the range ---------------------------------------------------------------------------
      const { form, query: rangeQuery } = ctx.dateRange('plan');
      const body = h('div', { id: 'plan-goals' });
      container.append(
        form,
        h(
          'p',
          { class: 'hint' },
          'Goal → critical success factors → the campaigns that serve them. A factor pools its campaigns: ',
          'counts and revenue add up, rates are all their accepts or conversions over all their impressions. ',
          'A goal is measured by its own target over every campaign serving its factors, within its period.',
        ),
        body,
      );

      async function show() {
        ctx.setStatus('Loading…');
        const report = await ctx.getJson(`/v1/reports/plan${rangeQuery()}`);
        if (ctx.signal.aborted) return;
        body.replaceChildren(
          ...(report.goals.length === 0
            ? [
                h(
                  'p',
                  { class: 'muted' },
                  'The ruleset in force has no goals: add `goals` and `factors` to the rules.',
                ),
              ]
            : report.goals.map(goalSection)),
        );
        const unplanned = unplannedSection(report.unplanned);
        if (unplanned !== null) body.append(unplanned);
        const status = `${report.goals.length} goal${report.goals.length === 1 ? '' : 's'}, ${report.from} to ${report.to}`;
        ctx.setStatus(status);
        ctx.announce(`Plan shown: ${status}`);
      }

      form.addEventListener('submit', (event) => {
        event.preventDefault();
        show().catch((err) => {
          ctx.setStatus('');
          ctx.fail(err);
        });
      });
      show().catch((err) => {
        ctx.setStatus('');
        ctx.fail(err);
      });
    },
  });
})();
