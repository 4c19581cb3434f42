/* The workbench section 'plan' (placeholder while it is being built; see workbench.js). */
window.offerloopWorkbench.register({
  id: 'plan',
  title: 'Plan',
  render(container, ctx) {
    container.append(ctx.h('p', { class: 'muted' }, 'This section is being built.'));
  },
});
