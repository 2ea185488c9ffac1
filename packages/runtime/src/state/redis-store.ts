import { randomBytes } from 'node:crypto';
import { ConfigError } from '@scorebridge/core';
import type { Redis } from 'ioredis';
import { bullPrefix, commitJobId, QUEUES, RUN_SLOT_SECONDS } from '../queue/topology.js';
import { connectRedis } from '../redis.js';
import {
  type DeadLetter,
  type DeliveryIntent,
  decodeAt,
  encodeAt,
  type Incident,
  oldestFirst,
  type RecordVersion,
  type RunRecord,
  type StateStore,
} from './store.js';

/** Options of {@link createRedisStateStore}. */
export interface RedisStateOptions {
  /**
   * Prefix of every key. It is hash-tagged (`{scorebridge}`) so that a pipeline's keys live in one
   * Redis Cluster slot. @default '{scorebridge}'
   */
  prefix?: string;
  /** How long a run lock lasts unless renewed; it is renewed while held. @default 60000 */
  lockMs?: number;
  /** Runs kept per pipeline. @default 100 */
  keepRuns?: number;
}

/**
 * Keeps record versions: per key (a hash field) one line per version, `hash digest at [class]`;
 * a line whose hash is given again is replaced. One script, so concurrent jobs lose no version.
 */
const KEEP_VERSIONS = `
for i = 1, #ARGV, 3 do
  local field, prefix, entry = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local current = redis.call('HGET', KEYS[1], field)
  local out, found = {}, false
  if current then
    for line in string.gmatch(current, '[^\\n]+') do
      if string.sub(line, 1, #prefix) == prefix then
        out[#out + 1] = entry
        found = true
      else
        out[#out + 1] = line
      end
    end
  end
  if not found then out[#out + 1] = entry end
  redis.call('HSET', KEYS[1], field, table.concat(out, '\\n'))
end
return 1`;

/** The Redis store: the {@link StateStore} contract, and a ledger lookup that loads nothing. */
export interface RedisStateStore extends StateStore {
  /** For each content hash, whether the destination confirmed it (one SMISMEMBER). */
  held(pipeline: string, destination: string, hashes: readonly string[]): Promise<boolean[]>;
}

/** Deletes the lock only if it is still ours (another run may hold it after an expiry). */
const RELEASE = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('del', KEYS[1]) else return 0 end`;
/**
 * Takes an incident (KEYS[1] hash, field ARGV[1]) unless it was notified after ARGV[3]: ISO 8601
 * UTC timestamps of one length compare as strings. Stores ARGV[2], keeping the open one's openedAt.
 */
const CLAIM_INCIDENT = `
local current = redis.call('HGET', KEYS[1], ARGV[1])
local incident = cjson.decode(ARGV[2])
if current then
  local open = cjson.decode(current)
  if open.notifiedAt > ARGV[3] then return {0, current} end
  incident.openedAt = open.openedAt
end
redis.call('HSET', KEYS[1], ARGV[1], cjson.encode(incident))
return {1, current or ''}`;
/** Extends the lock only if it is still ours. */
const RENEW = `if redis.call('get', KEYS[1]) == ARGV[1] then return redis.call('pexpire', KEYS[1], ARGV[2]) else return 0 end`;

/**
 * State in Redis, for worker mode and for several machines sharing one state: the same contract
 * as the file store. Cursors and intents are hashes, ledgers sets of content hashes, dead letters
 * a hash by id, runs a capped list, the run lock a key with an owner token and an expiry that is
 * renewed while held. Keys, hashes, windows and reasons only: no personal data, no secrets.
 * The caller owns the connection (and closes it).
 */
export function createRedisStateStore(
  redis: Redis,
  options: RedisStateOptions = {},
): RedisStateStore {
  const prefix = options.prefix ?? '{scorebridge}';
  const lockMs = options.lockMs ?? 60_000;
  const key = (pipeline: string, ...parts: string[]) => [prefix, pipeline, ...parts].join(':');

  /**
   * The worker-mode run holding the pipeline's run slot, if it is still going: its commit job
   * exists and has not finished, or the slot was taken in the last minutes and its flow is being
   * added.
   */
  async function workerRun(pipeline: string): Promise<string | undefined> {
    const slot = key(pipeline, 'active-run');
    const [holder, ttl] = await Promise.all([redis.get(slot), redis.pttl(slot)]);
    if (!holder) return undefined;
    const commit = `${bullPrefix(prefix)}:${QUEUES.commit}:${commitJobId(holder)}`;
    const [exists, finished] = await Promise.all([
      redis.exists(commit),
      redis.hexists(commit, 'finishedOn'),
    ]);
    const justTaken = ttl > 0 && RUN_SLOT_SECONDS * 1000 - ttl < 300_000;
    return (exists === 1 && finished === 0) || (exists === 0 && justTaken) ? holder : undefined;
  }

  return {
    async cursor(pipeline, destination) {
      const at = await redis.hget(key(pipeline, 'cursors'), destination);
      return at ? new Date(at) : undefined;
    },
    async setCursor(pipeline, destination, at) {
      await redis.hset(key(pipeline, 'cursors'), destination, at.toISOString());
    },
    async ledger(pipeline, destination) {
      const hashes = new Set<string>();
      const stream = redis.sscanStream(key(pipeline, 'ledger', destination), { count: 1000 });
      for await (const batch of stream) for (const h of batch as string[]) hashes.add(h);
      return hashes;
    },
    async held(pipeline, destination, hashes) {
      if (hashes.length === 0) return [];
      const flags = await redis.smismember(key(pipeline, 'ledger', destination), ...hashes);
      return flags.map((f) => f === 1);
    },
    async versions(pipeline, keys) {
      if (keys.length === 0) return [];
      const values = await redis.hmget(key(pipeline, 'versions'), ...keys);
      return values.map((v, i) =>
        (v ?? '')
          .split('\n')
          .filter(Boolean)
          .map((line) => {
            const [contentHash, digest, at, update] = line.split(' ');
            return {
              recordKey: keys[i]!,
              contentHash: contentHash!,
              digest: digest!,
              ...decodeAt(at!),
              ...(update ? { update: update as RecordVersion['update'] } : {}),
            };
          }),
      );
    },
    async versionsOf(pipeline, appointmentNumber) {
      const number = appointmentNumber.replace(/[\s*?[\]\\]+/g, '');
      const keys: string[] = [];
      const stream = redis.hscanStream(key(pipeline, 'versions'), {
        match: `*|${number}|*`,
        count: 1000,
      });
      for await (const batch of stream) {
        const pairs = batch as string[];
        for (let i = 0; i < pairs.length; i += 2)
          if (pairs[i]!.split('|')[2] === number) keys.push(pairs[i]!);
      }
      return (await this.versions(pipeline, keys)).flat();
    },
    async recordVersions(pipeline, versions) {
      if (versions.length === 0) return;
      await redis.eval(
        KEEP_VERSIONS,
        1,
        key(pipeline, 'versions'),
        ...versions.flatMap((v) => [
          v.recordKey,
          `${v.contentHash} `,
          `${v.contentHash} ${v.digest} ${encodeAt(v)}${v.update ? ` ${v.update}` : ''}`,
        ]),
      );
    },
    async confirm(pipeline, destination, entries) {
      if (entries.length > 0)
        await redis.sadd(key(pipeline, 'ledger', destination), ...entries.map(([, h]) => h));
    },
    async addIntent(pipeline, destination, intent) {
      await redis.hset(
        key(pipeline, 'intents', destination),
        intent.batchId,
        JSON.stringify(intent),
      );
    },
    async clearIntent(pipeline, destination, batchId) {
      await redis.hdel(key(pipeline, 'intents', destination), batchId);
    },
    async intents(pipeline, destination) {
      return (await redis.hvals(key(pipeline, 'intents', destination))).map(
        (v) => JSON.parse(v) as DeliveryIntent,
      );
    },
    async addDeadLetters(pipeline, letters) {
      if (letters.length === 0) return 0;
      // HSETNX: a dead letter filed again keeps its first filing (and answers 0).
      const multi = redis.multi();
      for (const l of letters) multi.hsetnx(key(pipeline, 'dead-letters'), l.id, JSON.stringify(l));
      const results = (await multi.exec()) ?? [];
      return results.reduce((n, [error, added]) => (error ? n : n + Number(added)), 0);
    },
    async deadLetters(pipeline) {
      const letters = (await redis.hvals(key(pipeline, 'dead-letters'))).map(
        (v) => JSON.parse(v) as DeadLetter,
      );
      return letters.sort(oldestFirst);
    },
    async resolveDeadLetters(pipeline, ids) {
      if (ids.length > 0) await redis.hdel(key(pipeline, 'dead-letters'), ...ids);
    },
    async incidents(pipeline) {
      const all = await redis.hgetall(key(pipeline, 'incidents'));
      return Object.fromEntries(
        Object.entries(all).map(([k, v]) => [k, JSON.parse(v) as Incident]),
      );
    },
    async setIncident(pipeline, name, incident) {
      if (incident) await redis.hset(key(pipeline, 'incidents'), name, JSON.stringify(incident));
      else await redis.hdel(key(pipeline, 'incidents'), name);
    },
    async claimIncident(pipeline, name, incident, notifiedBy) {
      const [claimed, previous] = (await redis.eval(
        CLAIM_INCIDENT,
        1,
        key(pipeline, 'incidents'),
        name,
        JSON.stringify(incident),
        notifiedBy.toISOString(),
      )) as [number, string];
      return {
        claimed: claimed === 1,
        ...(previous ? { previous: JSON.parse(previous) as Incident } : {}),
      };
    },
    async recordRun(pipeline, run) {
      await redis
        .multi()
        .rpush(key(pipeline, 'runs'), JSON.stringify(run))
        .ltrim(key(pipeline, 'runs'), -(options.keepRuns ?? 100), -1)
        .exec();
    },
    async runs(pipeline, limit = 20) {
      return (await redis.lrange(key(pipeline, 'runs'), -limit, -1)).map(
        (v) => JSON.parse(v) as RunRecord,
      );
    },
    async lock(pipeline) {
      const lock = key(pipeline, 'lock');
      const token = `${process.pid}:${randomBytes(8).toString('hex')}`;
      if ((await redis.set(lock, token, 'PX', lockMs, 'NX')) !== 'OK') {
        const holder = await redis.get(lock);
        throw new ConfigError(
          `pipeline ${pipeline} is being run elsewhere (lock held by ${holder?.split(':')[0] ?? 'another process'}, expires within ${Math.round(lockMs / 1000)} s if that run died)`,
        );
      }
      // One run of a pipeline at a time in both modes: workers take no run slot while this lock
      // is held, and a worker run already going keeps this run from starting. (Lock first, then
      // look: a worker taking the slot meanwhile either sees the lock or is seen here.)
      const run = await workerRun(pipeline);
      if (run) {
        await redis.eval(RELEASE, 1, lock, token);
        throw new ConfigError(
          `pipeline ${pipeline} has a worker-mode run going (${run}); wait for it to finish (scorebridge status shows its progress), or run it from the workers only`,
        );
      }
      const renew = setInterval(
        () => {
          redis.eval(RENEW, 1, lock, token, String(lockMs)).catch(() => undefined);
        },
        Math.max(1000, Math.floor(lockMs / 3)),
      );
      renew.unref();
      return async () => {
        clearInterval(renew);
        await redis.eval(RELEASE, 1, lock, token);
      };
    },
  };
}

/**
 * Connects to Redis and returns a state store on it, with the connection (for queue counts) and
 * the function that closes it. Errors name the server without its credentials.
 */
export async function openRedisStateStore(
  url: string,
  options: RedisStateOptions = {},
): Promise<{ store: RedisStateStore; redis: Redis; close(): Promise<void> }> {
  const redis = await connectRedis(url, { failFast: true });
  return {
    store: createRedisStateStore(redis, options),
    redis,
    close: async () => redis.disconnect(),
  };
}
