import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { RedisConnection } from '../store/redis/redis-connection.js';
import type { RedisKeys } from '../store/redis/redis-keys.js';
import type { PushHub } from './push-hub.js';

/**
 * Pushes between servers: a call event handled by one server reaches the agent's sessions on every
 * server. Each server publishes its pushes on one channel (`<server id>\n<topics>\n<message>`) and
 * delivers what the others publish to its own sessions. Best effort, like the push itself: a push
 * lost while Redis is away is not replayed (the next call event brings the screen up to date).
 */
export class RedisPushRelay {
  private readonly serverId = randomUUID();

  private constructor(
    private readonly redis: RedisConnection,
    private readonly channel: string,
    private readonly hub: PushHub,
    private readonly log: Logger,
  ) {}

  static async start(
    redis: RedisConnection,
    keys: RedisKeys,
    hub: PushHub,
    log: Logger,
  ): Promise<RedisPushRelay> {
    const relay = new RedisPushRelay(redis, keys.push(), hub, log);
    await redis.subscribe(relay.channel, (message) => relay.receive(message));
    hub.forwardTo((topics, message) => relay.forward(topics, message));
    return relay;
  }

  private forward(topics: readonly string[], push: string): void {
    const message = `${this.serverId}\n${topics.join('\t')}\n${push}`;
    this.redis.publish(this.channel, message).catch((err: unknown) => {
      this.log.warn({ err }, 'push not relayed to other servers: Redis unavailable');
    });
  }

  private receive(message: string): void {
    const firstBreak = message.indexOf('\n');
    const secondBreak = message.indexOf('\n', firstBreak + 1);
    if (firstBreak < 0 || secondBreak < 0) return;
    if (message.slice(0, firstBreak) === this.serverId) return;
    const topics = message.slice(firstBreak + 1, secondBreak).split('\t');
    this.hub.deliverLocally(topics, Buffer.from(message.slice(secondBreak + 1)));
  }
}
