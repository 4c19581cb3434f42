import type { RulesSource } from '../../ruleset/load.js';
import type { AnnouncedCause, RulesetVersionStore } from '../../ruleset/ruleset-history.js';
import type { RedisConnection } from './redis-connection.js';
import type { RedisKeys } from './redis-keys.js';

/** How long the files of a version are kept after it last loaded: long enough to go back to it. */
const KEPT_MS = 90 * 86_400_000;

const PROMOTE = 'promote:';

/** Ruleset versions in Redis, a key per version; rollbacks are announced on a channel of their own. */
export class RedisRulesetVersionStore implements RulesetVersionStore {
  constructor(
    private readonly redis: RedisConnection,
    private readonly keys: RedisKeys,
  ) {}

  async keep(version: string, files: readonly RulesSource[]): Promise<void> {
    const key = this.keys.rulesetVersion(version);
    await this.redis.send(key, ['SET', key, JSON.stringify(files), 'PX', String(KEPT_MS)]);
  }

  async files(version: string): Promise<readonly RulesSource[] | null> {
    const key = this.keys.rulesetVersion(version);
    const json = await this.redis.send<string | null>(key, ['GET', key]);
    return json === null ? null : (JSON.parse(json) as RulesSource[]);
  }

  /** The message is `<version> <by>`, and `promote:<version> <by>` for a challenger promoted. */
  async announce(version: string, by: string, cause: AnnouncedCause = 'rollback'): Promise<void> {
    const head = cause === 'promote' ? `${PROMOTE}${version}` : version;
    await this.redis.publish(this.keys.rulesetChannel(), `${head} ${by}`);
  }

  onAnnounce(listener: (version: string, by: string, cause: AnnouncedCause) => void): Promise<void> {
    return this.redis.subscribe(this.keys.rulesetChannel(), (message) => {
      const space = message.indexOf(' ');
      const head = message.slice(0, space);
      const promoted = head.startsWith(PROMOTE);
      listener(
        promoted ? head.slice(PROMOTE.length) : head,
        message.slice(space + 1),
        promoted ? 'promote' : 'rollback',
      );
    });
  }
}
