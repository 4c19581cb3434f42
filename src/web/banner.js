/*
 * Offerloop banners for websites: no build step, no dependencies.
 *
 *   <div data-offerloop-placement="home-hero" data-customer-id="cust-42"></div>
 *   <script src="https://offerloop.example/web/banner.js" data-key="pk-web" data-consent="granted" defer></script>
 *
 * Fetches each placement's banner from the origin this script was loaded from, renders it with DOM
 * calls only (text, never HTML from the answer; only http(s) or relative URLs), and reports the
 * impression once half of it has been seen and the click on its call to action (docs/channels.md).
 *
 * Tracking needs consent (off until the site says otherwise, and always off under Global Privacy
 * Control): with it, a visitor without `data-customer-id` gets a first-party visitor id (cookie
 * `ol_vid`, copy in localStorage), banners are decided for that id, reported, and their links carry
 * `ol_d`/`ol_o` so that `Offerloop.convert()` on the landing page credits them. Without it, the
 * placement's default banner is shown: no id, no storage, no beacon.
 * Guarded by test/browser/banner.int.test.ts.
 */
(() => {
  // Only valid while this script runs for the first time, hence read here and not later.
  const script = document.currentScript;
  if (!script?.src) return;
  const key = script.getAttribute('data-key') || '';
  const base = new URL(script.src).origin;
  /** The visitor's browser says "do not sell or share": no tracking, whatever else says yes. */
  const privacyControl = navigator.globalPrivacyControl === true;
  let consented = !privacyControl && script.getAttribute('data-consent') === 'granted';
  /** Element → the state it shows (or is fetching), so refresh() only redoes changes. */
  const shown = new WeakMap();
  let warned = false;

  const VISITOR = 'ol_vid';
  const TOUCH = 'ol_touch';
  const YEAR_MS = 365 * 24 * 3600 * 1000;
  /** What a visitor id may look like; anything else in the cookie is replaced, never sent. */
  const VISITOR_ID = /^[A-Za-z0-9_-]{8,64}$/;
  let visitor = null;

  function warn(message, detail) {
    if (warned) return;
    warned = true;
    console.warn(`Offerloop: ${message}`, detail);
  }

  function query(params) {
    const q = new URLSearchParams();
    for (const name of Object.keys(params)) {
      const value = params[name];
      if (value !== null && value !== undefined && value !== '') q.set(name, String(value));
    }
    return q.toString();
  }

  /** An http(s) URL (absolute, or relative to the page), resolved; null for anything else. */
  function safeUrl(value) {
    if (typeof value !== 'string' || value.trim() === '') return null;
    try {
      const url = new URL(value, document.baseURI);
      return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : null;
    } catch {
      return null;
    }
  }

  const text = (value) => (typeof value === 'string' ? value : '');

  // --- Storage: touched only with consent. Browsers may refuse any of it (privacy modes, sandboxes).

  function store(kind) {
    try {
      return window[kind] ?? null;
    } catch {
      return null;
    }
  }

  function attempt(action) {
    try {
      action();
    } catch {
      // A browser refusing storage leaves the visitor untracked across pages, nothing worse.
    }
  }

  function readCookie(name) {
    for (const part of document.cookie.split(';')) {
      const at = part.indexOf('=');
      if (at > 0 && part.slice(0, at).trim() === name) return part.slice(at + 1).trim();
    }
    return null;
  }

  function writeCookie(name, value, maxAgeSeconds) {
    const secure = location.protocol === 'https:' ? '; Secure' : '';
    // biome-ignore lint/suspicious/noDocumentCookie: the Cookie Store API is missing in Firefox; this runs everywhere.
    document.cookie = `${name}=${value}; Max-Age=${maxAgeSeconds}; Path=/; SameSite=Lax${secure}`;
  }

  /** The localStorage copy of the visitor id and when it expires, if still valid. */
  function savedVisitor(now) {
    try {
      const saved = JSON.parse(store('localStorage')?.getItem(VISITOR) ?? 'null');
      return saved && VISITOR_ID.test(saved.id) && saved.expires > now ? saved : null;
    } catch {
      return null;
    }
  }

  function newVisitorId() {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return `v-${Array.from(bytes, (b) => b.toString(16).padStart(2, '0')).join('')}`;
  }

  /**
   * The first-party visitor id (null without consent), made on first use. Cookie and localStorage
   * keep each other: whichever survived restores the other, with the lifetime it was given when
   * made; a visit never extends it.
   */
  function visitorId() {
    if (!consented) return null;
    if (visitor !== null) return visitor;
    const now = Date.now();
    const saved = savedVisitor(now);
    const cookie = readCookie(VISITOR);
    let id;
    let expires;
    if (cookie !== null && VISITOR_ID.test(cookie)) {
      id = cookie;
      expires = saved?.id === cookie ? saved.expires : now + YEAR_MS;
    } else if (saved) {
      id = saved.id;
      expires = saved.expires;
      attempt(() => writeCookie(VISITOR, id, Math.floor((expires - now) / 1000)));
    } else {
      id = newVisitorId();
      expires = now + YEAR_MS;
      attempt(() => writeCookie(VISITOR, id, YEAR_MS / 1000));
    }
    if (saved?.id !== id)
      attempt(() => store('localStorage')?.setItem(VISITOR, JSON.stringify({ id, expires })));
    visitor = id;
    return id;
  }

  /** Consent withdrawn (or refused): the visitor id and this visit's banner click are deleted. */
  function forget() {
    visitor = null;
    attempt(() => writeCookie(VISITOR, '', 0));
    attempt(() => store('localStorage')?.removeItem(VISITOR));
    attempt(() => store('sessionStorage')?.removeItem(TOUCH));
  }

  // --- The banner click this visit came from (sessionStorage), for Offerloop.convert().

  function readTouch() {
    try {
      const touch = JSON.parse(store('sessionStorage')?.getItem(TOUCH) ?? 'null');
      return touch && typeof touch.decisionId === 'string' && typeof touch.offerId === 'string'
        ? touch
        : null;
    } catch {
      return null;
    }
  }

  function keepTouch(touch) {
    attempt(() => store('sessionStorage')?.setItem(TOUCH, JSON.stringify(touch)));
  }

  /**
   * A landing page reached from a banner carries `ol_d` and `ol_o`. The customer the decision was
   * for is known when the click happened on this site in this tab; otherwise convert() names one.
   */
  function touchFromUrl() {
    if (!consented) return;
    const params = new URL(location.href).searchParams;
    const decisionId = params.get('ol_d');
    const offerId = params.get('ol_o');
    if (!decisionId || !offerId) return;
    const clicked = readTouch();
    const same = clicked?.decisionId === decisionId && clicked?.offerId === offerId;
    keepTouch({ decisionId, offerId, customerId: same ? clicked.customerId : null });
  }

  // --- Beacons: never without consent.

  function send(event) {
    if (!consented) return;
    const url = `${base}/v1/banners/events?${query({ key, ...event })}`;
    let sent = false;
    try {
      sent = typeof navigator.sendBeacon === 'function' && navigator.sendBeacon(url);
    } catch {
      sent = false;
    }
    if (!sent) {
      fetch(url, { method: 'POST', keepalive: true, mode: 'no-cors', credentials: 'omit' }).catch((err) =>
        warn('could not report a banner event', err),
      );
    }
  }

  const reaction = (banner, type) => ({
    decisionId: banner.decisionId,
    offerId: banner.offerId,
    customerId: banner.customerId ?? banner.requestedFor,
    type,
  });

  /**
   * Credits the banner this visit came from with a conversion (`value`: its revenue, optional).
   * `customerId` is used only when the click happened elsewhere (another site, another tab);
   * by default the visitor id. True when reported; false without consent or without a banner click.
   */
  function convert(options) {
    const touch = consented ? readTouch() : null;
    if (!touch) return false;
    const given = options && typeof options.customerId === 'string' ? options.customerId : null;
    const customerId = touch.customerId || given || visitorId();
    const value = options && Number.isFinite(options.value) ? options.value : null;
    send({ decisionId: touch.decisionId, offerId: touch.offerId, customerId, type: 'convert', value });
    return true;
  }

  function render(el, banner) {
    const creative = banner && typeof banner.creative === 'object' ? banner.creative : null;
    if (!creative) throw new Error('the answer has no creative');
    const box = document.createElement('div');
    box.className = 'offerloop-banner';
    if (typeof banner.offerId === 'string') box.setAttribute('data-offer-id', banner.offerId);
    const headline = text(creative.headline);
    if (headline) {
      const h = document.createElement('h2');
      h.textContent = headline;
      box.append(h);
    }
    if (text(creative.body)) {
      const p = document.createElement('p');
      p.textContent = creative.body;
      box.append(p);
    }
    const image = safeUrl(creative.image);
    if (image) {
      const img = document.createElement('img');
      img.setAttribute('src', image);
      img.setAttribute('alt', headline);
      // A missing picture is left out rather than shown as a broken one on the customer's page.
      img.addEventListener('error', () => img.remove());
      box.append(img);
    }
    const tracked =
      banner.tracked && typeof banner.decisionId === 'string' && typeof banner.offerId === 'string';
    const link = safeUrl(creative.link);
    if (link) {
      const a = document.createElement('a');
      const href = new URL(link);
      if (tracked) {
        href.searchParams.set('ol_d', banner.decisionId);
        href.searchParams.set('ol_o', banner.offerId);
      }
      a.setAttribute('href', href.href);
      a.textContent = text(creative.cta) || headline || link;
      if (tracked) {
        a.addEventListener('click', () => {
          if (!consented) return;
          const click = reaction(banner, 'click');
          keepTouch({ decisionId: click.decisionId, offerId: click.offerId, customerId: click.customerId });
          send(click);
        });
      }
      box.append(a);
    }
    el.replaceChildren(box);
    if (!tracked) return;
    if (typeof IntersectionObserver !== 'function') {
      send(reaction(banner, 'impression'));
      return;
    }
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting && e.intersectionRatio >= 0.5)) {
          observer.disconnect();
          send(reaction(banner, 'impression'));
        }
      },
      { threshold: 0.5 },
    );
    observer.observe(box);
  }

  async function load(el, placement, customerId, state) {
    const tracked = consented;
    try {
      const url = `${base}/v1/banners/${encodeURIComponent(placement)}?${query({ key, customerId })}`;
      const res = await fetch(url, { credentials: 'omit' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const banner = await res.json();
      if (shown.get(el) !== state) return;
      render(el, { ...banner, requestedFor: customerId, tracked });
    } catch (err) {
      if (shown.get(el) === state) el.replaceChildren();
      warn(`no banner for placement '${placement}'`, err);
    }
  }

  /**
   * Loads every placement element not yet showing its current placement, customer and consent.
   * Without consent no customer is named, not even the page's own: the placement's default banner.
   */
  function refresh() {
    for (const el of document.querySelectorAll('[data-offerloop-placement]')) {
      const placement = el.getAttribute('data-offerloop-placement') || '';
      const customerId = consented ? el.getAttribute('data-customer-id') || visitorId() : null;
      const state = `${consented ? 'tracked' : 'untracked'}|${placement}|${customerId ?? ''}`;
      if (!placement || shown.get(el) === state) continue;
      shown.set(el, state);
      load(el, placement, customerId, state);
    }
  }

  /**
   * The site's consent manager says whether the visitor agreed to tracking; banners are shown
   * again accordingly. Withdrawing deletes the visitor id. Returns whether tracking is on (never
   * under Global Privacy Control).
   */
  function consent(granted) {
    consented = granted === true && !privacyControl;
    if (consented) {
      visitorId();
      touchFromUrl();
    } else {
      forget();
    }
    refresh();
    return consented;
  }

  // A page that says no, or a browser that does, deletes what an earlier visit kept; a page that
  // says nothing yet (its consent manager answers later) leaves it for consent() to decide.
  if (privacyControl || script.getAttribute('data-consent') === 'denied') forget();
  if (consented) {
    visitorId();
    touchFromUrl();
  }
  window.Offerloop = Object.freeze({ refresh, consent, convert, visitorId });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', refresh);
  else refresh();
})();
