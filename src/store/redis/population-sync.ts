import type { Logger } from 'pino';
import type { TieredProfileStore } from '../tiered-profile-store.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';
import type { RedisProfileStore } from './redis-profile-store.js';

/** Messages on the events channel: `version <n>` after a load flipped, `customer <id>` after an API change. */
export const versionMessage = (version: number): string => `version ${version}`;
const customerMessage = (customerId: string): string => `customer ${customerId}`;

/**
 * Keeps this server's memory tier coherent with Redis and with every other server: it drops a
 * customer when any server changed them, and everything when a load flipped the version. Pub/sub
 * delivers at most once, so the version is also polled, and everything is dropped after Redis
 * was unreachable (messages sent meanwhile are lost).
 */
export class PopulationSync {
  private readonly timer: NodeJS.Timeout;

  private constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
    private readonly store: RedisProfileStore,
    private readonly tier: TieredProfileStore,
    private readonly log: Logger,
    private readonly forgetters: readonly ((customerId: string) => void)[],
    pollMs: number,
  ) {
    this.timer = setInterval(() => void this.refresh(), pollMs).unref();
    redis.on('up', this.onReconnect);
  }

  static async start(
    redis: RedisConnection,
    keys: RedisKeys,
    store: RedisProfileStore,
    tier: TieredProfileStore,
    log: Logger,
    /** Other per-customer memory to drop when a customer changes (e.g. the contact history seen last). */
    forgetters: readonly ((customerId: string) => void)[] = [],
    pollMs = 5000,
  ): Promise<PopulationSync> {
    const sync = new PopulationSync(redis, keys, store, tier, log, forgetters, pollMs);
    await redis.subscribe(keys.events(), (message) => sync.onMessage(message));
    return sync;
  }

  /**
   * Tells every server to forget its copy of the customer. (This one forgot already: the tier
   * drops what it writes, and the message comes back here too.)
   */
  async customerChanged(customerId: string): Promise<void> {
    await this.redis.publish(this.keys.events(), customerMessage(customerId));
  }

  close(): void {
    clearInterval(this.timer);
    this.redis.off('up', this.onReconnect);
  }

  private onMessage(message: string): void {
    const space = message.indexOf(' ');
    const kind = message.slice(0, space);
    const subject = message.slice(space + 1);
    if (kind === 'customer') {
      this.tier.invalidate(subject);
      for (const forget of this.forgetters) forget(subject);
    } else if (kind === 'version') void this.refresh();
  }

  private readonly onReconnect = (): void => {
    this.tier.clear();
    void this.refresh();
  };

  private async refresh(): Promise<void> {
    try {
      if (await this.store.refresh()) {
        this.tier.clear();
        this.log.info({ version: this.store.version }, 'serving a new population version');
      }
    } catch (err) {
      this.log.debug({ err: (err as Error).message }, 'population version check failed');
    }
  }
}
