/*
 * The workbench's ruleset history (GET /v1/ruleset/history): every attempt to change the ruleset
 * on this server, newest first — what loaded or was rejected, why and by whom, which files changed,
 * the problems of a rejected one — and a way back: "Roll back" on a version that loaded serves it
 * on every server (POST /v1/ruleset/rollback). Both need a key with the admin scope.
 */
(() => {
  const OUTCOMES = { loaded: 'Loaded', rejected: 'Rejected', unchanged: 'Unchanged' };
  const when = new Intl.DateTimeFormat('en-GB', {
    dateStyle: 'medium',
    timeStyle: 'medium',
    timeZone: 'UTC',
  });

  function filesText(changed) {
    const parts = [];
    if (changed.added.length > 0) parts.push(`added ${changed.added.join(', ')}`);
    if (changed.removed.length > 0) parts.push(`removed ${changed.removed.join(', ')}`);
    if (changed.modified.length > 0) parts.push(`changed ${changed.modified.join(', ')}`);
    return parts.length === 0 ? '—' : parts.join('; ');
  }

  window.offerloopWorkbench.register({
    id: 'history',
    title: 'Ruleset history',
    render(container, ctx) {
      const { h } = ctx;
      const current = h('p', { id: 'history-current' });
      const tbody = h('tbody');
      const table = h(
        'table',
        { id: 'history-table' },
        h('caption', { class: 'visually-hidden' }, 'Ruleset changes on this server, newest first'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['When (UTC)', 'Version', 'Outcome', 'Cause', 'By', 'Files', 'Problems', ''].map((t) =>
              h('th', { scope: 'col' }, t),
            ),
          ),
        ),
        tbody,
      );
      container.append(current, h('div', { class: 'table-wrap' }, table));

      async function rollback(version, button) {
        button.disabled = true;
        try {
          const result = await ctx.send('POST', '/v1/ruleset/rollback', { version });
          ctx.announce(
            result.changed ? `Rolled back to ${version} on every server.` : `${version} is already in force.`,
          );
          await load();
        } catch (err) {
          button.disabled = false;
          ctx.fail(err);
        }
      }

      function row(change, inForce) {
        const action =
          change.outcome === 'loaded' && change.version !== inForce
            ? h('button', { type: 'button', class: 'secondary' }, 'Roll back')
            : null;
        action?.addEventListener('click', () => rollback(change.version, action));
        return h(
          'tr',
          { 'data-version': change.version ?? '' },
          h('td', {}, when.format(new Date(change.at))),
          h('td', {}, h('code', {}, change.version ?? 'did not compile')),
          h('td', { class: change.outcome === 'rejected' ? 'flag' : null }, OUTCOMES[change.outcome]),
          h('td', {}, change.cause),
          h('td', {}, change.by ?? '—'),
          h('td', {}, filesText(change.changed)),
          h('td', {}, change.problems.length === 0 ? '—' : change.problems.join('\n')),
          h('td', {}, action),
        );
      }

      async function load() {
        ctx.setStatus('Loading…');
        const history = await ctx.getJson('/v1/ruleset/history');
        current.replaceChildren('In force: ', h('code', {}, history.current));
        tbody.replaceChildren(...history.changes.map((c) => row(c, history.current)));
        ctx.setStatus(
          `${history.changes.length} change${history.changes.length === 1 ? '' : 's'} on this server`,
        );
      }

      load().catch(ctx.fail);
    },
  });
})();
