/* The workbench section 'whatif' (placeholder while it is being built; see workbench.js). */
window.offerloopWorkbench.register({
  id: 'whatif',
  title: 'What-if',
  render(container, ctx) {
    container.append(ctx.h('p', { class: 'muted' }, 'This section is being built.'));
  },
});
