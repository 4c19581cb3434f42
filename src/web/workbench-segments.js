/* The workbench section 'segments' (placeholder while it is being built; see workbench.js). */
window.offerloopWorkbench.register({
  id: 'segments',
  title: 'Segments',
  render(container, ctx) {
    container.append(ctx.h('p', { class: 'muted' }, 'This section is being built.'));
  },
});
