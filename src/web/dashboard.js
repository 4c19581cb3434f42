/*
 * The campaign dashboard (GET /dashboard/): signs in with an API key that has the `report` scope,
 * lists the campaigns with their KPI and uplift over a date range (GET /v1/reports/campaigns), and
 * shows one campaign in detail (GET /v1/reports/campaigns/:id): KPI progress, the uplift of the
 * conversion rate per customer (the headline) and per decision with their 95% intervals, what made
 * them customers (the per-person funnel and three attribution models), the funnel, response rates per day, a breakdown by channel and a CSV download. Charts are drawn with
 * uPlot (served from /web/vendor/); every chart has a text equivalent beside it. No framework, no
 * build step, no HTML from data (textContent only).
 * Guarded by test/browser/dashboard.int.test.ts.
 */
(() => {
  const STORE_KEY = 'offerloop.dashboard.apiKey';
  const DAY_MS = 86_400_000;
  const DEFAULT_DAYS = 30;
  const COLORS = {
    ink: '#1b2230',
    muted: '#55607a',
    grid: '#e3e7ee',
    accept: '#0b5cad',
    click: '#b35c00',
    conversion: '#1d6b36',
    bar: '#0b5cad',
    barFill: 'rgba(11, 92, 173, 0.8)',
    zero: '#a3261b',
  };
  const OBJECTIVES = {
    cross_sell: 'Cross-sell',
    up_sell: 'Up-sell',
    retention: 'Retention',
    acquisition: 'Acquisition',
    activation: 'Activation',
    service: 'Service',
  };
  const KPI_METRICS = {
    accept_rate: 'Accept rate',
    conversion_rate: 'Conversion rate',
    conversions: 'Conversions',
    revenue: 'Revenue',
    new_customers: 'New customers',
    retention: 'Retention',
  };
  const STAGES = { impression: 'impressions', accept: 'accepts', conversion: 'conversions' };
  const CSV_GROUPS = { day: 'Day', channel: 'Channel', segment: 'Segment', offer: 'Offer' };
  /** Whole-number tick steps for counts: a count axis never shows 0.5. */
  const COUNT_INCRS = [];
  for (let p = 1; p <= 1e12; p *= 10) COUNT_INCRS.push(p, 2 * p, 5 * p);

  // The top of the page, the elements every console has and the DOM helpers are console.js's
  // (text only, never HTML from data).
  const { h, showError, announce, keySession } = window.offerloopConsole;
  const $ = (id) => document.getElementById(id);
  const ui = {
    ...window.offerloopConsole.ui,
    app: $('app'),
    range: $('range'),
    from: $('from'),
    to: $('to'),
    list: $('list'),
    listHeading: $('list-heading'),
    listStatus: $('list-status'),
    table: $('campaigns'),
    tbody: $('campaigns').tBodies[0],
    detail: $('detail'),
    back: $('back'),
    detailHeading: $('detail-heading'),
    detailMeta: $('detail-meta'),
    detailStatus: $('detail-status'),
    detailBody: $('detail-body'),
  };

  /** The API key while signed in, else null. */
  let key = null;
  /** Each load takes a number; an answer for an older one is dropped (the user moved on). */
  let loadSeq = 0;
  /** The uPlot charts on screen, with what they need to follow the page's width. */
  let charts = [];
  /** The campaign whose detail was last shown, to give the focus back to its link. */
  let lastCampaign = null;

  // ---- formatting: fixed to en-US so that what the page says does not depend on the browser -----

  const intFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 0 });
  const decimalFormat = new Intl.NumberFormat('en-US', { maximumFractionDigits: 2 });
  const oneDecimalFormat = new Intl.NumberFormat('en-US', {
    minimumFractionDigits: 1,
    maximumFractionDigits: 1,
  });
  const moneyFormat = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const isNumber = (x) => typeof x === 'number' && Number.isFinite(x);

  const count = (n) => (isNumber(n) ? intFormat.format(n) : '—');
  const decimal = (n) => (isNumber(n) ? decimalFormat.format(n) : '—');
  const money = (n) => (isNumber(n) ? moneyFormat.format(n) : '—');
  const pct = (x, digits = 1) => (isNumber(x) ? `${(x * 100).toFixed(digits)}%` : '—');

  /** A difference of rates in percentage points, signed, without the unit: "+1.25", "−0.40", "0.00". */
  function ppNumber(x) {
    if (!isNumber(x)) return '—';
    const rounded = Number((x * 100).toFixed(2));
    const sign = rounded > 0 ? '+' : rounded < 0 ? '−' : '';
    return `${sign}${Math.abs(rounded).toFixed(2)}`;
  }

  /** A difference of rates in percentage points: "+1.25 pp", "−0.40 pp", "0.00 pp". */
  const pp = (x) => (isNumber(x) ? `${ppNumber(x)} pp` : '—');

  /** A number with its sign, "−" for minus: "+2.5", "−10", "0". */
  function signed(x, format) {
    const sign = x > 0 ? '+' : x < 0 ? '−' : '';
    return `${sign}${format.format(Math.abs(x))}`;
  }

  /** A ratio as a signed percentage ("+12.5%", "+1,234.0%"), for ROI and relative uplift. */
  const signedPct = (x) => (isNumber(x) ? `${signed(Number((x * 100).toFixed(1)), oneDecimalFormat)}%` : '—');

  function kpiValue(metric, value) {
    if (!isNumber(value)) return '—';
    if (metric === 'accept_rate' || metric === 'conversion_rate' || metric === 'retention')
      return pct(value, 2);
    if (metric === 'revenue') return money(value);
    if (metric === 'conversions') return count(value);
    return decimal(value);
  }

  const objectiveLabel = (o) => OBJECTIVES[o] ?? String(o ?? '—');
  const metricLabel = (m) => KPI_METRICS[m] ?? String(m);
  const stageName = (s) => {
    const label = typeof s.label === 'string' && s.label ? s.label : s.stage;
    return `${label.charAt(0).toUpperCase()}${label.slice(1)}`;
  };

  /** The interval of an uplift, or null: "no data" (null) must not look like an interval. */
  function intervalOf(u) {
    if (!u || !isNumber(u.uplift) || !Array.isArray(u.ci95)) return null;
    const [low, high] = u.ci95;
    return isNumber(low) && isNumber(high) ? { point: u.uplift, low, high } : null;
  }

  const intervalText = (i) => `${pp(i.point)} (95% interval ${pp(i.low)} to ${pp(i.high)})`;

  /** For a table cell: the uplift, and its interval on a line below ("+1.20 pp (−0.40 to +2.80)"). */
  const intervalCell = (i) =>
    h(
      'span',
      { class: 'interval' },
      h('span', {}, pp(i.point)),
      ' ',
      h('span', { class: 'ci' }, `(${ppNumber(i.low)} to ${ppNumber(i.high)})`),
    );

  // ---- dates: the report's days are UTC days ----------------------------------------------------

  const isoDay = (ms) => new Date(ms).toISOString().slice(0, 10);
  /** The date of an ISO date-time (a schedule's start or end); open ends show as "…". */
  const day = (iso) => (typeof iso === 'string' && iso ? iso.slice(0, 10) : '…');
  const DATE = /^\d{4}-\d{2}-\d{2}$/;

  function defaultRange() {
    const today = Math.floor(Date.now() / DAY_MS) * DAY_MS;
    ui.to.value = isoDay(today);
    ui.from.value = isoDay(today - (DEFAULT_DAYS - 1) * DAY_MS);
  }

  /** The chosen range, or null after saying what is wrong with it. */
  function readRange() {
    const from = ui.from.value;
    const to = ui.to.value;
    if (!DATE.test(from) || !DATE.test(to)) {
      showError(ui.error, 'Choose a start and an end date.');
      (DATE.test(from) ? ui.to : ui.from).focus();
      return null;
    }
    if (from > to) {
      showError(ui.error, 'The start date must not be after the end date.');
      ui.from.focus();
      return null;
    }
    return { from, to };
  }

  // ---- the API ----------------------------------------------------------------------------------

  /** The key was refused: the page is back at the sign-in form, with the reason. */
  class Refused extends Error {}

  async function api(path) {
    let res;
    try {
      res = await fetch(path, { headers: { authorization: `Bearer ${key}` }, cache: 'no-store' });
    } catch (err) {
      throw new Error(`Cannot reach Offerloop: ${err.message}`);
    }
    if (res.status === 401 || res.status === 403) {
      const message =
        res.status === 401
          ? 'This API key was not accepted. Enter another key.'
          : 'This API key may not read reports: it needs the report scope. Enter another key.';
      signOut(message);
      throw new Refused(message);
    }
    if (!res.ok) {
      let message = `The server answered ${res.status}.`;
      try {
        const body = await res.json();
        if (body?.error && typeof body.error.message === 'string') message = body.error.message;
      } catch {
        // Not JSON: the status says enough.
      }
      throw new Error(message);
    }
    return res;
  }

  const getJson = async (path) => (await api(path)).json();

  function query(params) {
    return new URLSearchParams(params).toString();
  }

  // ---- signing in and out -----------------------------------------------------------------------

  const signOut = keySession({
    storeKey: STORE_KEY,
    app: ui.app,
    onSignIn(apiKey) {
      key = apiKey;
      route();
    },
    onSignOut() {
      key = null;
      loadSeq++;
      destroyCharts();
      ui.tbody.replaceChildren();
      ui.listStatus.textContent = '';
      ui.detailBody.replaceChildren();
      ui.detailStatus.textContent = '';
    },
  });

  ui.range.addEventListener('submit', (event) => {
    event.preventDefault();
    route();
  });

  // ---- views: #/campaigns/<id> is a campaign's detail, anything else the list -------------------

  function campaignHash(id) {
    return `#/campaigns/${encodeURIComponent(id)}`;
  }

  function route() {
    if (key === null) return;
    const match = /^#\/campaigns\/([^/?#]+)$/.exec(location.hash);
    let id = null;
    if (match) {
      try {
        id = decodeURIComponent(match[1]);
      } catch {
        id = null;
      }
    }
    if (id === null) showList();
    else showDetail(id);
  }

  window.addEventListener('hashchange', route);
  ui.back.addEventListener('click', (event) => {
    event.preventDefault();
    history.pushState(null, '', location.pathname + location.search);
    route();
  });

  async function load(view, statusEl, work) {
    const seq = ++loadSeq;
    showError(ui.error, '');
    statusEl.textContent = 'Loading…';
    try {
      const result = await work();
      if (seq !== loadSeq || key === null) return;
      view(result);
    } catch (err) {
      if (seq !== loadSeq || err instanceof Refused) return;
      statusEl.textContent = '';
      showError(ui.error, err.message);
    }
  }

  function showList() {
    const range = readRange();
    ui.detail.hidden = true;
    ui.list.hidden = false;
    destroyCharts();
    if (range === null) return;
    load(
      (report) => {
        renderList(report);
        if (lastCampaign !== null) {
          const row = [...ui.tbody.rows].find((r) => r.dataset.campaignId === lastCampaign);
          lastCampaign = null;
          row?.querySelector('a')?.focus();
        }
      },
      ui.listStatus,
      () => getJson(`/v1/reports/campaigns?${query(range)}`),
    );
  }

  function showDetail(id) {
    const range = readRange();
    ui.list.hidden = true;
    ui.detail.hidden = false;
    destroyCharts();
    ui.detailHeading.textContent = id;
    ui.detailMeta.textContent = '';
    ui.detailBody.replaceChildren();
    if (range === null) return;
    const base = `/v1/reports/campaigns/${encodeURIComponent(id)}?${query(range)}`;
    load(
      ([byDay, byChannel]) => {
        lastCampaign = id;
        renderDetail(byDay, byChannel, range);
        ui.detailHeading.focus();
        announce(`${byDay.campaign?.name ?? id}: report loaded`);
      },
      ui.detailStatus,
      () => Promise.all([getJson(`${base}&groupBy=day`), getJson(`${base}&groupBy=channel`)]),
    );
  }

  // ---- the list ---------------------------------------------------------------------------------

  function renderList(report) {
    const campaigns = Array.isArray(report.campaigns) ? report.campaigns : [];
    ui.tbody.replaceChildren(...campaigns.map(campaignRow));
    ui.table.hidden = campaigns.length === 0;
    const withData = campaigns.filter((c) => c.totals?.impressions > 0).length;
    if (campaigns.length === 0) ui.listStatus.textContent = 'No campaigns in the rules.';
    else {
      const n = `${campaigns.length} campaign${campaigns.length === 1 ? '' : 's'}, ${report.from} to ${report.to}`;
      ui.listStatus.textContent =
        withData === 0 ? `${n}: no data yet in this range.` : `${n}; ${withData} with impressions.`;
    }
  }

  function campaignRow(c) {
    const t = c.totals || {};
    const interval = intervalOf(t.uplift);
    const cu = t.customerUplift || {};
    const customerInterval = intervalOf(cu);
    return h(
      'tr',
      { 'data-campaign-id': c.id },
      h('th', { scope: 'row' }, h('a', { href: campaignHash(c.id) }, c.name || c.id)),
      h('td', {}, objectiveLabel(c.objective)),
      h('td', { 'data-col': 'kpi', class: 'kpi' }, kpiSummary(c.kpi), kpiBar(c.kpi)),
      h(
        'td',
        { 'data-col': 'customer-uplift', class: 'uplift headline' },
        customerInterval
          ? intervalCell(customerInterval)
          : h('span', { class: 'muted' }, noCustomersYet(cu).toLowerCase()),
      ),
      h('td', { class: 'num', 'data-col': 'customer-rates' }, customerRates(cu)),
      h(
        'td',
        { class: 'num', 'data-col': 'revenue-per-customer' },
        `${money(cu.treated?.revenuePerCustomer)} vs ${money(cu.control?.revenuePerCustomer)}`,
      ),
      h('td', { class: 'num', 'data-col': 'journeys' }, leadsAndCustomers(t.journeys)),
      h('td', { class: 'num', 'data-col': 'impressions' }, count(t.impressions)),
      h('td', { class: 'num', 'data-col': 'accepts' }, count(t.accepts)),
      h('td', { class: 'num', 'data-col': 'accept-rate' }, pct(t.rates?.acceptRate, 2)),
      h('td', { class: 'num', 'data-col': 'conversions' }, count(t.conversions)),
      h('td', { class: 'num', 'data-col': 'revenue' }, money(t.revenue)),
      h('td', { class: 'num', 'data-col': 'roi' }, signedPct(t.roi)),
      h(
        'td',
        { 'data-col': 'uplift', class: 'uplift' },
        interval ? intervalCell(interval) : h('span', { class: 'muted' }, 'no data yet'),
      ),
    );
  }

  /** The conversion rate per customer, treated vs control, and the customers below: "60.00% vs 30.00%". */
  function customerRates(cu) {
    return h(
      'span',
      { class: 'interval' },
      h('span', {}, `${pct(cu.treated?.rate, 2)} vs ${pct(cu.control?.rate, 2)}`),
      ' ',
      h(
        'span',
        { class: 'ci' },
        `(${count(cu.treated?.customers)} vs ${count(cu.control?.customers)} customers)`,
      ),
    );
  }

  /** Leads and customers credited to the campaign, position-based: "6.5 / 1.25". */
  function leadsAndCustomers(j) {
    return `${decimal(j?.leads?.positionBased)} / ${decimal(j?.customers?.positionBased)}`;
  }

  /** Why a per-customer uplift has no interval: a group without customers. */
  function noCustomersYet(cu) {
    const treated = isNumber(cu.treated?.customers) && cu.treated.customers > 0;
    const control = isNumber(cu.control?.customers) && cu.control.customers > 0;
    if (!treated && !control) return 'No customers yet';
    if (!control) return 'No control customers yet';
    return 'No treated customers yet';
  }

  function kpiSummary(kpi) {
    if (!kpi) return h('span', { class: 'muted' }, 'no KPI');
    return h(
      'span',
      { class: 'kpi-summary' },
      `${metricLabel(kpi.metric)}: ${kpiValue(kpi.metric, kpi.actual)} of ${kpiValue(kpi.metric, kpi.target)}`,
    );
  }

  /** A progress bar with its percentage as text; over 100% the bar is full and the text says how much. */
  function kpiBar(kpi) {
    if (!kpi) return null;
    if (!isNumber(kpi.progress)) return h('span', { class: 'muted' }, 'no data yet');
    const percent = Math.round(kpi.progress * 100);
    const label = `${percent}% of the ${metricLabel(kpi.metric).toLowerCase()} target`;
    return h(
      'span',
      { class: 'kpi-progress' },
      h('progress', {
        max: 100,
        value: Math.max(0, Math.min(100, percent)),
        'aria-label': label,
        class: percent >= 100 ? 'done' : null,
      }),
      h('span', { class: 'kpi-percent' }, `${percent}%`),
    );
  }

  // ---- the detail -------------------------------------------------------------------------------

  function section(id, title, ...children) {
    return h(
      'section',
      { class: 'card', id, 'aria-labelledby': `${id}-heading` },
      h('h3', { id: `${id}-heading` }, title),
      ...children,
    );
  }

  const noData = (text) => h('p', { class: 'no-data' }, text);

  function definitions(pairs) {
    const dl = h('dl', { class: 'facts' });
    for (const [term, value, attrs] of pairs) dl.append(h('dt', {}, term), h('dd', attrs || {}, value));
    return dl;
  }

  function renderDetail(byDay, byChannel, range) {
    const c = byDay.campaign || {};
    const t = byDay.totals || {};
    const hasData = isNumber(t.impressions) && t.impressions > 0;
    ui.detailHeading.textContent = c.name || c.id;
    ui.detailMeta.textContent = [
      c.id,
      objectiveLabel(c.objective),
      isNumber(c.controlShare) ? `control group ${pct(c.controlShare, 0)}` : null,
      c.start || c.end ? `runs ${day(c.start)} to ${day(c.end)}` : null,
      `report ${byDay.from ?? range.from} to ${byDay.to ?? range.to} (UTC)`,
    ]
      .filter(Boolean)
      .join(' · ');
    ui.detailStatus.textContent = hasData ? '' : 'No data yet for this campaign in this range.';

    const pending = [];
    const parts = [
      h(
        'div',
        { class: 'cards' },
        kpiSection(byDay.kpis ?? (byDay.kpi ? [byDay.kpi] : [])),
        totalsSection(t),
      ),
      customerUpliftSection(t.customerUplift, pending),
      lifecycleSection(t.lifecycleMix),
      journeysSection(t.journeys),
      upliftSection(t.uplift, pending),
      funnelSection(t, hasData, pending),
      ratesSection(byDay.groups, hasData, pending),
      channelSection(byChannel.groups, hasData),
      csvSection(c.id, range),
    ];
    ui.detailBody.replaceChildren(...parts);
    // Charts take their width from their box, which has one only once it is in the page.
    if (typeof window.uPlot !== 'function') {
      for (const p of pending)
        p.el.replaceChildren(noData('Charts are unavailable; the table holds the data.'));
      return;
    }
    for (const p of pending) p.draw();
  }

  /** The headline KPI (the first) in full, then the others with their progress, one line each. */
  function kpiSection(kpis) {
    const [kpi, ...others] = kpis;
    if (!kpi) return section('kpi', 'KPI', h('p', { class: 'muted' }, 'This campaign has no KPI.'));
    return section(
      'kpi',
      others.length === 0 ? 'KPI' : 'KPIs',
      definitions([
        ['Metric', metricLabel(kpi.metric)],
        ['Target', kpiValue(kpi.metric, kpi.target), { 'data-field': 'kpi-target' }],
        ['Actual', kpiValue(kpi.metric, kpi.actual), { 'data-field': 'kpi-actual' }],
      ]),
      h('div', { class: 'kpi-big' }, kpiBar(kpi)),
      others.length === 0
        ? null
        : h(
            'ul',
            { class: 'other-kpis' },
            ...others.map((k) => h('li', { 'data-metric': k.metric }, kpiSummary(k), ' ', kpiBar(k))),
          ),
    );
  }

  function totalsSection(t) {
    const ci = Array.isArray(t.acceptRateCi95) ? t.acceptRateCi95 : null;
    return section(
      'totals',
      'Totals',
      definitions([
        ['Impressions', count(t.impressions), { 'data-field': 'impressions' }],
        ['Views', count(t.views), { 'data-field': 'views' }],
        ['Clicks', count(t.clicks), { 'data-field': 'clicks' }],
        ['Accepts', count(t.accepts), { 'data-field': 'accepts' }],
        ['Rejects', count(t.rejects), { 'data-field': 'rejects' }],
        ['Dismissals', count(t.dismissals), { 'data-field': 'dismissals' }],
        ['Conversions', count(t.conversions), { 'data-field': 'conversions' }],
        ['Revenue', money(t.revenue), { 'data-field': 'revenue' }],
        ['Cost', money(t.cost), { 'data-field': 'cost' }],
        ['ROI', signedPct(t.roi), { 'data-field': 'roi' }],
        [
          'Accept rate',
          ci
            ? `${pct(t.rates?.acceptRate, 2)} (95% interval ${pct(ci[0], 2)} to ${pct(ci[1], 2)})`
            : pct(t.rates?.acceptRate, 2),
          { 'data-field': 'accept-rate' },
        ],
        ['Control group decisions', count(t.controls), { 'data-field': 'controls' }],
        ['Control group conversions', count(t.controlConversions), { 'data-field': 'control-conversions' }],
      ]),
    );
  }

  /**
   * The headline: the uplift of the conversion rate per customer episode, treated against control,
   * with the two groups side by side (customers, converted, rate, revenue per customer).
   */
  /** The customers the campaign reached, by their lifecycle stage then (rules/lifecycle.yaml). */
  function lifecycleSection(mix) {
    const entries = Object.entries(mix || {})
      .filter(([, n]) => isNumber(n) && n > 0)
      .sort((a, b) => b[1] - a[1]);
    const total = entries.reduce((sum, [, n]) => sum + n, 0);
    if (total === 0)
      return section(
        'lifecycle-mix',
        'Customers reached by lifecycle stage',
        noData('No customers reached yet in this range.'),
      );
    return section(
      'lifecycle-mix',
      'Customers reached by lifecycle stage',
      definitions(
        entries.map(([stage, n]) => [
          stage,
          `${n.toLocaleString('en')} (${pct(n / total, 0)})`,
          { 'data-stage': stage },
        ]),
      ),
    );
  }

  const days = (d) => (isNumber(d) ? `${decimal(d)} day${d === 1 ? '' : 's'}` : '—');
  const JOURNEY_STAGES = { prospect: 'Prospects', lead: 'Leads', customer: 'Customers' };
  const JOURNEY_FROM = {
    prospect: '—',
    lead: 'from the first touch',
    customer: 'from the lead',
  };

  /**
   * What made them customers: the per-person funnel prospects → leads → customers (customers
   * reached, then position-based credits), the median days between the stages, and the three
   * attribution models side by side (docs/reports.md).
   */
  function journeysSection(journeys) {
    const j = journeys || {};
    const funnel = Array.isArray(j.funnel) ? j.funnel : [];
    const leads = j.leads || {};
    const customers = j.customers || {};
    const any = funnel.some((s) => isNumber(s.count) && s.count > 0);
    const title = 'What made them customers';
    if (!any)
      return section(
        'journeys',
        title,
        noData('No journeys yet: no prospects, leads or customers in this range.'),
      );
    const text = h(
      'p',
      { id: 'journeys-text', class: 'chart-text' },
      `${decimal(leads.positionBased)} leads and ${decimal(customers.positionBased)} customers (position-based); ` +
        `median ${days(j.medianDaysToLead)} from the first touch to the lead, ${days(j.medianDaysToCustomer)} to the customer, ` +
        `${days(j.medianDaysLeadToCustomer)} from the lead to the customer.`,
    );
    const funnelTable = h(
      'table',
      { id: 'journey-funnel' },
      h('caption', {}, 'Per person: prospects (customers reached) → leads → customers'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Stage'),
          h('th', { scope: 'col', class: 'num' }, 'Persons'),
          h('th', { scope: 'col', class: 'num' }, 'From the previous stage'),
          h('th', { scope: 'col', class: 'num' }, 'Median time'),
        ),
      ),
      h(
        'tbody',
        {},
        ...funnel.map((s, i) =>
          h(
            'tr',
            { 'data-stage': s.stage },
            h('th', { scope: 'row' }, JOURNEY_STAGES[s.stage] ?? String(s.stage)),
            h(
              'td',
              { class: 'num', 'data-col': 'count' },
              s.stage === 'prospect' ? count(s.count) : decimal(s.count),
            ),
            h('td', { class: 'num', 'data-col': 'from-previous' }, i === 0 ? '—' : pct(s.fromPrevious)),
            h(
              'td',
              { class: 'num', 'data-col': 'median-days' },
              i === 0 ? '—' : `${days(s.medianDaysFromPrevious)} ${JOURNEY_FROM[s.stage] ?? ''}`.trim(),
            ),
          ),
        ),
      ),
    );
    const models = [
      ['first-touch', 'First touch', 'firstTouch'],
      ['last-touch', 'Last touch', 'lastTouch'],
      ['position-based', 'Position-based (40/20/40)', 'positionBased'],
    ];
    const modelTable = h(
      'table',
      { id: 'attribution-table' },
      h('caption', {}, 'Leads and customers credited to the campaign, by attribution model'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Model'),
          h('th', { scope: 'col', class: 'num' }, 'Leads'),
          h('th', { scope: 'col', class: 'num' }, 'Customers'),
        ),
      ),
      h(
        'tbody',
        {},
        ...models.map(([id, name, key]) =>
          h(
            'tr',
            { 'data-model': id },
            h('th', { scope: 'row' }, name),
            h('td', { class: 'num', 'data-group': 'leads' }, decimal(leads[key])),
            h('td', { class: 'num', 'data-group': 'customers' }, decimal(customers[key])),
          ),
        ),
      ),
    );
    return section('journeys', title, text, h('div', { class: 'journeys' }, funnelTable, modelTable));
  }

  function customerUpliftSection(cu, pending) {
    const u = cu || {};
    const interval = intervalOf(u);
    const treated = u.treated || {};
    const control = u.control || {};
    const anyCustomers = treated.customers > 0 || control.customers > 0;
    const groups = anyCustomers ? customerTable(treated, control) : null;
    if (!interval) {
      return section(
        'customer-uplift',
        'Uplift per customer',
        noData(
          `${noCustomersYet(u)}: the uplift per customer needs customers reached by the campaign and customers of its control group in this range.`,
        ),
        groups,
      );
    }
    const chart = h('div', { class: 'chart', 'aria-hidden': 'true' });
    const text = h(
      'p',
      {
        id: 'customer-uplift-text',
        class: 'chart-text',
        'data-uplift': interval.point,
        'data-ci-low': interval.low,
        'data-ci-high': interval.high,
      },
      `Uplift per customer ${intervalText(interval)}: ${verdict(interval)}`,
    );
    pending.push({
      el: chart,
      draw: () =>
        intervalChart(chart, interval, 'Treated − control conversion rate per customer, percentage points'),
    });
    return section(
      'customer-uplift',
      'Uplift per customer',
      h('figure', { class: 'chart-figure' }, chart, h('figcaption', {}, text)),
      groups,
      definitions([
        ['Relative uplift', signedPct(u.relative), { 'data-field': 'customer-relative' }],
        [
          'Incremental customers',
          isNumber(u.incrementalCustomers) ? signed(u.incrementalCustomers, decimalFormat) : '—',
          { 'data-field': 'incremental-customers' },
        ],
        [
          'Revenue per customer, treated − control',
          isNumber(u.revenuePerCustomerDiff) ? signed(u.revenuePerCustomerDiff, moneyFormat) : '—',
          { 'data-field': 'revenue-per-customer-diff' },
        ],
        [
          'Incremental revenue',
          isNumber(u.incrementalRevenue) ? signed(u.incrementalRevenue, moneyFormat) : '—',
          { 'data-field': 'incremental-revenue' },
        ],
      ]),
    );
  }

  /** Treated and control customers side by side. */
  function customerTable(treated, control) {
    const rateText = (g) =>
      Array.isArray(g.ci95)
        ? `${pct(g.rate, 2)} (95% interval ${pct(g.ci95[0], 2)} to ${pct(g.ci95[1], 2)})`
        : pct(g.rate, 2);
    const rows = [
      ['customers', 'Customers', (g) => count(g.customers)],
      ['converted', 'Converted', (g) => count(g.conversions)],
      ['rate', 'Conversion rate', rateText],
      ['revenue-per-customer', 'Revenue per customer', (g) => money(g.revenuePerCustomer)],
    ];
    return h(
      'table',
      { id: 'customer-table' },
      h(
        'caption',
        { class: 'visually-hidden' },
        'Customers reached by the campaign and of its control group',
      ),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Per customer'),
          h('th', { scope: 'col', class: 'num' }, 'Treated'),
          h('th', { scope: 'col', class: 'num' }, 'Control'),
        ),
      ),
      h(
        'tbody',
        {},
        ...rows.map(([id, name, cell]) =>
          h(
            'tr',
            { 'data-row': id },
            h('th', { scope: 'row' }, name),
            h('td', { class: 'num', 'data-group': 'treated' }, cell(treated)),
            h('td', { class: 'num', 'data-group': 'control' }, cell(control)),
          ),
        ),
      ),
    );
  }

  function upliftSection(u, pending) {
    const interval = intervalOf(u);
    if (!interval) {
      return section(
        'uplift',
        'Uplift per decision',
        noData(
          'No data yet: the uplift needs impressions and decisions for the control group in this range.',
        ),
        u && (isNumber(u.treatedRate) || isNumber(u.controlRate))
          ? definitions([
              ['Treated conversion rate', pct(u.treatedRate, 2)],
              ['Control conversion rate', pct(u.controlRate, 2)],
            ])
          : null,
      );
    }
    const chart = h('div', { class: 'chart', 'aria-hidden': 'true' });
    const text = h(
      'p',
      {
        id: 'uplift-text',
        class: 'chart-text',
        'data-uplift': interval.point,
        'data-ci-low': interval.low,
        'data-ci-high': interval.high,
      },
      `Uplift ${intervalText(interval)}: ${verdict(interval)}`,
    );
    pending.push({
      el: chart,
      draw: () =>
        intervalChart(chart, interval, 'Treated − control conversion rate per decision, percentage points'),
    });
    const rpd = u.revenuePerDecision || {};
    return section(
      'uplift',
      'Uplift per decision',
      h('figure', { class: 'chart-figure' }, chart, h('figcaption', {}, text)),
      definitions([
        ['Treated conversion rate', pct(u.treatedRate, 2)],
        ['Control conversion rate', pct(u.controlRate, 2)],
        ['Relative uplift', signedPct(u.relative)],
        [
          'Incremental conversions',
          isNumber(u.incrementalConversions) ? signed(u.incrementalConversions, decimalFormat) : '—',
        ],
        ['Revenue per decision, treated', money(rpd.treated)],
        ['Revenue per decision, control', money(rpd.control)],
      ]),
    );
  }

  function verdict(i) {
    if (i.low > 0) return 'the offers raise the conversion rate (the interval is above zero).';
    if (i.high < 0) return 'the offers lower the conversion rate (the interval is below zero).';
    return 'not distinguishable from zero yet (the interval includes zero).';
  }

  function funnelSection(t, hasData, pending) {
    const funnel = Array.isArray(t.funnel) ? t.funnel : [];
    if (!hasData || funnel.length === 0) {
      return section('funnel', 'Funnel', noData('No data yet: no impressions in this range.'));
    }
    const chart = h('div', { class: 'chart', 'aria-hidden': 'true' });
    pending.push({ el: chart, draw: () => funnelChart(chart, funnel) });
    const table = h(
      'table',
      { id: 'funnel-table' },
      h('caption', {}, 'Funnel: customers at each stage'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Stage'),
          h('th', { scope: 'col', class: 'num' }, 'Count'),
          h('th', { scope: 'col', class: 'num' }, 'From the previous stage'),
          h('th', { scope: 'col', class: 'num' }, 'From the top'),
        ),
      ),
      h(
        'tbody',
        {},
        ...funnel.map((s, i) =>
          h(
            'tr',
            { 'data-stage': s.stage },
            h('th', { scope: 'row' }, `${stageName(s)} (${STAGES[s.stage] ?? s.stage})`),
            h('td', { class: 'num', 'data-col': 'count' }, count(s.count)),
            h('td', { class: 'num' }, i === 0 ? '—' : pct(s.fromPrevious)),
            h('td', { class: 'num' }, pct(s.fromTop)),
          ),
        ),
      ),
    );
    return section(
      'funnel',
      'Funnel',
      h('figure', { class: 'chart-figure' }, chart, h('figcaption', {}, table)),
    );
  }

  function ratesSection(groups, hasData, pending) {
    const days = (Array.isArray(groups) ? groups : []).filter((g) => DATE.test(g.key));
    const shown = days.filter((g) => g.impressions > 0);
    if (!hasData || shown.length === 0) {
      return section(
        'rates',
        'Response rates over time',
        noData('No data yet: no impressions in this range.'),
      );
    }
    const chart = h('div', { class: 'chart', 'aria-hidden': 'true' });
    pending.push({ el: chart, draw: () => ratesChart(chart, days) });
    const summary = h(
      'p',
      { class: 'chart-text', id: 'rates-text' },
      `Accept, click and conversion rate per UTC day, ${days[0].key} to ${days[days.length - 1].key}; ` +
        `${shown.length} of ${days.length} days have impressions (days without impressions have no rate).`,
    );
    const table = h(
      'table',
      { id: 'rates-table' },
      h('caption', { class: 'visually-hidden' }, 'Response rates per day'),
      h(
        'thead',
        {},
        h(
          'tr',
          {},
          h('th', { scope: 'col' }, 'Day'),
          h('th', { scope: 'col', class: 'num' }, 'Impressions'),
          h('th', { scope: 'col', class: 'num' }, 'Accept rate'),
          h('th', { scope: 'col', class: 'num' }, 'Click rate'),
          h('th', { scope: 'col', class: 'num' }, 'Conversion rate'),
        ),
      ),
      h(
        'tbody',
        {},
        ...shown.map((g) =>
          h(
            'tr',
            { 'data-day': g.key },
            h('th', { scope: 'row' }, g.key),
            h('td', { class: 'num' }, count(g.impressions)),
            h('td', { class: 'num' }, pct(g.rates?.acceptRate, 2)),
            h('td', { class: 'num' }, pct(g.rates?.clickRate, 2)),
            h('td', { class: 'num' }, pct(g.rates?.conversionRate, 2)),
          ),
        ),
      ),
    );
    return section(
      'rates',
      'Response rates over time',
      h(
        'figure',
        { class: 'chart-figure' },
        chart,
        h(
          'figcaption',
          {},
          summary,
          h('details', {}, h('summary', {}, 'Days with impressions as a table'), table),
        ),
      ),
    );
  }

  function channelSection(groups, hasData) {
    const rows = (Array.isArray(groups) ? groups : []).filter(
      (g) => g.impressions > 0 || g.controls > 0 || g.customers > 0 || g.controlCustomers > 0,
    );
    if (!hasData || rows.length === 0) {
      return section('channels', 'By channel', noData('No data yet: no impressions in this range.'));
    }
    const cols = [
      ['Impressions', (g) => count(g.impressions)],
      ['Views', (g) => count(g.views)],
      ['Clicks', (g) => count(g.clicks)],
      ['Accepts', (g) => count(g.accepts)],
      ['Conversions', (g) => count(g.conversions)],
      ['Accept rate', (g) => pct(g.rates?.acceptRate, 2)],
      ['Conversion rate', (g) => pct(g.rates?.conversionRate, 2)],
      ['Revenue', (g) => money(g.revenue)],
      ['ROI', (g) => signedPct(g.roi)],
      [
        'Uplift per customer (95% interval)',
        (g) => (intervalOf(g.customerUplift) ? intervalCell(intervalOf(g.customerUplift)) : '—'),
      ],
      [
        'Uplift per decision (95% interval)',
        (g) => (intervalOf(g.uplift) ? intervalCell(intervalOf(g.uplift)) : '—'),
      ],
    ];
    return section(
      'channels',
      'By channel',
      h(
        'div',
        { class: 'table-wrap' },
        h(
          'table',
          { id: 'channel-table' },
          h('caption', { class: 'visually-hidden' }, 'Response by channel'),
          h(
            'thead',
            {},
            h(
              'tr',
              {},
              h('th', { scope: 'col' }, 'Channel'),
              ...cols.map(([name]) => h('th', { scope: 'col', class: 'num' }, name)),
            ),
          ),
          h(
            'tbody',
            {},
            ...rows.map((g) =>
              h(
                'tr',
                { 'data-channel': g.key },
                h('th', { scope: 'row' }, g.key),
                ...cols.map(([, cell]) => h('td', { class: 'num' }, cell(g))),
              ),
            ),
          ),
        ),
      ),
    );
  }

  // ---- CSV: fetched with the key (a link could not send the header) and saved from a Blob ---------

  function csvSection(id, range) {
    const select = h(
      'select',
      { id: 'csv-group' },
      ...Object.entries(CSV_GROUPS).map(([value, label]) => h('option', { value }, label)),
    );
    const button = h('button', { type: 'button', id: 'csv-download' }, 'Download CSV');
    const status = h('span', { class: 'csv-status', 'aria-live': 'polite' });
    button.addEventListener('click', async () => {
      const groupBy = select.value;
      button.disabled = true;
      status.textContent = 'Preparing…';
      try {
        const params = query({ ...range, groupBy, format: 'csv' });
        const res = await api(`/v1/reports/campaigns/${encodeURIComponent(id)}?${params}`);
        const blob = await res.blob();
        saveBlob(blob, `offerloop-${id}-${range.from}-${range.to}-by-${groupBy}.csv`);
        status.textContent = 'Downloaded.';
      } catch (err) {
        if (!(err instanceof Refused)) status.textContent = `Not downloaded: ${err.message}`;
      } finally {
        button.disabled = false;
      }
    });
    return section(
      'export',
      'Export',
      h('div', { class: 'export' }, h('label', { for: 'csv-group' }, 'Rows by'), select, button, status),
    );
  }

  function saveBlob(blob, filename) {
    const url = URL.createObjectURL(blob.type ? blob : new Blob([blob], { type: 'text/csv' }));
    const a = h('a', { href: url, download: filename, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    // Revoked later: the download reads the blob after click() returns.
    setTimeout(() => URL.revokeObjectURL(url), 60_000);
  }

  // ---- charts (uPlot) ---------------------------------------------------------------------------

  function destroyCharts() {
    for (const c of charts) c.plot.destroy();
    charts = [];
  }

  const widthOf = (el) => Math.max(260, Math.floor(el.clientWidth));

  function addChart(el, opts, data) {
    const plot = new window.uPlot({ ...opts, width: widthOf(el) }, data, el);
    charts.push({ plot, el, height: opts.height });
    return plot;
  }

  let resizeTimer = 0;
  window.addEventListener('resize', () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => {
      for (const c of charts) c.plot.setSize({ width: widthOf(c.el), height: c.height });
    }, 150);
  });

  const px = (n) => Math.round(n * (window.uPlot.pxRatio || 1));
  const font = (size, weight = '') =>
    `${weight} ${px(size)}px system-ui, -apple-system, "Segoe UI", Roboto, sans-serif`;
  const axis = (more) => ({
    stroke: COLORS.muted,
    grid: { stroke: COLORS.grid, width: 1 },
    ticks: { stroke: COLORS.grid, width: 1 },
    font: font(12),
    ...more,
  });

  /** The uplift as a point with whiskers for its 95% interval, against a zero line (percentage points). */
  function intervalChart(el, interval, label) {
    const point = interval.point * 100;
    const low = interval.low * 100;
    const high = interval.high * 100;
    let min = Math.min(0, low);
    let max = Math.max(0, high);
    const pad = (max - min) * 0.12 || 1;
    min -= pad;
    max += pad;
    addChart(
      el,
      {
        height: 150,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: [min, max] }, y: { range: [0, 2] } },
        axes: [
          axis({
            space: 70,
            label,
            labelFont: font(12),
            labelSize: 22,
            values: (_u, splits) => splits.map((v) => `${signed(v, decimalFormat)} pp`),
          }),
          { show: false },
        ],
        series: [{}, { label: 'Uplift', paths: () => null, points: { show: false } }],
        hooks: {
          draw: [
            (u) => {
              const { ctx, bbox } = u;
              const y = bbox.top + bbox.height / 2;
              const x0 = u.valToPos(0, 'x', true);
              const xl = u.valToPos(low, 'x', true);
              const xh = u.valToPos(high, 'x', true);
              const xp = u.valToPos(point, 'x', true);
              ctx.save();
              ctx.strokeStyle = COLORS.zero;
              ctx.lineWidth = px(1.5);
              ctx.setLineDash([px(5), px(4)]);
              ctx.beginPath();
              ctx.moveTo(x0, bbox.top);
              ctx.lineTo(x0, bbox.top + bbox.height);
              ctx.stroke();
              ctx.setLineDash([]);
              ctx.strokeStyle = COLORS.ink;
              ctx.lineWidth = px(2);
              const cap = px(10);
              ctx.beginPath();
              ctx.moveTo(xl, y);
              ctx.lineTo(xh, y);
              ctx.moveTo(xl, y - cap);
              ctx.lineTo(xl, y + cap);
              ctx.moveTo(xh, y - cap);
              ctx.lineTo(xh, y + cap);
              ctx.stroke();
              ctx.fillStyle = COLORS.accept;
              ctx.beginPath();
              ctx.arc(xp, y, px(6), 0, 2 * Math.PI);
              ctx.fill();
              ctx.fillStyle = COLORS.ink;
              ctx.font = font(12);
              ctx.textAlign = 'center';
              ctx.textBaseline = 'bottom';
              ctx.fillText(pp(interval.point), xp, y - cap - px(4));
              ctx.restore();
            },
          ],
        },
      },
      [[point], [1]],
    );
  }

  /** The funnel as bars: interested → lead → customer, each with its share of the previous stage. */
  function funnelChart(el, funnel) {
    const xs = funnel.map((_, i) => i);
    const counts = funnel.map((s) => (isNumber(s.count) ? s.count : 0));
    const top = Math.max(1, ...counts);
    addChart(
      el,
      {
        height: 260,
        legend: { show: false },
        cursor: { show: false },
        scales: { x: { time: false, range: [-0.5, funnel.length - 0.5] }, y: { range: [0, top * 1.2] } },
        axes: [
          axis({
            grid: { show: false },
            splits: () => xs,
            values: (_u, splits) => splits.map((i) => (funnel[i] ? stageName(funnel[i]) : '')),
            font: font(13, '600'),
          }),
          axis({ incrs: COUNT_INCRS, values: (_u, splits) => splits.map((v) => count(v)), size: 60 }),
        ],
        series: [
          {},
          {
            label: 'Count',
            stroke: COLORS.bar,
            fill: COLORS.barFill,
            width: 1,
            paths: window.uPlot.paths.bars({ size: [0.55, 160] }),
            points: { show: false },
          },
        ],
        hooks: {
          draw: [
            (u) => {
              const { ctx } = u;
              ctx.save();
              ctx.fillStyle = COLORS.ink;
              ctx.font = font(12, '600');
              ctx.textAlign = 'center';
              ctx.textBaseline = 'bottom';
              funnel.forEach((s, i) => {
                const label = i === 0 ? count(s.count) : `${count(s.count)} (${pct(s.fromPrevious)})`;
                ctx.fillText(label, u.valToPos(i, 'x', true), u.valToPos(counts[i], 'y', true) - px(4));
              });
              ctx.restore();
            },
          ],
        },
      },
      [xs, counts],
    );
  }

  /** Accept, click and conversion rate per UTC day, in percent; days without impressions are gaps. */
  function ratesChart(el, days) {
    const xs = days.map((g) => Date.parse(`${g.key}T00:00:00Z`) / 1000);
    const rate = (name) =>
      days.map((g) => (g.impressions > 0 && isNumber(g.rates?.[name]) ? g.rates[name] * 100 : null));
    const line = (label, stroke) => ({
      label,
      stroke,
      width: 2,
      points: { show: true, size: 6, fill: stroke },
      value: (_u, v) => (isNumber(v) ? `${v.toFixed(2)}%` : '—'),
    });
    const halfDay = 43_200;
    addChart(
      el,
      {
        height: 280,
        tzDate: (ts) => window.uPlot.tzDate(new Date(ts * 1000), 'Etc/UTC'),
        cursor: { drag: { x: false, y: false } },
        scales: {
          x: { time: true, range: (_u, min, max) => [min - halfDay, max + halfDay] },
          y: { range: (_u, _min, max) => [0, isNumber(max) && max > 0 ? max * 1.15 : 1] },
        },
        axes: [axis({}), axis({ values: (_u, splits) => splits.map((v) => `${decimal(v)}%`), size: 60 })],
        series: [
          { label: 'Day', value: (_u, ts) => (isNumber(ts) ? isoDay(ts * 1000) : '—') },
          line('Accept rate', COLORS.accept),
          line('Click rate', COLORS.click),
          line('Conversion rate', COLORS.conversion),
        ],
      },
      [xs, rate('acceptRate'), rate('clickRate'), rate('conversionRate')],
    );
  }

  // ---- start ------------------------------------------------------------------------------------

  defaultRange();
})();
