// The baseline of the HTTP benchmarks: a bare Fastify app (the same fastify as ours) with a POST
// route that parses the same JSON body as POST /v1/decisions and answers a small JSON object, and
// (for ops/channels.bench.ts) a GET route at the banner URL that reads its query string the same way.
// No logger, no plugins, no schema: what any Fastify route costs, which Offerloop cannot beat.
// Run by the HTTP benches as a child process; alone: PORT=3000 node dist/bench/hello-server.js

import Fastify from 'fastify';

interface HelloBanner {
  readonly Params: { readonly placement: string };
  readonly Querystring: { readonly customerId?: string };
}

const app = Fastify({ logger: false });

app.post<{ Body: { readonly customerId?: unknown } }>('/v1/decisions', async (request) => ({
  ok: true,
  customerId: request.body?.customerId ?? null,
}));

app.get<HelloBanner>('/v1/banners/:placement', async (request) => ({
  ok: true,
  placement: request.params.placement,
  customerId: request.query.customerId ?? null,
}));

await app.listen({ port: Number(process.env.PORT ?? 3000), host: process.env.HOST ?? '127.0.0.1' });
// One JSON line, like the 'offerloop ready' line of our server, so the bench waits the same way.
process.stdout.write(
  `${JSON.stringify({ msg: 'hello ready', readyInMs: Math.round(process.uptime() * 1000) })}\n`,
);

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
