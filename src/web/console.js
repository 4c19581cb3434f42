/*
 * What the agent desktop and the campaign dashboard share (the script beside console.css): the top
 * of the page (a skip link, then a header with the page's name from <body data-console>, the sign-in
 * status and the Sign out button), the elements every console has, and the DOM helpers both draw
 * with: text only, never HTML from data. Loaded (deferred) before the page's own script, which takes
 * them from window.offerloopConsole. No framework, no build step.
 */
(() => {
  const $ = (id) => document.getElementById(id);

  function h(tag, attrs, ...children) {
    const el = document.createElement(tag);
    for (const [name, value] of Object.entries(attrs || {})) {
      if (value !== null && value !== undefined && value !== false) el.setAttribute(name, String(value));
    }
    for (const child of children) {
      if (child === null || child === undefined || child === false) continue;
      el.append(child instanceof Node ? child : String(child));
    }
    return el;
  }

  // The top comes first in the body, so that the skip link is the first thing the keyboard reaches.
  const status = h('p', { id: 'status', role: 'status', 'data-state': 'signed-out' }, 'Signed out');
  const signOut = h('button', { type: 'button', id: 'sign-out', class: 'secondary', hidden: '' }, 'Sign out');
  document.body.prepend(
    h('a', { class: 'skip-link', href: '#main' }, 'Skip to content'),
    h(
      'header',
      { class: 'top' },
      h('h1', {}, 'Offerloop ', h('span', { class: 'sub' }, document.body.dataset.console)),
      status,
      signOut,
    ),
  );

  /** What every console has: the top, the error line, the sign-in form with its API key, the announcer. */
  const ui = Object.freeze({
    status,
    signOut,
    error: $('error'),
    signIn: $('sign-in'),
    signInError: $('sign-in-error'),
    apiKey: $('api-key'),
    announcer: $('announcer'),
  });

  function setStatus(state, text) {
    ui.status.dataset.state = state;
    ui.status.textContent = text;
  }

  function showError(el, message) {
    el.textContent = message || '';
    el.hidden = !message;
  }

  function announce(message) {
    // Emptied first so the same words twice in a row are announced twice.
    ui.announcer.textContent = '';
    setTimeout(() => {
      ui.announcer.textContent = message;
    }, 50);
  }

  /**
   * Signing in with an API key alone (the dashboard, the workbench; the agent desktop also asks who
   * the agent is): the sign-in form, the Sign out button, the key in this tab's sessionStorage under
   * `storeKey` (never in a URL). `onSignIn(key)` shows the page, `onSignOut()` clears what it drew.
   * Signs in again with a key kept from before, once the page's scripts have run. Returns
   * signOut(message), for a key the server refuses.
   */
  function keySession({ storeKey, app, onSignIn, onSignOut }) {
    function signIn(key) {
      sessionStorage.setItem(storeKey, key);
      ui.signIn.hidden = true;
      ui.signOut.hidden = false;
      app.hidden = false;
      showError(ui.error, '');
      showError(ui.signInError, '');
      setStatus('signed-in', 'Signed in');
      onSignIn(key);
    }

    function signOut(message) {
      sessionStorage.removeItem(storeKey);
      onSignOut();
      ui.signIn.hidden = false;
      ui.signOut.hidden = true;
      app.hidden = true;
      setStatus('signed-out', 'Signed out');
      showError(ui.error, '');
      showError(ui.signInError, message || '');
      ui.apiKey.value = '';
      ui.apiKey.focus();
    }

    ui.signIn.addEventListener('submit', (event) => {
      event.preventDefault();
      const key = ui.apiKey.value.trim();
      if (!key) {
        showError(ui.signInError, 'Enter an API key.');
        ui.apiKey.focus();
        return;
      }
      signIn(key);
    });
    ui.signOut.addEventListener('click', () => signOut());
    document.addEventListener('DOMContentLoaded', () => {
      const saved = sessionStorage.getItem(storeKey);
      if (saved) signIn(saved);
      else ui.apiKey.focus();
    });
    return signOut;
  }

  window.offerloopConsole = Object.freeze({ ui, h, setStatus, showError, announce, keySession });
})();
