/* The workbench section 'challenger' (placeholder while it is being built; see workbench.js). */
window.offerloopWorkbench.register({
  id: 'challenger',
  title: 'Champion/challenger',
  render(container, ctx) {
    container.append(ctx.h('p', { class: 'muted' }, 'This section is being built.'));
  },
});
