import pino from 'pino';
import { loadConfig } from './config.js';
import { ConfigError, RulesetError } from './errors.js';
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
  await app.listen({ host: config.http.host, port: config.http.port });
  log.info({ readyInMs: Math.round(process.uptime() * 1000) }, 'offerloop ready');

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

const SHUTDOWN_DEADLINE_MS = 30_000;

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`offerloop: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  });
}
