/*
 * The workbench's what-if (POST /v1/what-if, GET /v1/what-if/:id): a candidate ruleset (from
 * GET /v1/ruleset/candidates) and the live one over a sample of the loaded population, for a
 * channel and a volume of contacts. While the run goes, a progress bar; when it is done, the two
 * side by side with the difference: reach, expected accepts and value, channel cost, and per
 * campaign the budget use and where a cap or budget ran out. All of it needs the admin scope.
 */
(() => {
  const CHANNELS = ['web', 'call_center', 'mobile', 'email', 'sales_force'];
  const POLL_MS = 250;
  const TOTALS = [
    ['decisions', 'Customers decided'],
    ['customersWithOffer', 'Customers with an offer'],
    ['offersShown', 'Offers shown'],
    ['heldOut', 'Held out (control groups)'],
    ['expectedAccepts', 'Expected accepts'],
    ['expectedValue', 'Expected value'],
    ['spend', 'Channel cost spent'],
    ['offersReached', 'Offers reached'],
    ['campaignsReached', 'Campaigns reached'],
    ['segmentsReached', 'Segments reached'],
    ['bound', 'Caps and budgets run out'],
  ];
  const BINDINGS = { cap_total: 'total cap', cap_per_day: 'daily cap', budget: 'budget' };

  const number = (n) =>
    Number.isInteger(n)
      ? n.toLocaleString('en-GB')
      : n.toLocaleString('en-GB', { maximumFractionDigits: 1, minimumFractionDigits: 1 });
  const signed = (n) => (n > 0 ? `+${number(n)}` : number(n));

  window.offerloopWorkbench.register({
    id: 'whatif',
    title: 'What-if',
    render(container, ctx) {
      const { h } = ctx;
      const candidate = h('select', { id: 'whatif-candidate', name: 'candidate' });
      const channel = h(
        'select',
        { id: 'whatif-channel', name: 'channel' },
        ...CHANNELS.map((c) => h('option', { value: c }, c)),
      );
      const volume = h('input', {
        id: 'whatif-volume',
        name: 'volume',
        type: 'number',
        min: '1',
        step: '1',
        value: '50000',
        required: '',
      });
      const start = h('button', { type: 'submit', id: 'whatif-start' }, 'Run');
      const form = h(
        'form',
        { class: 'inline-form', id: 'whatif-form', novalidate: '' },
        h('div', { class: 'field' }, h('label', { for: 'whatif-candidate' }, 'Candidate'), candidate),
        h('div', { class: 'field' }, h('label', { for: 'whatif-channel' }, 'Channel'), channel),
        h('div', { class: 'field' }, h('label', { for: 'whatif-volume' }, 'Contacts'), volume),
        start,
      );
      const hint = h(
        'p',
        { class: 'hint' },
        'Each contact is one customer of a stable sample of the population, decided once on each ruleset ' +
          'at the time of the run, with the learned propensities. Contact histories are not read.',
      );
      const message = h('p', { id: 'whatif-message', class: 'error', role: 'alert', hidden: '' });
      /** The section's own error line, shown only when it has something to say. */
      const say = (text) => {
        message.textContent = text;
        message.hidden = text === '';
      };
      const bar = h('progress', { id: 'whatif-progress', max: '1', value: '0', hidden: '' });
      const progressText = h('p', { id: 'whatif-progress-text', class: 'muted', 'aria-live': 'polite' });
      const result = h('div', { id: 'whatif-result' });
      container.append(form, hint, message, bar, progressText, result);

      let timer = null;
      const stopPolling = () => {
        if (timer !== null) clearTimeout(timer);
        timer = null;
      };
      ctx.signal.addEventListener('abort', stopPolling);

      async function loadCandidates() {
        ctx.setStatus('Loading candidates…');
        const { candidates } = await ctx.getJson('/v1/ruleset/candidates');
        candidate.replaceChildren(...candidates.map((c) => h('option', { value: c.name }, c.name)));
        start.disabled = candidates.length === 0;
        ctx.setStatus(
          candidates.length === 0
            ? 'No candidate rulesets: upload one in Candidates first.'
            : `${candidates.length} candidate${candidates.length === 1 ? '' : 's'}`,
        );
      }

      function showProgress(status) {
        bar.hidden = false;
        bar.max = Math.max(1, status.total);
        bar.value = Math.min(status.done, status.total);
        progressText.textContent = `${number(status.done)} of about ${number(status.total)} customers decided`;
      }

      async function poll(id) {
        timer = null;
        try {
          const status = await ctx.getJson(`/v1/what-if/${encodeURIComponent(id)}`);
          showProgress(status);
          if (status.state === 'running') {
            timer = setTimeout(() => poll(id), POLL_MS);
            return;
          }
          start.disabled = false;
          if (status.state === 'failed') {
            say(`The what-if failed: ${status.error}`);
            ctx.setStatus('Failed');
            return;
          }
          bar.value = bar.max;
          drawResult(status);
          ctx.setStatus(`Done in ${status.seconds} s`);
          ctx.announce(`What-if done: ${number(status.done)} customers.`);
        } catch (err) {
          start.disabled = false;
          ctx.fail(err);
        }
      }

      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        say('');
        const contacts = Number(volume.value);
        if (!Number.isInteger(contacts) || contacts < 1) {
          say('Contacts must be a whole number of at least 1.');
          volume.focus();
          return;
        }
        start.disabled = true;
        result.replaceChildren();
        stopPolling();
        try {
          const status = await ctx.send('POST', '/v1/what-if', {
            candidate: candidate.value,
            channel: channel.value,
            volume: contacts,
          });
          ctx.setStatus('Running…');
          showProgress(status);
          await poll(status.id);
        } catch (err) {
          start.disabled = false;
          say(err.message);
        }
      });

      function table(id, caption, head, rows) {
        return h(
          'div',
          { class: 'table-wrap' },
          h(
            'table',
            { id },
            h('caption', {}, caption),
            h(
              'thead',
              {},
              h('tr', {}, ...head.map((t, i) => h('th', { scope: 'col', class: i > 0 ? 'num' : null }, t))),
            ),
            h('tbody', {}, ...rows),
          ),
        );
      }

      function drawResult(status) {
        const { live, candidate: cand, difference } = status.result;
        const totals = TOTALS.map(([key, label]) =>
          h(
            'tr',
            { 'data-total': key },
            h('th', { scope: 'row' }, label),
            h('td', { class: 'num' }, number(live.totals[key])),
            h('td', { class: 'num' }, number(cand.totals[key])),
            h('td', { class: 'num' }, signed(difference.totals[key])),
          ),
        );
        const ids = [...new Set([...live.campaigns, ...cand.campaigns].map((c) => c.id))];
        const line = (side, id) => side.campaigns.find((c) => c.id === id);
        const use = (c) => {
          if (c === undefined) return '—';
          const parts = [];
          if (c.budgetUse !== null) parts.push(`${Math.round(c.budgetUse * 100)} % of budget`);
          if (c.boundBy !== null)
            parts.push(`${BINDINGS[c.boundBy]} ran out at ${number(c.boundAtDecision)}`);
          return parts.length === 0 ? '—' : parts.join(', ');
        };
        const campaigns = ids.map((id) => {
          const a = line(live, id);
          const b = line(cand, id);
          const d = difference.campaigns.find((c) => c.id === id);
          return h(
            'tr',
            { 'data-campaign': id },
            h('th', { scope: 'row' }, id),
            h('td', { class: 'num' }, number(a?.shown ?? 0)),
            h('td', { class: 'num' }, number(b?.shown ?? 0)),
            h('td', { class: 'num' }, signed(d?.shown ?? 0)),
            h('td', { class: 'num' }, number(a?.expectedAccepts ?? 0)),
            h('td', { class: 'num' }, number(b?.expectedAccepts ?? 0)),
            h('td', {}, use(a)),
            h('td', { class: b?.boundBy ? 'flag' : null }, use(b)),
          );
        });
        result.setAttribute('data-run', status.id);
        result.replaceChildren(
          h(
            'p',
            { id: 'whatif-summary' },
            `${status.channel}, ${number(status.done)} of ${number(status.population)} customers (${status.store}), ` +
              `${status.limit} offer${status.limit === 1 ? '' : 's'} per contact, ` +
              `live ${live.rulesetVersion} against ${cand.name} ${cand.rulesetVersion}, at ${status.result.now}.`,
          ),
          table(
            'whatif-totals',
            'Live and candidate side by side',
            ['', 'Live', 'Candidate', 'Difference'],
            totals,
          ),
          table(
            'whatif-campaigns',
            'By campaign',
            [
              'Campaign',
              'Shown, live',
              'Candidate',
              'Difference',
              'Expected accepts, live',
              'Candidate',
              'Live: budget and caps',
              'Candidate',
            ],
            campaigns,
          ),
        );
      }

      loadCandidates().catch(ctx.fail);
      return stopPolling;
    },
  });
})();
