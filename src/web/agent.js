/*
 * The agent desktop (GET /agent/): signs in with an agent id and an API key, subscribes to the
 * agent's calls over the WebSocket gateway, shows the caller and the offers of each call, and sends
 * the agent's Accept / Reject back as feedback (docs/channels.md): the caller's relationship (stage,
 * value, stage changes) and journey (offers shown and reactions on every channel, leads, purchases,
 * the visitor ids linked to them, stage changes) come from the dossier of the push. No framework, no
 * build step.
 * Guarded by test/browser/agent-desktop.int.test.ts and agent-journey.int.test.ts.
 */
(() => {
  const STORE_AGENT = 'offerloop.agentId';
  const STORE_KEY = 'offerloop.apiKey';
  /** Reconnect delays in ms; the last one repeats. Jittered so a restarted server is not stampeded. */
  const BACKOFF = [500, 1000, 2000, 4000, 8000, 15000, 30000];
  /** Attributes shown first when the dossier has them; others fill up to SHOWN_ATTRIBUTES. */
  const PREFERRED = ['name', 'phone', 'age', 'tenureYears', 'lifecycle', 'region', 'clv', 'preferredChannel'];
  const SHOWN_ATTRIBUTES = 6;
  const LABELS = { clv: 'Lifetime value', tenureYears: 'Years with us', preferredChannel: 'Prefers' };
  /** Attributes the relationship section shows (from dossier.relationship): not repeated among the caller's. */
  const RELATIONSHIP_ATTRIBUTES = new Set([
    'lifecycleStage',
    'lifecycleSince',
    'lifetimeRevenue',
    'purchases',
    'productsHeld',
    'firstPurchaseAt',
    'lastPurchaseAt',
  ]);
  const SHOWN_TRANSITIONS = 3;
  const SHOWN_STEPS = 10;
  /** What happened at a journey step, by its kind and type (dossier.journey). */
  const STEP_LABELS = {
    offer: 'Shown',
    click: 'Clicked',
    accept: 'Accepted',
    reject: 'Rejected',
    dismiss: 'Dismissed',
    convert: 'Converted',
    purchase: 'Purchased',
    cancel: 'Cancelled',
    lead: 'Lead',
    identified: 'Identified',
    stage: 'Stage',
  };
  const CHANNEL_LABELS = { call_center: 'call center', sales_force: 'sales force', web: 'web' };
  // A fixed locale: the same figures on every desk (and in the tests); no currency is known here.
  const money = new Intl.NumberFormat('en-US', { minimumFractionDigits: 2, maximumFractionDigits: 2 });
  const dateFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium' });
  const dateTimeFormat = new Intl.DateTimeFormat(undefined, { dateStyle: 'medium', timeStyle: 'short' });

  // The top of the page, the elements every console has and the DOM helpers are console.js's
  // (text only, never HTML from a message).
  const { h, setStatus, showError, announce } = window.offerloopConsole;
  const $ = (id) => document.getElementById(id);
  const ui = {
    ...window.offerloopConsole.ui,
    agentId: $('agent-id'),
    call: $('call'),
    heading: $('call-heading'),
    body: $('call-body'),
  };

  /** The session: null while signed out. */
  let session = null;
  let seq = 0;

  function base64url(text) {
    let binary = '';
    for (const byte of new TextEncoder().encode(text)) binary += String.fromCharCode(byte);
    return btoa(binary).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
  }

  // ---- signing in and out ---------------------------------------------------------------------

  function signIn(agentId, key) {
    sessionStorage.setItem(STORE_AGENT, agentId);
    sessionStorage.setItem(STORE_KEY, key);
    session = { agentId, key, socket: null, attempt: 0, timer: 0, pending: new Map(), call: null };
    ui.signIn.hidden = true;
    ui.signOut.hidden = false;
    ui.call.hidden = false;
    showError(ui.error, '');
    renderWaiting();
    connect();
  }

  function signOut(message) {
    if (session) {
      clearTimeout(session.timer);
      const socket = session.socket;
      session = null;
      if (socket) socket.close(1000, 'signed out');
    }
    sessionStorage.removeItem(STORE_KEY);
    ui.signIn.hidden = false;
    ui.signOut.hidden = true;
    ui.call.hidden = true;
    setStatus('signed-out', 'Signed out');
    showError(ui.signInError, message || '');
    ui.apiKey.value = '';
    (ui.agentId.value ? ui.apiKey : ui.agentId).focus();
  }

  ui.signIn.addEventListener('submit', (event) => {
    event.preventDefault();
    const agentId = ui.agentId.value.trim();
    const key = ui.apiKey.value.trim();
    if (!agentId || !key) {
      showError(ui.signInError, 'Enter your agent id and your API key.');
      (agentId ? ui.apiKey : ui.agentId).focus();
      return;
    }
    showError(ui.signInError, '');
    signIn(agentId, key);
  });
  ui.signOut.addEventListener('click', () => signOut());

  // ---- the connection ---------------------------------------------------------------------------

  function connect() {
    const s = session;
    if (!s) return;
    setStatus(s.attempt === 0 ? 'connecting' : 'reconnecting', 'Connecting…');
    const url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}/v1/ws`;
    let socket;
    try {
      socket = new WebSocket(url, ['offerloop.v1', `bearer.${base64url(s.key)}`]);
    } catch (err) {
      // A key with characters no subprotocol may hold cannot be right either.
      signOut(`Cannot connect with this key: ${err.message}`);
      return;
    }
    s.socket = socket;
    let opened = false;
    socket.addEventListener('open', () => {
      if (session !== s) return;
      opened = true;
      send({ type: 'subscribe', agentId: s.agentId }, { kind: 'subscribe' });
    });
    socket.addEventListener('message', (event) => {
      if (session !== s || typeof event.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(event.data);
      } catch {
        return;
      }
      onMessage(msg);
    });
    socket.addEventListener('close', (event) => {
      if (session !== s || s.socket !== socket) return;
      s.socket = null;
      failPending('Not sent: the connection was lost. Try again.');
      if (event.code === 1008) {
        setStatus('error', 'Connection closed');
        showError(
          ui.error,
          'The server closed the connection: too many messages. Sign in again to reconnect.',
        );
        return;
      }
      if (opened) s.attempt = 0;
      if (!opened) {
        checkKey(s).then((problem) => {
          if (session !== s) return;
          if (problem) signOut(problem);
          else retry(s);
        });
      } else retry(s);
    });
  }

  /**
   * Why a socket could not open. A browser does not tell the HTTP status of a refused upgrade, so the
   * key is checked the same way through REST: POST /v1/decisions with an empty body answers 401 or 403
   * for a bad key before it looks at the body (and 400 for a good one, deciding nothing).
   */
  async function checkKey(s) {
    try {
      const res = await fetch('/v1/decisions', {
        method: 'POST',
        headers: { authorization: `Bearer ${s.key}`, 'content-type': 'application/json' },
        body: '{}',
      });
      if (res.status === 401) return 'This API key was not accepted.';
      if (res.status === 403) return 'This API key may not take calls: it needs the decide scope.';
    } catch {
      // The server is unreachable: keep trying.
    }
    return null;
  }

  function retry(s) {
    const delay = BACKOFF[Math.min(s.attempt, BACKOFF.length - 1)];
    s.attempt++;
    const wait = Math.round(delay * (0.75 + Math.random() * 0.5));
    setStatus('reconnecting', `Connection lost — reconnecting in ${Math.max(1, Math.round(wait / 1000))} s…`);
    s.timer = setTimeout(connect, wait);
  }

  /** Sends a request; `meta` is remembered until its answer comes back. False when not connected. */
  function send(message, meta) {
    const s = session;
    if (s?.socket?.readyState !== WebSocket.OPEN) return false;
    const id = String(++seq);
    s.pending.set(id, meta);
    s.socket.send(JSON.stringify({ ...message, id }));
    return true;
  }

  function failPending(message) {
    if (!session) return;
    for (const meta of session.pending.values()) {
      if (meta.kind === 'feedback') offerFailed(meta, message);
    }
    session.pending.clear();
  }

  function onMessage(msg) {
    const s = session;
    if (msg.type === 'call') {
      onCall(msg);
      return;
    }
    if (msg.type !== 'result' && msg.type !== 'error') return;
    const meta = s.pending.get(msg.id);
    s.pending.delete(msg.id);
    const problem = msg.type === 'error' ? errorText(msg.error) : null;
    if (!meta) {
      if (problem) showError(ui.error, problem);
      return;
    }
    if (meta.kind === 'subscribe') {
      if (problem) {
        setStatus('error', 'Not subscribed');
        showError(ui.error, `Cannot take calls for ${s.agentId}: ${problem}`);
      } else {
        showError(ui.error, '');
        setStatus('connected', `Connected as ${s.agentId}`);
      }
    } else if (meta.kind === 'feedback') {
      if (problem) offerFailed(meta, problem);
      else feedbackDone(meta, msg.result);
    }
  }

  function errorText(error) {
    if (error && typeof error.message === 'string') return error.message;
    if (error && typeof error.code === 'string') return error.code;
    return 'The server answered with an error.';
  }

  // ---- calls ------------------------------------------------------------------------------------

  function onCall(msg) {
    const s = session;
    if (msg.event === 'call.started') {
      s.call = {
        callId: msg.callId,
        customerId: msg.customerId ?? null,
        customerKnown: msg.customerKnown !== false,
        dossier: msg.dossier ?? null,
        decision: msg.decision ?? null,
        context: null,
      };
      renderCall(s.call);
      announce(`Incoming call: ${msg.customerId ?? 'unknown caller'}`);
    } else if (msg.event === 'call.context') {
      if (!s.call || s.call.callId !== msg.callId) {
        s.call = {
          callId: msg.callId,
          customerId: msg.customerId ?? null,
          customerKnown: msg.customerKnown !== false,
          dossier: msg.dossier ?? null,
          decision: null,
          context: null,
        };
      }
      s.call.context = msg.context ?? null;
      if (msg.dossier) s.call.dossier = msg.dossier;
      s.call.decision = msg.decision ?? null;
      renderCall(s.call);
      announce(`Call update for ${msg.customerId ?? 'the caller'}: new offers`);
    } else if (msg.event === 'call.ended') {
      if (s.call && s.call.callId === msg.callId) {
        s.call = null;
        renderWaiting();
        announce('Call ended');
      }
    }
  }

  function renderWaiting() {
    ui.heading.textContent = 'Waiting for a call';
    ui.call.dataset.callId = '';
    ui.body.replaceChildren(
      h(
        'p',
        { class: 'waiting' },
        'When a call for you starts, the caller and the offers to make appear here.',
      ),
    );
  }

  function renderCall(call) {
    ui.heading.textContent = call.customerId ? `Call with ${call.customerId}` : 'Call with an unknown caller';
    ui.call.dataset.callId = call.callId || '';
    const parts = [renderCaller(call)];
    if (call.customerKnown && call.dossier) parts.push(renderRelationship(call.dossier));
    if (call.context) parts.push(renderContext(call.context));
    parts.push(h('h3', {}, 'Offers'), renderOffers(call));
    if (call.customerKnown && call.dossier) parts.push(renderJourney(call.dossier));
    ui.body.replaceChildren(...parts);
  }

  function renderCaller(call) {
    const box = h('div', { class: 'caller' });
    const d = call.dossier;
    if (!call.customerKnown || !d) {
      box.append(
        h(
          'p',
          { class: 'muted' },
          call.customerKnown ? 'No dossier for this caller.' : 'Unknown caller: the number is not on file.',
        ),
      );
      return h('section', { 'aria-label': 'Caller' }, h('h3', {}, 'Caller'), box);
    }
    const attrs = d.attributes && typeof d.attributes === 'object' ? d.attributes : {};
    const names = PREFERRED.filter((n) => n in attrs);
    for (const n of Object.keys(attrs))
      if (!names.includes(n) && !RELATIONSHIP_ATTRIBUTES.has(n)) names.push(n);
    const dl = h('dl', {}, h('dt', {}, 'Customer'), h('dd', {}, d.customerId ?? call.customerId));
    for (const n of names.slice(0, SHOWN_ATTRIBUTES))
      dl.append(h('dt', {}, label(n)), h('dd', {}, shown(attrs[n])));
    const holdings = Array.isArray(d.holdings) ? d.holdings : [];
    const segments = Array.isArray(d.segments) ? d.segments : [];
    box.append(
      dl,
      h(
        'div',
        {},
        h('h4', {}, 'Holdings'),
        tags(holdings.map(String), 'No products held.'),
        h('h4', {}, 'Segments'),
        tags(
          segments.map((seg) => (seg && typeof seg === 'object' ? (seg.name ?? seg.id) : String(seg))),
          'No segments.',
        ),
      ),
    );
    return h('section', { 'aria-label': 'Caller' }, h('h3', {}, 'Caller'), box);
  }

  /** Stage, value and the last stage changes: what outcomes taught about this customer. */
  function renderRelationship(d) {
    const r = d.relationship && typeof d.relationship === 'object' ? d.relationship : null;
    const box = h('div', { class: 'relationship' });
    const section = h('section', { 'aria-label': 'Relationship' }, h('h3', {}, 'Relationship'), box);
    if (!r) {
      box.append(h('p', { class: 'muted' }, 'No relationship on file.'));
      return section;
    }
    const stage = r.stage && typeof r.stage === 'object' ? r.stage : null;
    const stageText = stage ? h('span', { class: 'stage' }, stage.name || stage.id) : '—';
    const since = stage?.since ? [' since ', time(stage.since, dateFormat)] : [];
    const dl = h(
      'dl',
      {},
      h('dt', {}, 'Stage'),
      h('dd', { 'data-field': 'stage', 'data-stage': stage ? stage.id : null }, stageText, ...since),
      h('dt', {}, 'Lifetime revenue'),
      h('dd', { 'data-field': 'lifetime-revenue' }, amount(r.lifetimeRevenue)),
      h('dt', {}, 'Products held'),
      h('dd', { 'data-field': 'products-held' }, shown(r.productsHeld)),
      h('dt', {}, 'Purchases'),
      h('dd', { 'data-field': 'purchases' }, shown(r.purchases)),
      h('dt', {}, 'Last purchase'),
      h(
        'dd',
        { 'data-field': 'last-purchase' },
        r.lastPurchaseAt ? time(r.lastPurchaseAt, dateFormat) : 'none yet',
      ),
    );
    const transitions = Array.isArray(r.transitions) ? r.transitions.slice(0, SHOWN_TRANSITIONS) : [];
    const changes = h('div', {}, h('h4', {}, 'Stage changes'));
    if (transitions.length === 0) changes.append(h('p', { class: 'muted' }, 'No stage changes yet.'));
    else {
      changes.append(
        h(
          'ol',
          { class: 'transitions' },
          ...transitions.map((t) =>
            h(
              'li',
              {},
              time(t.at, dateFormat),
              ': ',
              stageName(t.from),
              ' → ',
              h('strong', {}, stageName(t.to)),
              t.cause ? h('span', { class: 'cause' }, ` (${t.cause})`) : null,
            ),
          ),
        ),
      );
    }
    box.append(dl, changes);
    return section;
  }

  function stageName(ref) {
    return ref && typeof ref === 'object' ? ref.name || ref.id : 'none';
  }

  function amount(value) {
    return typeof value === 'number' && Number.isFinite(value) ? money.format(value) : '—';
  }

  /** A <time> with the ISO instant as its machine-readable value, formatted for the agent. */
  function time(iso, format) {
    const date = new Date(iso);
    if (typeof iso !== 'string' || Number.isNaN(date.getTime())) return '—';
    return h('time', { datetime: iso }, format.format(date));
  }

  /**
   * How the caller got here, newest first: offers shown and reactions on every channel (with the
   * campaign, channel and placement), leads, purchases and cancels, the visitor ids linked to them,
   * stage changes. It replaces the dossier's recent contacts, whose lines it holds too.
   */
  function renderJourney(d) {
    const steps = Array.isArray(d.journey) ? d.journey.filter((s) => s && typeof s === 'object') : [];
    const section = h('section', { 'aria-label': 'Journey' }, h('h3', {}, 'Journey'));
    if (steps.length === 0) {
      section.append(h('p', { class: 'muted' }, 'Nothing on this journey yet.'));
      return section;
    }
    const list = h('ol', { class: 'journey' });
    for (const step of steps.slice(0, SHOWN_STEPS)) list.append(renderStep(step));
    section.append(list);
    return section;
  }

  function renderStep(step) {
    const key = step.kind === 'reaction' || step.kind === 'outcome' ? step.type : step.kind;
    const where = [CHANNEL_LABELS[step.channel] || step.channel, step.placement].filter(Boolean).join(' / ');
    return h(
      'li',
      {
        'data-kind': step.kind,
        'data-type': step.type ?? null,
        title: step.cause || (step.offerId ? `offer ${step.offerId}` : null),
      },
      time(step.at, dateTimeFormat),
      ' ',
      h('strong', {}, STEP_LABELS[key] || key || 'Step'),
      ...stepDetails(step).flatMap((detail) => [' · ', detail]),
      where ? h('span', { class: 'muted' }, ` (${where})`) : null,
    );
  }

  /** The words after what happened: the product, the campaign, the visitor id, the stages. */
  function stepDetails(step) {
    if (step.kind === 'identified') return [`from visitor id ${step.anonymousId ?? '?'}`];
    if (step.kind === 'stage') {
      const from = step.fromName || step.from || 'none';
      const to = step.toName || step.to || 'none';
      // What caused it is in the line's title: the relationship's stage changes spell it out.
      return [h('span', { class: 'stage-change' }, from, ' → ', h('strong', {}, to))];
    }
    const campaign = step.campaignName || step.campaignId;
    return [step.kind === 'outcome' ? step.productId : null, campaign].filter(Boolean);
  }

  function label(name) {
    if (Object.hasOwn(LABELS, name)) return LABELS[name];
    const words = name.replace(/([a-z])([A-Z])/g, '$1 $2').toLowerCase();
    return words.charAt(0).toUpperCase() + words.slice(1);
  }

  function shown(value) {
    if (typeof value === 'boolean') return value ? 'yes' : 'no';
    if (value === null || value === undefined) return '—';
    return typeof value === 'object' ? JSON.stringify(value) : String(value);
  }

  function tags(items, empty) {
    if (items.length === 0) return h('p', { class: 'muted' }, empty);
    return h('ul', { class: 'tags' }, ...items.map((t) => h('li', {}, t)));
  }

  function renderContext(context) {
    const p = h('p', { class: 'context' });
    if (typeof context.reason === 'string' && context.reason)
      p.append(h('strong', {}, 'Reason: '), context.reason);
    if (typeof context.intent === 'string' && context.intent) {
      if (p.childNodes.length) p.append(' · ');
      p.append(h('strong', {}, 'Intent: '), context.intent);
    }
    return p.childNodes.length ? p : null;
  }

  function renderOffers(call) {
    const decision = call.decision;
    const offers = decision && Array.isArray(decision.offers) ? decision.offers : [];
    if (offers.length === 0) return h('p', { class: 'muted' }, 'No offers for this caller right now.');
    const list = h('ol', { class: 'offers' });
    for (const offer of offers) list.append(renderOffer(call, decision, offer));
    return list;
  }

  function renderOffer(call, decision, offer) {
    const creative = offer.creative && typeof offer.creative === 'object' ? offer.creative : {};
    const nameId = `offer-${decision.decisionId}-${offer.offerId}`.replace(/[^A-Za-z0-9_-]/g, '_');
    const status = h('span', { class: 'offer-status', 'aria-live': 'polite' });
    const accept = h('button', { type: 'button', class: 'accept', 'aria-describedby': nameId }, 'Accept');
    const reject = h('button', { type: 'button', class: 'reject', 'aria-describedby': nameId }, 'Reject');
    const el = h(
      'li',
      { class: 'offer', 'data-offer-id': offer.offerId, 'data-decision-id': decision.decisionId },
      h('h4', { id: nameId }, offer.name || offer.offerId),
      typeof creative.headline === 'string' ? h('p', { class: 'headline' }, creative.headline) : null,
      typeof creative.talkTrack === 'string' ? h('p', { class: 'talk-track' }, creative.talkTrack) : null,
      Array.isArray(offer.reasons) && offer.reasons.length
        ? h('p', { class: 'reasons' }, `Why: ${offer.reasons.join(', ')}`)
        : null,
      h('div', { class: 'actions' }, accept, reject, status),
    );
    const meta = {
      kind: 'feedback',
      el,
      status,
      buttons: [accept, reject],
      decisionId: decision.decisionId,
      offerId: offer.offerId,
      customerId: decision.customerId ?? call.customerId,
      type: null,
    };
    accept.addEventListener('click', () => react(meta, 'accept'));
    reject.addEventListener('click', () => react(meta, 'reject'));
    return el;
  }

  function react(meta, type) {
    for (const b of meta.buttons) b.disabled = true;
    meta.type = type;
    meta.el.dataset.state = 'sending';
    meta.status.textContent = 'Sending…';
    const sent = send(
      {
        type: 'feedback',
        events: [
          {
            eventId: crypto.randomUUID(),
            decisionId: meta.decisionId,
            offerId: meta.offerId,
            customerId: meta.customerId,
            type,
          },
        ],
      },
      meta,
    );
    if (!sent) offerFailed(meta, 'Not sent: not connected. Try again in a moment.');
  }

  function feedbackDone(meta, receipt) {
    const result = receipt && Array.isArray(receipt.results) ? receipt.results[0] : null;
    const status = result ? result.status : 'accepted';
    if (status === 'accepted' || status === 'queued' || status === 'duplicate') {
      meta.el.dataset.state = meta.type === 'accept' ? 'accepted' : 'rejected';
      meta.status.textContent = meta.type === 'accept' ? 'Accepted' : 'Rejected';
    } else {
      // A verdict (conflict, too late, …) will not change by sending again.
      meta.el.dataset.state = 'failed';
      meta.status.textContent = `Not recorded: ${result.reason || status}`;
    }
  }

  function offerFailed(meta, message) {
    meta.el.dataset.state = 'failed';
    meta.status.textContent = message;
    for (const b of meta.buttons) b.disabled = false;
  }

  // ---- start ------------------------------------------------------------------------------------

  const savedAgent = sessionStorage.getItem(STORE_AGENT);
  const savedKey = sessionStorage.getItem(STORE_KEY);
  if (savedAgent) ui.agentId.value = savedAgent;
  if (savedAgent && savedKey) signIn(savedAgent, savedKey);
  else (savedAgent ? ui.apiKey : ui.agentId).focus();
})();
