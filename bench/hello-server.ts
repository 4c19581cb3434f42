// The baseline of the HTTP benchmarks: a bare Fastify app (the same fastify as ours) with a POST
// route that parses the same JSON body as POST /v1/decisions and answers a small JSON object, and
// (for channels.bench.ts) a GET route at the banner URL that reads its query string the same way.
// No logger, no plugins, no schema: what any Fastify route costs, which Offerloop cannot beat.
// Run by the HTTP benches as a child process; alone: PORT=3000 node dist/bench/hello-server.js

import Fastify from 'fastify';

interface HelloBody {
  readonly customerId?: unknown;
}

interface HelloBanner {
  readonly Params: { readonly placement: string };
  readonly Querystring: { readonly customerId?: string };
}

const port = Number(process.env.PORT ?? 3000);
const host = process.env.HOST ?? '127.0.0.1';
// Diagnostic only (default 0): pad the answer to about the size of a decision (~1,250 bytes) to
// tell what the transport costs per byte from what our code costs. See bench/README.md.
const pad = 'x'.repeat(Math.max(0, Number(process.env.HELLO_PAD_BYTES ?? 0) || 0));

const app = Fastify({ logger: false });

app.post<{ Body: HelloBody }>('/v1/decisions', async (request) =>
  pad === ''
    ? { ok: true, customerId: request.body?.customerId ?? null }
    : { ok: true, customerId: request.body?.customerId ?? null, pad },
);

app.get<HelloBanner>('/v1/banners/:placement', async (request) =>
  pad === ''
    ? { ok: true, placement: request.params.placement, customerId: request.query.customerId ?? null }
    : { ok: true, placement: request.params.placement, customerId: request.query.customerId ?? null, pad },
);

await app.listen({ port, host });
const address = app.server.address();
const listening = typeof address === 'object' && address !== null ? address.port : port;
// One JSON line, like the 'offerloop ready' line of our server, so the bench waits the same way.
process.stdout.write(
  `${JSON.stringify({ msg: 'hello ready', port: listening, readyInMs: Math.round(process.uptime() * 1000) })}\n`,
);

const stop = () => {
  app.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
