import cluster, { type Worker } from 'node:cluster';
import type { Logger } from 'pino';

/** What a worker tells the primary once it listens. */
export const WORKER_READY = 'offerloop:worker-ready';

/** A replacement that lived at least this long died of something new: restart it at once. */
const STABLE_MS = 60_000;
/** Restart delays of a worker that keeps dying young: 0.5 s, 1 s, 2 s … up to 30 s. */
const FIRST_BACKOFF_MS = 500;
const MAX_BACKOFF_MS = 30_000;
/** Workers have their own shutdown deadline (30 s, main.ts); this one only catches a wedged worker. */
const STOP_DEADLINE_MS = 35_000;

/** One place in the pool: the worker in it now, and how its predecessors fared. */
interface Slot {
  readonly index: number;
  worker: Worker | null;
  startedAt: number;
  ready: boolean;
  /** Deaths in a row of workers that did not live STABLE_MS. */
  youngDeaths: number;
  restart: NodeJS.Timeout | null;
}

/**
 * The primary of `OFFERLOOP_WORKERS` > 1: forks the workers (each runs main.ts as a server of its
 * own: its own memory tier, kept coherent with the others through Redis pub/sub like separate
 * servers), replaces a worker that dies (at once, or with a growing delay if replacements keep
 * dying young, so that a broken deployment does not spin), and on SIGTERM/SIGINT passes the signal
 * on and exits once every worker has finished its graceful shutdown. Resolves when all workers are
 * ready; exits the process (1) if one fails before that, as a single server would.
 * Guarded by workers.int.test.ts.
 */
export function runPrimary(count: number, log: Logger): Promise<void> {
  const slots: Slot[] = Array.from({ length: count }, (_, index) => ({
    index,
    worker: null,
    startedAt: 0,
    ready: false,
    youngDeaths: 0,
    restart: null,
  }));
  let stopping = false;
  let started = false;

  return new Promise<void>((resolve) => {
    const fork = (slot: Slot): void => {
      slot.restart = null;
      slot.ready = false;
      slot.startedAt = Date.now();
      const worker = cluster.fork();
      slot.worker = worker;
      worker.on('message', (message: unknown) => {
        if (message !== WORKER_READY) return;
        slot.ready = true;
        if (!started && slots.every((s) => s.ready)) {
          started = true;
          log.info(
            {
              workers: count,
              workerPids: slots.map((s) => s.worker?.process.pid),
              readyInMs: Math.round(process.uptime() * 1000),
            },
            'offerloop ready',
          );
          resolve();
        } else if (started) {
          log.info({ worker: slot.index, workerPid: worker.process.pid }, 'worker replaced');
        }
      });
      worker.on('exit', (code, signal) => {
        if (slot.worker === worker) slot.worker = null;
        if (stopping) {
          // A worker that did not stop cleanly makes the primary's exit code non-zero. One still
          // starting has no handler yet and dies of the signal itself: that is a clean stop too.
          if (code !== 0 && signal !== stopSignal) {
            exitCode ||= 1;
            log.warn({ worker: slot.index, workerPid: worker.process.pid, code, signal }, 'worker stopped');
          }
          if (slots.every((s) => s.worker === null)) finish();
          return;
        }
        if (!started) {
          // Like a single server that cannot start (Redis unreachable, a bad ruleset): fail fast.
          log.fatal(
            { worker: slot.index, workerPid: worker.process.pid, code, signal },
            'a worker failed to start',
          );
          stopAll('SIGTERM', code === 0 || code === null ? 1 : code);
          return;
        }
        const lived = Date.now() - slot.startedAt;
        slot.youngDeaths = lived >= STABLE_MS ? 0 : slot.youngDeaths + 1;
        const delayMs =
          slot.youngDeaths === 0
            ? 0
            : Math.min(MAX_BACKOFF_MS, FIRST_BACKOFF_MS * 2 ** (slot.youngDeaths - 1));
        log.error(
          {
            worker: slot.index,
            workerPid: worker.process.pid,
            code,
            signal,
            livedMs: lived,
            restartInMs: delayMs,
          },
          'worker died: starting a new one',
        );
        slot.restart = setTimeout(() => fork(slot), delayMs);
      });
    };

    let exitCode = 0;
    let stopSignal: NodeJS.Signals | null = null;
    const finish = (): void => {
      log.info({ exitCode }, 'stopped');
      process.exit(exitCode);
    };

    const stopAll = (signal: NodeJS.Signals, code: number): void => {
      if (stopping) return;
      stopping = true;
      stopSignal = signal;
      exitCode = code;
      for (const slot of slots) {
        if (slot.restart !== null) clearTimeout(slot.restart);
        slot.restart = null;
      }
      setTimeout(() => {
        log.error({ afterMs: STOP_DEADLINE_MS }, 'workers did not stop in time: killing them');
        for (const slot of slots) slot.worker?.process.kill('SIGKILL');
        process.exit(1);
      }, STOP_DEADLINE_MS).unref();
      const live = slots.filter((s) => s.worker !== null);
      if (live.length === 0) finish();
      // Each worker runs the graceful shutdown of main.ts: stop accepting, finish, flush, exit 0.
      for (const slot of live) slot.worker!.process.kill(signal);
    };

    for (const signal of ['SIGTERM', 'SIGINT'] as const) {
      process.on(signal, () => {
        log.info({ signal, workers: slots.filter((s) => s.worker !== null).length }, 'shutting down');
        stopAll(signal, 0);
      });
    }
    log.info({ workers: count }, 'starting workers');
    for (const slot of slots) fork(slot);
  });
}
