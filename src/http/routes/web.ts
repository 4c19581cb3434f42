import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
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

/**
 * The campaign dashboard reads reports with fetch and draws with canvas: only its own scripts and
 * styles (no inline code, no eval), only its own origin to talk to.
 */
const DASHBOARD_PAGE_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self' data:; object-src 'none'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'";

/**
 * A picture opened on its own is a document: it may show itself and its inline styles, nothing
 * else (SVG can carry scripts; ours do not, and this keeps it so).
 */
const IMAGE_POLICY = "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'self'; sandbox";

/**
 * Third-party browser files served as `/web/vendor/<name>`, resolved through Node's module
 * resolution so that they are found from `src` (tests) and `dist/src` (builds) alike, and in an
 * installed package. The dashboard draws its charts with uPlot (MIT, ~50 KB).
 */
const VENDOR_FILES: Readonly<Record<string, string>> = {
  'uPlot.iife.min.js': 'uplot/dist/uPlot.iife.min.js',
  'uPlot.min.css': 'uplot/dist/uPlot.min.css',
};

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

function assetOf(file: string): Asset | undefined {
  const type = TYPES[path.extname(file)];
  if (type === undefined) return undefined;
  const body = readFileSync(file);
  const etag = `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`;
  return { body, type, etag };
}

/** Every file of a folder, read once at start: pages and scripts are small and never change while serving. */
function readAssets(dir: string): Map<string, Asset> {
  const assets = new Map<string, Asset>();
  for (const name of readdirSync(dir)) {
    const asset = assetOf(path.join(dir, name));
    if (asset !== undefined) assets.set(name, asset);
  }
  return assets;
}

function readVendorAssets(): Map<string, Asset> {
  const require = createRequire(import.meta.url);
  const assets = new Map<string, Asset>();
  for (const [name, specifier] of Object.entries(VENDOR_FILES)) {
    const asset = assetOf(require.resolve(specifier));
    if (asset !== undefined) assets.set(name, asset);
  }
  return assets;
}

export interface WebRoutesOptions {
  /** The package's `src/web`; default webDir(). */
  readonly dir?: string;
  /**
   * Serve the demo's banner pictures at `/static/banners/<name>.svg` (those the example rules name,
   * from `src/web/banners/`): with the demo population only. A bank's own pictures live on its site.
   */
  readonly demoAssets?: boolean;
}

/**
 * The browser side of the channels: `banner.js` that websites include, the agent desktop at
 * `/agent/`, the campaign dashboard at `/dashboard/`, the analyst's workbench at `/workbench/`, and
 * a banner demo page. Public like any
 * page's assets: what they fetch needs a key.
 */
export function webRoutes(app: FastifyInstance, options: WebRoutesOptions = {}): void {
  const dir = options.dir ?? webDir();
  const assets = readAssets(dir);
  const vendor = readVendorAssets();
  const serve = (
    request: FastifyRequest,
    reply: FastifyReply,
    name: string,
    headers: Record<string, string>,
    from = assets,
  ) => {
    const asset = from.get(name);
    if (asset === undefined) return reply.callNotFound();
    reply.header('etag', asset.etag).header('x-content-type-options', 'nosniff').headers(headers);
    if (request.headers['if-none-match'] === asset.etag) return reply.code(304).send();
    return reply.type(asset.type).send(asset.body);
  };

  app.get<{ Params: { file: string } }>('/web/:file', { schema: { hide: true } }, async (request, reply) =>
    serve(request, reply, request.params.file, { 'cache-control': 'public, max-age=300' }),
  );
  // A library changes only with an Offerloop release; the ETag revalidates after a day.
  app.get<{ Params: { file: string } }>(
    '/web/vendor/:file',
    { schema: { hide: true } },
    async (request, reply) =>
      serve(request, reply, request.params.file, { 'cache-control': 'public, max-age=86400' }, vendor),
  );
  if (options.demoAssets === true) {
    const banners = readAssets(path.join(dir, 'banners'));
    app.get<{ Params: { file: string } }>(
      '/static/banners/:file',
      { schema: { hide: true } },
      async (request, reply) =>
        serve(
          request,
          reply,
          request.params.file,
          { 'cache-control': 'public, max-age=3600', 'content-security-policy': IMAGE_POLICY },
          banners,
        ),
    );
  }
  app.get('/agent', { schema: { hide: true } }, async (_request, reply) => reply.redirect('/agent/', 301));
  app.get('/agent/', { schema: { hide: true } }, async (request, reply) =>
    serve(request, reply, 'agent.html', {
      'cache-control': 'no-cache',
      'content-security-policy': AGENT_PAGE_POLICY,
      'x-frame-options': 'DENY',
      'referrer-policy': 'no-referrer',
    }),
  );
  // The campaign dashboard and the analyst's workbench: pages of reports under the same policy.
  for (const [page, file] of [
    ['dashboard', 'dashboard.html'],
    ['workbench', 'workbench.html'],
  ] as const) {
    app.get(`/${page}`, { schema: { hide: true } }, async (_request, reply) =>
      reply.redirect(`/${page}/`, 301),
    );
    app.get(`/${page}/`, { schema: { hide: true } }, async (request, reply) =>
      serve(request, reply, file, {
        'cache-control': 'no-cache',
        'content-security-policy': DASHBOARD_PAGE_POLICY,
        'x-frame-options': 'DENY',
        'referrer-policy': 'no-referrer',
      }),
    );
  }
}
