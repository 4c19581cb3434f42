/*
 * The analyst's workbench (GET /workbench/): one page, one key, a section per task — planning,
 * segments against behaviour, what-if, champion/challenger, ruleset history. This script signs in,
 * draws the navigation, and shows the section the address names (`#/<id>`); each section is its own
 * script (workbench-<id>.js) that registers itself:
 *
 *   window.offerloopWorkbench.register({ id, title, render(container, ctx) { … return cleanup? } })
 *
 * ctx gives the section what it needs and nothing else: getJson and send (fetch with the key; an
 * answer that is not 2xx throws an Error with the server's message, its status and details; a
 * refused key signs out),
 * console.js's h() (text only, never HTML from data) and the parts sections share (dateRange, table),
 * announce, setStatus, and an AbortSignal that
 * fires when the user leaves the section, so a slow answer never draws over the next section.
 * No framework, no build step. Guarded by test/browser/workbench-*.int.test.ts.
 */
(() => {
  const STORE_KEY = 'offerloop.workbench.apiKey';
  const { h, showError, announce, keySession } = window.offerloopConsole;
  const $ = (id) => document.getElementById(id);
  const ui = {
    ...window.offerloopConsole.ui,
    app: $('app'),
    nav: $('sections').querySelector('ul'),
    heading: $('section-heading'),
    status: $('section-status'),
    body: $('section-body'),
  };

  /** The sections in the order they registered (the order of the page's script tags). */
  const sections = [];
  let key = null;
  /** The section on screen: its controller (to abort its requests) and its cleanup. */
  let current = null;

  /** The key was refused: the page is back at the sign-in form, with the reason. */
  class Refused extends Error {}

  async function request(method, path, body, signal) {
    const headers = { authorization: `Bearer ${key}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res;
    try {
      res = await fetch(path, {
        method,
        headers,
        body: body === undefined ? undefined : JSON.stringify(body),
        cache: 'no-store',
        signal,
      });
    } catch (err) {
      if (signal?.aborted) throw err;
      throw new Error(`Cannot reach Offerloop: ${err.message}`);
    }
    if (res.status === 401) {
      const message = 'This API key was not accepted. Enter another key.';
      signOut(message);
      throw new Refused(message);
    }
    const text = await res.text();
    let json = null;
    try {
      json = text === '' ? null : JSON.parse(text);
    } catch {
      // Not JSON: the status says enough.
    }
    if (!res.ok) {
      const message =
        typeof json?.error?.message === 'string' ? json.error.message : `The server answered ${res.status}.`;
      // 403 is a missing scope for this one action (say, promoting without admin): the section shows it.
      const error = new Error(res.status === 403 ? `Refused: ${message}` : message);
      // What a section may show beyond the message: a rejected ruleset's problems, with file and line.
      error.status = res.status;
      error.details = json?.error?.details ?? null;
      throw error;
    }
    return json;
  }

  /**
   * A From/To form for a report's UTC days (`<prefix>-range`, `<prefix>-from`, `<prefix>-to`) and
   * the query string it asks for: empty fields leave the server's default (the 30 days up to today).
   */
  function dateRange(prefix) {
    const from = h('input', { id: `${prefix}-from`, type: 'date', name: 'from' });
    const to = h('input', { id: `${prefix}-to`, type: 'date', name: 'to' });
    const form = h(
      'form',
      { class: 'inline-form', id: `${prefix}-range` },
      h('div', { class: 'field' }, h('label', { for: `${prefix}-from` }, 'From'), from),
      h('div', { class: 'field' }, h('label', { for: `${prefix}-to` }, 'To'), to),
      h('button', { type: 'submit' }, 'Show'),
      h('p', { class: 'hint' }, 'UTC days, inclusive. Empty: the 30 days up to today.'),
    );
    const query = () => {
      const params = new URLSearchParams();
      if (from.value) params.set('from', from.value);
      if (to.value) params.set('to', to.value);
      const text = params.toString();
      return text === '' ? '' : `?${text}`;
    };
    return { form, query };
  }

  /** A table of figures with a caption, in its scrolling wrapper; the columns in `textColumns` are text. */
  function table(id, caption, headings, tbody, textColumns = [0]) {
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
          h(
            'tr',
            {},
            ...headings.map((t, i) =>
              h('th', { scope: 'col', class: textColumns.includes(i) ? null : 'num wrap' }, t),
            ),
          ),
        ),
        tbody,
      ),
    );
  }

  function register(section) {
    if (typeof section?.id !== 'string' || typeof section.render !== 'function') {
      throw new TypeError('a workbench section needs an id, a title and render(container, ctx)');
    }
    sections.push(section);
  }

  function drawNav(active) {
    ui.nav.replaceChildren(
      ...sections.map((s) =>
        h('li', {}, h('a', { href: `#/${s.id}`, 'aria-current': s === active ? 'page' : null }, s.title)),
      ),
    );
  }

  function leave() {
    if (current === null) return;
    current.controller.abort();
    try {
      current.cleanup?.();
    } catch (err) {
      console.error(err);
    }
    current = null;
  }

  function route() {
    if (key === null || sections.length === 0) return;
    const id = /^#\/([\w-]+)/.exec(location.hash)?.[1];
    const section = sections.find((s) => s.id === id) ?? sections[0];
    leave();
    drawNav(section);
    showError(ui.error, '');
    ui.heading.textContent = section.title;
    ui.status.textContent = '';
    ui.body.replaceChildren();
    document.title = `${section.title} — analyst's workbench — Offerloop`;
    const controller = new AbortController();
    const { signal } = controller;
    const ctx = Object.freeze({
      getJson: (path) => request('GET', path, undefined, signal),
      send: (method, path, body) => request(method, path, body, signal),
      h,
      dateRange,
      table,
      announce,
      signal,
      setStatus: (text) => {
        if (!signal.aborted) ui.status.textContent = text;
      },
      /** Shows a failure of the section's work on the page's error line (not after leaving it). */
      fail: (err) => {
        if (signal.aborted || err instanceof Refused || err?.name === 'AbortError') return;
        showError(ui.error, err.message);
      },
    });
    current = { controller, cleanup: null };
    try {
      const cleanup = section.render(ui.body, ctx);
      if (typeof cleanup === 'function') current.cleanup = cleanup;
    } catch (err) {
      ctx.fail(err);
    }
  }

  // ---- signing in and out -----------------------------------------------------------------------

  const signOut = keySession({
    storeKey: STORE_KEY,
    app: ui.app,
    onSignIn(apiKey) {
      key = apiKey;
      route();
      ui.heading.focus();
    },
    onSignOut() {
      key = null;
      leave();
      ui.body.replaceChildren();
    },
  });

  window.addEventListener('hashchange', () => {
    route();
    ui.heading.focus();
  });

  // The section scripts run after this one (deferred, in order) and register before the page signs
  // in again with a kept key (on DOMContentLoaded, see keySession).
  window.offerloopWorkbench = Object.freeze({ register });
})();
