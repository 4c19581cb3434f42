import cluster from 'node:cluster';
import { type AddressInfo, createServer } from 'node:net';
import { availableParallelism } from 'node:os';
import pino from 'pino';
import { runPrimary, WORKER_READY } from './cluster.js';
import { loadConfig } from './config.js';
import { ConfigError, RulesetError } from './errors.js';
import { aggregateWorkerMetrics } from './metrics/cluster-metrics.js';
import { buildServer } from './server.js';
import { createServices } from './services.js';

/** Starts the server: load config, build services and app, listen; stop cleanly on SIGTERM/SIGINT. */
export async function main(): Promise<void> {
  let config: ReturnType<typeof loadConfig>;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      process.stderr.write(`offerloop: ${err.message}\n`);
      process.exit(2);
    }
    throw err;
  }
  const log = pino({
    level: config.log.level,
    redact: { paths: ['req.headers.authorization', '*.authorization', 'apiKey.key'], censor: '[redacted]' },
  });
  // Before any work (a population takes seconds to build): a port in use is one clear line.
  if (cluster.isPrimary && !(await portIsFree(config.http.host, config.http.port))) {
    process.stderr.write(
      `offerloop: ${config.http.host}:${config.http.port} is in use (another offerloop still running?): stop it, or set PORT\n`,
    );
    process.exit(3);
  }
  if (cluster.isPrimary && config.workers.count > 1) {
    if (config.redis === null) {
      log.warn(
        { workers: config.workers.count },
        "OFFERLOOP_WORKERS with the embedded store: each worker holds its own population and feedback log, and they do not see each other's changes",
      );
    }
    // The primary serves nothing itself: it forks the workers, replaces the ones that die, and
    // passes SIGTERM/SIGINT on (src/cluster.ts).
    // /metrics on any worker answers for all of them (each sample labelled with its worker).
    aggregateWorkerMetrics();
    await runPrimary(config.workers.count, log);
    return;
  }
  if (config.workers.source === 'embedded' && availableParallelism() > 1) {
    log.info(
      { cores: availableParallelism() },
      'embedded store: one process (workers would each hold their own population); set REDIS_URL, or OFFERLOOP_WORKERS to override',
    );
  }
  if (config.auth.demoKey) {
    log.warn(
      "no OFFERLOOP_API_KEYS configured: accepting the demo key 'demo' with every scope (embedded store only)",
    );
  }
  let services: Awaited<ReturnType<typeof createServices>>;
  try {
    services = await createServices(config, log);
  } catch (err) {
    if (err instanceof RulesetError) {
      log.fatal({ problems: err.problems }, err.message);
      process.exit(1);
    }
    throw err;
  }
  const app = await buildServer(config, services, log);
  // A rush of new connections waits in the kernel's queue rather than retrying its SYNs after 1 s and
  // 3 s (Node's default queue is 511; the kernel caps this at net.core.somaxconn).
  await app.listen({ host: config.http.host, port: config.http.port, backlog: LISTEN_BACKLOG });
  const readyInMs = Math.round(process.uptime() * 1000);
  if (cluster.isWorker) {
    // The primary says 'offerloop ready' once every worker has said this.
    log.info({ readyInMs }, 'worker ready');
    process.send?.(WORKER_READY);
  } else {
    log.info({ readyInMs }, 'offerloop ready');
    log.info(
      placesToGo(config, listeningPort(app.server.address(), config.http.port)),
      'open the agent desktop, the dashboard, the workbench or the API docs',
    );
  }

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info({ signal }, 'shutting down');
    // A shutdown that hangs (a wedged disk) must still end; the spool has what was acknowledged.
    setTimeout(() => {
      log.error({ afterMs: SHUTDOWN_DEADLINE_MS }, 'shutdown took too long: exiting');
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS).unref();
    // Stop accepting, let in-flight requests finish; then flush the feedback log and close stores.
    await app.close();
    await services.close();
    log.info({ feedback: services.feedbackLog.health() }, 'stopped');
    process.exit(0);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

/** Where a person goes next: the server's first lines after ready say it (README "Two commands"). */
function placesToGo(config: ReturnType<typeof loadConfig>, port: number): Record<string, string> {
  const host = config.http.host === '0.0.0.0' || config.http.host === '::' ? '127.0.0.1' : config.http.host;
  const base = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
  return {
    api: `${base}/v1/decisions`,
    agentDesktop: `${base}/agent/`,
    dashboard: `${base}/dashboard/`,
    workbench: `${base}/workbench/`,
    docs: `${base}/docs`,
    ...(config.auth.demoKey ? { apiKey: 'demo' } : {}),
  };
}

/** The port the server listens on (PORT=0 picks one). */
function listeningPort(address: AddressInfo | string | null, configured: number): number {
  return address !== null && typeof address === 'object' ? address.port : configured;
}

/** Whether host:port can be listened on now (port 0 always can). */
function portIsFree(host: string, port: number): Promise<boolean> {
  if (port === 0) return Promise.resolve(true);
  return new Promise((resolve) => {
    const probe = createServer();
    probe.once('error', (err: NodeJS.ErrnoException) => resolve(err.code !== 'EADDRINUSE'));
    probe.listen({ host, port, exclusive: true }, () => probe.close(() => resolve(true)));
  });
}

const SHUTDOWN_DEADLINE_MS = 30_000;
const LISTEN_BACKLOG = 4096;

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`offerloop: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
