import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';

interface Asset {
  readonly body: Buffer;
  readonly type: string;
  readonly etag: string;
}

const TYPES: Readonly<Record<string, string>> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
};

/** The agent desktop talks only to its own server; nothing else may run in it or frame it. */
const AGENT_PAGE_POLICY =
  "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data: https:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/** The package's own `src/web`, found from this module whether it runs from `src` or `dist/src`. */
export function webDir(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  while (!existsSync(path.join(dir, 'package.json'))) {
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error('cannot find the package root of Offerloop');
    dir = parent;
  }
  return path.join(dir, 'src', 'web');
}

/** Every file of a folder, read once at start: pages and scripts are small and never change while serving. */
function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const type = TYPES[path.extname(name)];
    if (type === undefined) continue;
    const body = readFileSync(path.join(dir, name));
    const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
    assets.set(name, { body, type, etag });
  }
  return assets;
}

/**
 * The browser side of the channels: `banner.js` that websites include, the agent desktop at
 * `/agent/`, and a banner demo page. Public like any page's assets: what they fetch needs a key.
 */
export function webRoutes(app: FastifyInstance, dir = webDir()): void {
  const assets = readAssets(dir);
  const serve = (
    request: FastifyRequest,
    reply: FastifyReply,
    name: string,
    headers: Record<string, string>,
  ) => {
    const asset = assets.get(name);
    if (asset === undefined) return reply.callNotFound();
    reply.header('etag', asset.etag).header('x-content-type-options', 'nosniff').headers(headers);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };

  app.get<{ Params: { file: string } }>('/web/:file', { schema: { hide: true } }, async (request, reply) =>
    serve(request, reply, request.params.file, { 'cache-control': 'public, max-age=300' }),
  );
  app.get('/agent', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/agent/', 301));
  app.get('/agent/', { schema: { hide: true } }, async (request, reply) =>
    serve(request, reply, 'agent.html', {
      'cache-control': 'no-cache',
      'content-security-policy': AGENT_PAGE_POLICY,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    }),
  );
}
