/*
 * The workbench's champion/challenger (GET/PUT/DELETE /v1/ruleset/challenger, POST …/promote,
 * GET /v1/reports/challenger): the test running (candidate, share, since), the two arms compared
 * customer by customer with 95% intervals, in total and per campaign, and Start / Stop / Promote.
 * Reading needs the report scope; the buttons need admin: a refusal shows the server's message.
 */
(() => {
  const count = (n) => new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 }).format(n);
  const pct = (x) => (x === null ? '—' : `${(x * 100).toFixed(2)}%`);
  const money = (x) => (x === null ? '—' : x.toFixed(2));
  /** A difference of rates in points: "+1.20", "−0.40". */
  const points = (x) => {
    const rounded = Number((x * 100).toFixed(2));
    return `${rounded > 0 ? '+' : rounded < 0 ? '−' : ''}${Math.abs(rounded).toFixed(2)}`;
  };
  const signedMoney = (x) => `${x > 0 ? '+' : x < 0 ? '−' : ''}${Math.abs(x).toFixed(2)}`;

  window.offerloopWorkbench.register({
    id: 'challenger',
    title: 'Champion/challenger',
    render(container, ctx) {
      const { h } = ctx;

      /** A rate with its interval below it: "3.10%" / "2.51% to 3.80%". */
      const rateCell = (rate, ci) =>
        h(
          'td',
          { class: 'num interval' },
          h('span', {}, pct(rate)),
          ci === null ? null : h('span', { class: 'ci' }, `${pct(ci[0])} to ${pct(ci[1])}`),
        );
      /** The challenger's difference in points, with its 95% interval. */
      const pointsCell = (d) =>
        d.difference === null
          ? h('td', { class: 'num' }, '—')
          : h(
              'td',
              { class: 'num interval' },
              h('span', {}, `${points(d.difference)} pp`),
              d.ci95 === null
                ? null
                : h('span', { class: 'ci' }, `${points(d.ci95[0])} to ${points(d.ci95[1])}`),
            );
      const moneyCell = (d) =>
        h('td', { class: 'num' }, d.difference === null ? '—' : signedMoney(d.difference));

      const { table } = ctx;

      // ---- the test running, and the actions -----------------------------------------------------
      const current = h('p', { id: 'challenger-current' }, 'Loading…');
      const message = h('p', { id: 'challenger-message', class: 'error', role: 'alert' });
      message.hidden = true;
      const notice = h('p', { id: 'challenger-notice', role: 'status' });
      const candidate = h('input', {
        id: 'challenger-candidate',
        name: 'candidate',
        required: '',
        autocomplete: 'off',
        spellcheck: 'false',
      });
      const share = h('input', {
        id: 'challenger-share',
        name: 'share',
        type: 'number',
        min: '0',
        max: '1',
        step: 'any',
        value: '0.1',
        required: '',
      });
      const start = h(
        'form',
        { class: 'inline-form', id: 'challenger-start', novalidate: '' },
        h('div', { class: 'field' }, h('label', { for: 'challenger-candidate' }, 'Candidate'), candidate),
        h('div', { class: 'field' }, h('label', { for: 'challenger-share' }, 'Share (0 to 1)'), share),
        h('button', { type: 'submit' }, 'Start'),
      );
      const stop = h('button', { type: 'button', class: 'secondary', id: 'challenger-stop' }, 'Stop');
      const promote = h('button', { type: 'button', id: 'challenger-promote' }, 'Promote');
      const actions = h('p', { class: 'inline-form' }, stop, promote);

      // ---- the comparison ------------------------------------------------------------------------
      const { form: range, query: rangeQuery } = ctx.dateRange('challenger');
      const period = h('p', { id: 'challenger-period' });
      const totalBody = h('tbody');
      const campaignBody = h('tbody');

      container.append(
        h('h3', {}, 'The test'),
        current,
        message,
        notice,
        start,
        actions,
        h(
          'p',
          { class: 'hint' },
          'The challenger decides for a stable share of customers (the same ones on every server); ',
          'the ruleset in force decides for the rest. Promoting serves the challenger on every server ',
          'until the next reload of the rules directory, and ends the test. These buttons need an admin key.',
        ),
        h('h3', {}, 'Champion against challenger'),
        range,
        period,
        table(
          'challenger-comparison',
          'Per customer reached (a campaign episode); the difference is the challenger’s, with its 95% interval',
          ['Measure', 'Champion', 'Challenger', 'Difference'],
          totalBody,
        ),
        table(
          'challenger-campaigns',
          'Conversions per customer, per campaign',
          [
            'Campaign',
            'Champion customers',
            'Champion rate',
            'Challenger customers',
            'Challenger rate',
            'Difference',
          ],
          campaignBody,
        ),
      );

      function showTest(test) {
        if (test === null) {
          current.replaceChildren('No test is running: the ruleset in force decides for every customer.');
          current.dataset.state = 'none';
        } else {
          current.replaceChildren(
            `Candidate ${test.candidate} (version ${test.version}) decides for ${pct(test.share)} of customers `,
            `since ${test.since}, started by ${test.by}; the champion is version ${test.championVersion}.`,
          );
          current.dataset.state = 'running';
          candidate.value ||= test.candidate;
        }
        stop.disabled = test === null;
        promote.disabled = test === null;
      }

      const measureRow = (name, champion, challenger, difference) =>
        h('tr', {}, h('th', { scope: 'row' }, name), champion, challenger, difference);

      function showReport(report) {
        period.replaceChildren(`${report.from} to ${report.to}.`);
        const { champion: a, challenger: b } = report;
        totalBody.replaceChildren(
          measureRow(
            'Customers reached',
            h('td', { class: 'num' }, count(a.customers)),
            h('td', { class: 'num' }, count(b.customers)),
            h('td', { class: 'num' }, ''),
          ),
          measureRow(
            'Conversion rate per customer',
            rateCell(a.conversionRate, a.conversionRateCi95),
            rateCell(b.conversionRate, b.conversionRateCi95),
            pointsCell(report.conversionRate),
          ),
          measureRow(
            'Revenue per customer',
            h('td', { class: 'num' }, money(a.revenuePerCustomer)),
            h('td', { class: 'num' }, money(b.revenuePerCustomer)),
            moneyCell(report.revenuePerCustomer),
          ),
          measureRow(
            'Accept rate',
            rateCell(a.acceptRate, a.acceptRateCi95),
            rateCell(b.acceptRate, b.acceptRateCi95),
            pointsCell(report.acceptRate),
          ),
        );
        campaignBody.replaceChildren(
          ...report.campaigns.map((c) =>
            h(
              'tr',
              { 'data-campaign': c.campaignId },
              h('th', { scope: 'row' }, c.campaignId),
              h('td', { class: 'num' }, count(c.champion.customers)),
              rateCell(c.champion.conversionRate, c.champion.conversionRateCi95),
              h('td', { class: 'num' }, count(c.challenger.customers)),
              rateCell(c.challenger.conversionRate, c.challenger.conversionRateCi95),
              pointsCell(c.conversionRate),
            ),
          ),
        );
      }

      async function load() {
        ctx.setStatus('Loading…');
        const report = await ctx.getJson(`/v1/reports/challenger${rangeQuery()}`);
        showTest(report.test);
        showReport(report);
        ctx.setStatus(report.test === null ? 'No test running' : `Testing ${report.test.candidate}`);
      }

      /** An action by button: its refusal is shown with the server's message; nothing else changes. */
      async function act(what, run) {
        message.hidden = true;
        notice.textContent = '';
        try {
          const done = await run();
          notice.textContent = done;
          ctx.announce(done);
          await load();
        } catch (err) {
          if (ctx.signal.aborted || err?.name === 'AbortError') return;
          message.textContent = `${what} failed: ${err.message}`;
          message.hidden = false;
        }
      }

      start.addEventListener('submit', (event) => {
        event.preventDefault();
        const name = candidate.value.trim();
        // Sent as typed: the server says what is wrong with a share (a number from 0 to 1).
        const value = share.value.trim() === '' ? share.value : Number(share.value);
        act('Start', async () => {
          const test = await ctx.send('PUT', '/v1/ruleset/challenger', { candidate: name, share: value });
          return `Started: ${test.candidate} decides for ${pct(test.share)} of customers.`;
        });
      });
      stop.addEventListener('click', () =>
        act('Stop', async () => {
          await ctx.send('DELETE', '/v1/ruleset/challenger');
          return 'Stopped: the ruleset in force decides for every customer.';
        }),
      );
      promote.addEventListener('click', () =>
        act('Promote', async () => {
          const result = await ctx.send('POST', '/v1/ruleset/challenger/promote');
          return `Promoted: ${result.candidate} is the ruleset in force (version ${result.version}).`;
        }),
      );
      range.addEventListener('submit', (event) => {
        event.preventDefault();
        load().catch(ctx.fail);
      });
      load().catch(ctx.fail);
    },
  });
})();
