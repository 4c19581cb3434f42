/*
 * Offerloop banners for websites: no build step, no dependencies.
 *
 *   <div data-offerloop-placement="home-hero" data-customer-id="cust-42"></div>
 *   <script src="https://offerloop.example/web/banner.js" data-key="pk-web" defer></script>
 *
 * Fetches each placement's banner from the origin this script was loaded from, renders it with DOM
 * calls only (text, never HTML from the answer; only http(s) or relative URLs), and reports the
 * impression once half of it has been seen and the click on its call to action (docs/channels.md).
 * Guarded by test/browser/banner.int.test.ts.
 */
(() => {
  // Only valid while this script runs for the first time, hence read here and not later.
  const script = document.currentScript;
  if (!script?.src) return;
  const key = script.getAttribute('data-key') || '';
  const base = new URL(script.src).origin;
  /** Element → the `placement|customerId` it shows (or is fetching), so refresh() only redoes changes. */
  const shown = new WeakMap();
  let warned = false;

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

  function beacon(banner, type) {
    const url = `${base}/v1/banners/events?${query({
      key,
      decisionId: banner.decisionId,
      offerId: banner.offerId,
      customerId: banner.customerId ?? banner.requestedFor,
      type,
    })}`;
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
    const tracked = typeof banner.decisionId === 'string' && typeof banner.offerId === 'string';
    const link = safeUrl(creative.link);
    if (link) {
      const a = document.createElement('a');
      a.setAttribute('href', link);
      a.textContent = text(creative.cta) || headline || link;
      if (tracked) a.addEventListener('click', () => beacon(banner, 'click'));
      box.append(a);
    }
    el.replaceChildren(box);
    if (!tracked) return;
    if (typeof IntersectionObserver !== 'function') {
      beacon(banner, 'impression');
      return;
    }
    const observer = new IntersectionObserver(
      (entries) => {
        if (entries.some((e) => e.isIntersecting && e.intersectionRatio >= 0.5)) {
          observer.disconnect();
          beacon(banner, 'impression');
        }
      },
      { threshold: 0.5 },
    );
    observer.observe(box);
  }

  async function load(el, placement, customerId, state) {
    try {
      const url = `${base}/v1/banners/${encodeURIComponent(placement)}?${query({ key, customerId })}`;
      const res = await fetch(url, { credentials: 'omit' });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const banner = await res.json();
      if (shown.get(el) !== state) return;
      render(el, { ...banner, requestedFor: customerId });
    } catch (err) {
      if (shown.get(el) === state) el.replaceChildren();
      warn(`no banner for placement '${placement}'`, err);
    }
  }

  /** Loads every placement element not yet showing its current placement and customer. */
  function refresh() {
    for (const el of document.querySelectorAll('[data-offerloop-placement]')) {
      const placement = el.getAttribute('data-offerloop-placement') || '';
      const customerId = el.getAttribute('data-customer-id');
      const state = `${placement}|${customerId ?? ''}`;
      if (!placement || shown.get(el) === state) continue;
      shown.set(el, state);
      load(el, placement, customerId, state);
    }
  }

  window.Offerloop = Object.freeze({ refresh });
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', refresh);
  else refresh();
})();
