/**
 * Every Redis key and channel name Offerloop uses, in one place. Layout, for prefix `p`:
 *
 * - `p:population:current`       the population version being served (an integer)
 * - `p:population:next`          counter that numbers new versions
 * - `p:population:loading`       the version a bulk load is writing now, with a TTL
 * - `p:pop:{V}:meta`             JSON meta of version V: bucket count, symbol dictionary, counts
 * - `p:pop:V:b:N:{t}`            hash of bucket N of version V: customer id → encoded profile; `{t}`
 *                                puts it in the slots of its customers (slot-placement.ts; untagged
 *                                `p:pop:V:b:N` in versions loaded before)
 * - `p:pop:{V}:dirty`            customers changed through the API while V was loading
 * - `p:contacts:{id}`            list of the customer's recent contacts
 * - `p:contacts-rev:{id}`        revision of that list, for compare-and-append
 * - `p:learned:{id}`             JSON of what outcomes taught about the customer (holdings, value, stage)
 * - `p:identity:{id}`            the customer an anonymous id is linked to: `customerId|linkedAt`
 * - `p:identities:{id}`          hash of the anonymous ids linked to a customer → when linked
 * - `p:caps:total`               hash of offers shown, all time: `o:<offer>` and `c:<campaign>`
 * - `p:caps:day:<n>`             the same for UTC day n (expires after two days)
 * - `p:caps:spend`               hash of channel cost spent per campaign, `c:<campaign>`
 * - `p:events`                   pub/sub channel: version flips and per-customer invalidations
 * - `p:push`                     pub/sub channel: pushes to WebSocket sessions on every server
 * - `p:{push}:log`               stream of the pushes of the last 30 s (capped), for servers that missed them live
 * - `p:call:<callId>`            JSON of a call in progress (CTI events), expiring after 4 hours
 * - `p:phone:<n>`                hash of phone number → customer id, bucket n of PHONE_BUCKETS
 * - `p:candidates`               hash of candidate rulesets for previews: name → JSON of its files
 * - `p:ruleset:<version>`        JSON of the files of a ruleset version that loaded, for rollbacks (90 days)
 * - `p:rules`                    pub/sub channel: the ruleset version every server is to serve (a rollback, a promotion)
 * - `p:challenger`               JSON of the champion/challenger test in progress (candidate, files, share)
 * - `p:challenger-changes`       pub/sub channel: the test started, stopped or promoted (read it again)
 * - `p:whatif:<id>`             JSON of a what-if run's last status (progress, then its report), for a day
 * - `p:fb:shards`                how many shards the feedback log has, fixed by the first server to write it
 * - `p:fb:{S}:log`               stream of shard S of the feedback log: decisions and feedback
 * - `p:fb:{S}:d:<decisionId>`    hash: a decision's customer, offers and reactions, for attribution
 * - `p:fb:{S}:d:o:<eventId>`     an outcome's event id, seen (idempotency), for the conversion window
 * - `p:fb:{S}:rejected`          stream: replayed events that turned out invalid (kept, not dropped)
 * - `p:fb:{S}:dead`              stream: dead letters, entries that kept failing in consumers
 * - `p:fb:{S}:stats:<day>`       hash: counters per offer × channel × segment × metric of UTC day n
 * - `p:erased`                   sorted set of tombstones of erased ids (keyed hashes, never ids) → when erased
 * - `p:erased:pepper`            the erasure pepper, when none is configured (OFFERLOOP_ERASURE_PEPPER is better)
 * - `p:erased:check`             a keyed hash of a constant: every server and load checks its pepper against it
 * - `p:erasures`                 pub/sub channel: ids just erased, for every server to forget (never stored)
 * - `p:trigger-event:{id}`       an event id that triggered (POST /v1/events), so it triggers once; expires
 * - `p:{advisers}:of`            hash customer → adviser, the books the CRM loads
 * - `p:{advisers}:book:<id>`     set of an adviser's customers
 * - `p:{webhooks}:due`           sorted set of webhook deliveries → when due (a lease while in flight)
 * - `p:{webhooks}:jobs`          hash of webhook deliveries: id → JSON (webhook, body, attempts)
 * - `p:{webhooks}:dead`          list of webhook deliveries that failed every try (dead letters), newest first
 * - `p:{rate-limits}:taken`      hash of requests each API key let through, all servers, ever: field = the
 *                                key's hash (never the key), `HINCRBY` every 100 ms (expires when no server syncs)
 *
 * Every key of a feedback shard shares the tag `{S}`, so that the intake script can judge an event
 * against its decision and append it to the stream atomically, and a consumer can apply an entry's
 * counters and acknowledge it in one script.
 *
 * A customer's two contact keys share the hash tag `{id}`, so that the Lua scripts that read and
 * append them touch one cluster slot. Profiles are bucketed (many customers per hash) because a
 * small hash costs far fewer bytes per entry than a key per customer; the buckets of a version
 * spread over the cluster, and its meta and dirty set share the tag `{V}`.
 */
export class RedisKeys {
  constructor(readonly prefix: string) {}

  readonly currentVersion = (): string => `${this.prefix}:population:current`;
  readonly versionCounter = (): string => `${this.prefix}:population:next`;
  readonly loadingVersion = (): string => `${this.prefix}:population:loading`;
  readonly versionMeta = (version: number): string => `${this.prefix}:pop:{${version}}:meta`;
  readonly versionDirty = (version: number): string => `${this.prefix}:pop:{${version}}:dirty`;
  /** Tagged by slot, not by version: a version's profiles spread over every cluster node, each bucket by its customers' other keys. */
  readonly bucket = (version: number, bucket: number, tag: string | null): string =>
    tag === null
      ? `${this.prefix}:pop:${version}:b:${bucket}`
      : `${this.prefix}:pop:${version}:b:${bucket}:{${tag}}`;
  readonly contacts = (customerId: string): string => `${this.prefix}:contacts:{${customerId}}`;
  readonly contactsRevision = (customerId: string): string => `${this.prefix}:contacts-rev:{${customerId}}`;
  readonly learned = (customerId: string): string => `${this.prefix}:learned:{${customerId}}`;
  readonly identity = (anonymousId: string): string => `${this.prefix}:identity:{${anonymousId}}`;
  readonly identities = (customerId: string): string => `${this.prefix}:identities:{${customerId}}`;
  readonly capsTotal = (): string => `${this.prefix}:caps:total`;
  readonly capsDay = (day: number): string => `${this.prefix}:caps:day:${day}`;
  readonly capsSpend = (): string => `${this.prefix}:caps:spend`;
  readonly events = (): string => `${this.prefix}:events`;
  readonly push = (): string => `${this.prefix}:push`;
  readonly pushStream = (): string => `${this.prefix}:{push}:log`;
  readonly call = (callId: string): string => `${this.prefix}:call:${callId}`;
  readonly phoneBucket = (bucket: number): string => `${this.prefix}:phone:${bucket}`;
  readonly candidates = (): string => `${this.prefix}:candidates`;
  readonly rulesetVersion = (version: string): string => `${this.prefix}:ruleset:${version}`;
  readonly rulesetChannel = (): string => `${this.prefix}:rules`;
  readonly challenger = (): string => `${this.prefix}:challenger`;
  readonly challengerChannel = (): string => `${this.prefix}:challenger-changes`;
  readonly whatIf = (id: string): string => `${this.prefix}:whatif:${id}`;
  readonly feedbackShards = (): string => `${this.prefix}:fb:shards`;
  readonly feedbackLog = (shard: number): string => `${this.prefix}:fb:{${shard}}:log`;
  /** Prefix of the decision records of a shard; the record of decision D is this + D. */
  readonly feedbackDecisionPrefix = (shard: number): string => `${this.prefix}:fb:{${shard}}:d:`;
  readonly feedbackRejected = (shard: number): string => `${this.prefix}:fb:{${shard}}:rejected`;
  readonly feedbackDead = (shard: number): string => `${this.prefix}:fb:{${shard}}:dead`;
  readonly feedbackStats = (shard: number, day: number): string =>
    `${this.prefix}:fb:{${shard}}:stats:${day}`;
  readonly erased = (): string => `${this.prefix}:erased`;
  readonly erasurePepper = (): string => `${this.prefix}:erased:pepper`;
  readonly erasurePepperCheck = (): string => `${this.prefix}:erased:check`;
  readonly erasures = (): string => `${this.prefix}:erasures`;
  readonly triggerEvent = (eventId: string): string => `${this.prefix}:trigger-event:{${eventId}}`;
  readonly adviserOf = (): string => `${this.prefix}:{advisers}:of`;
  /** With '' the prefix of every book's key (the put script builds the others' keys from it). */
  readonly adviserBook = (adviserId: string): string => `${this.prefix}:{advisers}:book:${adviserId}`;
  readonly webhooksDue = (): string => `${this.prefix}:{webhooks}:due`;
  readonly webhookJobs = (): string => `${this.prefix}:{webhooks}:jobs`;
  readonly webhooksDead = (): string => `${this.prefix}:{webhooks}:dead`;
  readonly rateTaken = (): string => `${this.prefix}:{rate-limits}:taken`;
}
