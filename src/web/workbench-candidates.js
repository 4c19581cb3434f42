/*
 * The workbench's candidate rulesets (GET/PUT/DELETE /v1/ruleset/candidates): a rules directory
 * uploaded from the analyst's disk is checked like a reload — refused with every problem's file,
 * line and reason — and held for previews, what-ifs and challengers on every server, never served
 * as it is. Needs a key with the admin scope.
 */
(() => {
  /** The rules files a directory holds (as the server accepts them); anything else picked is left out. */
  const RULES_FILE = /^([A-Za-z0-9_-][A-Za-z0-9_.-]{0,99}\.ya?ml|associations\.ndjson)$/;
  const NAME = /^[a-z0-9][a-z0-9_.-]{0,63}$/;
  const when = new Intl.DateTimeFormat('en-GB', { dateStyle: 'medium', timeStyle: 'short', timeZone: 'UTC' });

  window.offerloopWorkbench.register({
    id: 'candidates',
    title: 'Candidates',
    render(container, ctx) {
      const { h } = ctx;
      const name = h('input', {
        id: 'candidate-name',
        name: 'name',
        required: '',
        spellcheck: 'false',
        autocapitalize: 'off',
        'aria-describedby': 'candidate-name-hint',
      });
      const files = h('input', {
        id: 'candidate-files',
        name: 'files',
        type: 'file',
        multiple: '',
        required: '',
        accept: '.yaml,.yml,.ndjson',
      });
      const upload = h('button', { type: 'submit' }, 'Upload');
      const problems = h('ul', { id: 'candidate-problems', class: 'error', hidden: '' });
      const form = h(
        'form',
        { id: 'candidate-upload', class: 'inline-form', novalidate: '' },
        h(
          'div',
          { class: 'field' },
          h('label', { for: 'candidate-name' }, 'Name'),
          name,
          h('span', { id: 'candidate-name-hint', class: 'hint' }, 'a-z, 0-9, . _ -'),
        ),
        h('div', { class: 'field' }, h('label', { for: 'candidate-files' }, 'Rules files'), files),
        upload,
      );
      const tbody = h('tbody');
      const table = h(
        'table',
        { id: 'candidates-table' },
        h('caption', { class: 'visually-hidden' }, 'Candidate rulesets held for previews'),
        h(
          'thead',
          {},
          h(
            'tr',
            {},
            ...['Name', 'Version', 'Files', 'Offers', 'Uploaded (UTC)', 'By', ''].map((t) =>
              h('th', { scope: 'col', class: t === 'Offers' ? 'num' : null }, t),
            ),
          ),
        ),
        tbody,
      );
      container.append(
        h(
          'p',
          { class: 'hint' },
          'Pick every file of a rules directory. The candidate is checked like a reload and held for previews, what-ifs and challengers; it is never served as it is.',
        ),
        form,
        problems,
        h('div', { class: 'table-wrap' }, table),
      );

      function showProblems(list) {
        problems.replaceChildren(
          ...list.map((p) => h('li', {}, `${p.file}:${p.line}:${p.column}: ${p.message}`)),
        );
        problems.hidden = list.length === 0;
      }

      async function remove(candidate, button) {
        button.disabled = true;
        try {
          await ctx.send('DELETE', `/v1/ruleset/candidates/${encodeURIComponent(candidate)}`);
          ctx.announce(`Deleted the candidate ${candidate}.`);
          await load();
        } catch (err) {
          button.disabled = false;
          ctx.fail(err);
        }
      }

      function row(c) {
        const del = h('button', { type: 'button', class: 'secondary' }, 'Delete');
        del.addEventListener('click', () => remove(c.name, del));
        return h(
          'tr',
          { 'data-name': c.name },
          h('th', { scope: 'row' }, c.name),
          h('td', {}, h('code', {}, c.version)),
          h('td', {}, c.files.join(', ')),
          h('td', { class: 'num' }, String(c.offers)),
          h('td', {}, when.format(new Date(c.uploadedAt))),
          h('td', {}, c.by),
          h('td', {}, del),
        );
      }

      async function load() {
        ctx.setStatus('Loading…');
        const { candidates } = await ctx.getJson('/v1/ruleset/candidates');
        tbody.replaceChildren(...candidates.map(row));
        ctx.setStatus(
          candidates.length === 0
            ? 'No candidates yet'
            : `${candidates.length} candidate${candidates.length === 1 ? '' : 's'}`,
        );
      }

      form.addEventListener('submit', async (event) => {
        event.preventDefault();
        showProblems([]);
        const candidate = name.value.trim();
        const picked = [...files.files].filter((f) => RULES_FILE.test(f.name));
        if (!NAME.test(candidate)) {
          ctx.fail(new Error('Name the candidate: lower-case letters, digits, . _ - (at most 64).'));
          name.focus();
          return;
        }
        if (picked.length === 0) {
          ctx.fail(new Error('Pick the rules files (.yaml, .yml, associations.ndjson) of a directory.'));
          files.focus();
          return;
        }
        upload.disabled = true;
        try {
          const body = { files: {} };
          for (const f of picked) body.files[f.name] = await f.text();
          const summary = await ctx.send(
            'PUT',
            `/v1/ruleset/candidates/${encodeURIComponent(candidate)}`,
            body,
          );
          ctx.announce(`Uploaded ${summary.name}: version ${summary.version}, ${summary.offers} offers.`);
          form.reset();
          await load();
        } catch (err) {
          if (Array.isArray(err.details?.problems)) showProblems(err.details.problems);
          ctx.fail(err);
        } finally {
          upload.disabled = false;
        }
      });

      load().catch(ctx.fail);
    },
  });
})();
