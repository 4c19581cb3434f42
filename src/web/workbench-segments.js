/*
 * The workbench's segments against behaviour (GET /v1/reports/segments, /v1/reports/segments/:id):
 * each segment's accept rate beside the rest of the population's, with 95% intervals, its stated
 * assumptions (rules' `assumption`) checked — those the data contradicts flagged — and, for one
 * segment, the breakdown per campaign, offer and channel the checks rest on. Needs the report scope.
 */
(() => {
  const VERDICTS = {
    contradicted: { text: 'Contradicted', className: 'flag' },
    consistent: { text: 'Consistent', className: 'ok' },
    not_enough_data: { text: 'Not enough data', className: 'muted' },
  };
  const COMPARISONS = {
    above: 'Above the rest',
    below: 'Below the rest',
    similar: 'Like the rest',
    not_enough_data: 'Not enough data',
  };

  const count = (n) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }).format(n);
  const pct = (x) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);
  const signed = (x) => {
    const rounded = Number((x * 100).toFixed(2));
    return `${rounded > 0 ? '+' : rounded < 0 ? '−' : ''}${Math.abs(rounded).toFixed(2)}`;
  };

  /** What an assumption says, in words: "accept rate 6.00%", "best channel call_center", … */
  function assumed(check) {
    if (check.assumption === 'acceptRate') return `accept rate ${pct(check.expected)}`;
    if (check.assumption === 'bestChannel') return `best channel ${check.expected}`;
    return `responds to ${check.expected}`;
  }

  window.offerloopWorkbench.register({
    id: 'segments',
    title: 'Segments',
    render(container, ctx) {
      const { h } = ctx;

      /** A rate and its interval on a second line: "3.10%" / "2.51% to 3.80%". */
      function rateCell(response) {
        return h(
          'td',
          { class: 'num interval' },
          h('span', {}, pct(response.rate)),
          response.ci95 === null
            ? null
            : h('span', { class: 'ci' }, `${pct(response.ci95[0])} to ${pct(response.ci95[1])}`),
        );
      }

      /** The difference from the rest in points, with its interval: "+1.20 pp (−0.40 to +2.80)". */
      function differenceCell(comparison) {
        if (comparison.difference === null) return h('td', { class: 'num' }, '—');
        return h(
          'td',
          { class: 'num interval' },
          h('span', {}, `${signed(comparison.difference)} pp`),
          h('span', { class: 'ci' }, `${signed(comparison.ci95[0])} to ${signed(comparison.ci95[1])}`),
        );
      }

      function verdict(check) {
        const v = VERDICTS[check.verdict];
        return h('span', { class: v.className }, `${v.text}: ${assumed(check)}`);
      }

      /** A table whose columns are figures but for those in `textColumns`. */
      const table = (id, caption, headings, textColumns, tbody) =>
        ctx.table(id, caption, headings, tbody, textColumns);

      // ---- the range -------------------------------------------------------------------------
      const { form, query: rangeQuery } = ctx.dateRange('segments');

      // ---- the list --------------------------------------------------------------------------
      const population = h('p', { id: 'segments-population' });
      const listBody = h('tbody');
      const list = table(
        'segments-table',
        'Each segment against the rest of the population: accepts per impression',
        [
          'Segment',
          'Impressions',
          'Accept rate',
          'Rest of the population',
          'Difference',
          'Compared',
          'Assumptions',
          '',
        ],
        [0, 5, 6, 7],
        listBody,
      );

      // ---- one segment -----------------------------------------------------------------------
      const detail = h('section', { id: 'segment-detail', 'aria-labelledby': 'segment-detail-heading' });
      detail.hidden = true;

      container.append(
        form,
        h(
          'p',
          { class: 'hint' },
          'A response is an accept of a shown offer. A segment counts the customers campaigns reached ',
          'through it; the rest is every other impression of the same scope. An assumption is ',
          'contradicted when the data says otherwise at 95% confidence; a check needs a minimum of ',
          'impressions in each group it compares.',
        ),
        population,
        list,
        detail,
      );

      function segmentRow(segment) {
        const button = h('button', { type: 'button', class: 'secondary' }, 'Details');
        button.addEventListener('click', () => showDetail(segment.id).catch(ctx.fail));
        const checks =
          segment.checks.length === 0
            ? h('span', { class: 'muted' }, 'none stated')
            : h('ul', {}, ...segment.checks.map((c) => h('li', {}, verdict(c))));
        return h(
          'tr',
          { 'data-segment': segment.id, 'data-contradicted': String(segment.contradicted) },
          h('th', { scope: 'row' }, segment.name, segment.name === segment.id ? null : ` (${segment.id})`),
          h('td', { class: 'num' }, count(segment.overall.segment.impressions)),
          rateCell(segment.overall.segment),
          rateCell(segment.overall.rest),
          differenceCell(segment.overall),
          h('td', {}, COMPARISONS[segment.overall.verdict]),
          h('td', {}, checks),
          h('td', {}, button),
        );
      }

      function breakdownRow(row) {
        return h(
          'tr',
          { 'data-key': row.key },
          h('th', { scope: 'row' }, row.name, row.name === row.key ? null : ` (${row.key})`),
          h('td', { class: 'num' }, count(row.segment.impressions)),
          rateCell(row.segment),
          h('td', { class: 'num' }, count(row.rest.impressions)),
          rateCell(row.rest),
          differenceCell(row),
          h('td', {}, COMPARISONS[row.verdict]),
        );
      }

      async function showDetail(id) {
        ctx.setStatus(`Loading ${id}…`);
        const report = await ctx.getJson(`/v1/reports/segments/${encodeURIComponent(id)}${rangeQuery()}`);
        const s = report.segment;
        const headings = (what) => [
          what,
          'Segment impressions',
          'Segment rate',
          'Rest impressions',
          'Rest rate',
          'Difference',
          'Compared',
        ];
        const breakdown = (key, what, caption, rows) =>
          table(`by-${key}`, caption, headings(what), [0, 6], h('tbody', {}, ...rows.map(breakdownRow)));
        detail.replaceChildren(
          h(
            'h3',
            { id: 'segment-detail-heading', tabindex: '-1' },
            `${s.name}: ${report.from} to ${report.to}`,
          ),
          s.checks.length === 0
            ? h('p', { class: 'muted' }, 'This segment states no assumption.')
            : h(
                'ul',
                { id: 'segment-checks' },
                ...s.checks.map((c) =>
                  h(
                    'li',
                    { 'data-verdict': c.verdict },
                    verdict(c),
                    h('span', { class: 'muted' }, ` — ${c.reason}`),
                  ),
                ),
              ),
          breakdown('campaign', 'Campaign', 'Per campaign that targets the segment', s.byCampaign),
          breakdown('offer', 'Offer', 'Per offer shown to the segment', s.byOffer),
          breakdown('channel', 'Channel', 'Per channel', s.byChannel),
        );
        detail.hidden = false;
        detail.querySelector('h3').focus();
        ctx.setStatus(
          `${s.name}: ${s.contradicted} contradicted assumption${s.contradicted === 1 ? '' : 's'}`,
        );
        ctx.announce(`${s.name} shown below the list.`);
      }

      async function load() {
        ctx.setStatus('Loading…');
        detail.hidden = true;
        const report = await ctx.getJson(`/v1/reports/segments${rangeQuery()}`);
        population.replaceChildren(
          `${report.from} to ${report.to}: the whole population accepted ${pct(report.population.rate)} of `,
          `${count(report.population.impressions)} impressions. A check needs ${count(report.minImpressions)} `,
          'impressions in each group it compares.',
        );
        listBody.replaceChildren(...report.segments.map(segmentRow));
        const flagged = report.segments.reduce((n, s) => n + s.contradicted, 0);
        ctx.setStatus(
          `${report.segments.length} segments, ${flagged} contradicted assumption${flagged === 1 ? '' : 's'}`,
        );
      }

      form.addEventListener('submit', (event) => {
        event.preventDefault();
        load().catch(ctx.fail);
      });
      load().catch(ctx.fail);
    },
  });
})();
