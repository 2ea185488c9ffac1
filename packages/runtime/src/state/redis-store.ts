import { randomBytes } from 'node:crypto';
import { ConfigError } from '@scorebridge/core';
import { bullPrefix, commitJobId, QUEUES, RUN_SLOT_SECONDS } from '../queue/topology.js';
import type { RedisConnection as Redis } from '../redis.js';
import { connectRedis } from '../redis.js';
import { fleetState, type WorkerInfo } from './redis-fleet.js';
import {
  CLAIM,
  CLAIM_INCIDENT,
  KEEP_VERSIONS,
  RELEASE,
  RENEW,
  TAKE_SLOT,
} from './redis-scripts.js';

export type { SkippedPipeline, WorkerInfo } from './redis-fleet.js';

import {
  type DeadLetter,
  type DeliveryIntent,
  decodeAt,
  encodeAt,
  type Incident,
  oldestFirst,
  type RecordVersion,
  type RunCoordination,
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

/** The Redis store: the {@link StateStore} contract, and a ledger lookup that loads nothing. */
export interface RedisStateStore extends StateStore {
  /** For each content hash, whether the destination confirmed it (one SMISMEMBER). */
  held(pipeline: string, destination: string, hashes: readonly string[]): Promise<boolean[]>;
  /**
   * Worker mode's gate of a destination's deliveries, one for the whole fleet: whether the job may
   * deliver now (`wait` 0, its admission recorded), or in how many ms it is to come back — the
   * destination's pause left, or the time its rate limit reserved for the job. `at` is Redis's
   * time of the answer.
   */
  admit(
    pipeline: string,
    destination: string,
    job: string,
    rate?: { readonly max: number; readonly perSeconds: number },
  ): Promise<{ wait: number; at: number }>;
  /** Pauses a destination's deliveries for `ms` (unless paused for longer already), fleet-wide. */
  pauseDeliveries(pipeline: string, destination: string, ms: number): Promise<void>;
  /** How long a destination's deliveries are still paused, in ms (0: not paused). */
  deliveriesPaused(pipeline: string, destination: string): Promise<number>;
  /** A worker process says what it serves (and what it skipped), for `seconds`. */
  announceWorker(name: string, info: WorkerInfo, seconds: number): Promise<void>;
  /** The worker processes that announced themselves and have not lapsed. */
  workers(): Promise<WorkerInfo[]>;
}

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
  const key = (pipeline: string, ...parts: string[]) => [prefix, pipeline, ...parts].join(':');
  const at = { redis, key, prefix, options };
  return { ...recordState(at), ...historyState(at), ...runState(at), ...fleetState(at) };
}

/** What every part of the store works with. */
export interface At {
  readonly redis: Redis;
  readonly key: (pipeline: string, ...parts: string[]) => string;
  readonly prefix: string;
  readonly options: RedisStateOptions;
}

/** Cursors, ledgers, versions and intents. */
function recordState({
  redis,
  key,
}: At): Omit<
  RedisStateStore,
  | keyof ReturnType<typeof historyState>
  | keyof ReturnType<typeof runState>
  | keyof ReturnType<typeof fleetState>
> {
  async function versions(pipeline: string, keys: readonly string[]): Promise<RecordVersion[][]> {
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
    versions,
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
      return (await versions(pipeline, keys)).flat();
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
  };
}

/** Dead letters, runs and incidents. */
function historyState({ redis, key, options }: At) {
  return {
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
  } satisfies Partial<StateStore>;
}

/** The run lock of an inline run, and the run slot and marks of worker-mode runs. */
function runState({ redis, key, prefix, options }: At): Pick<StateStore, RunCoordination | 'lock'> {
  const lockMs = options.lockMs ?? 60_000;
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
    async takeRunSlot(pipeline, runId, { seconds, over }) {
      const taken = await redis.eval(
        TAKE_SLOT,
        2,
        key(pipeline, 'active-run'),
        key(pipeline, 'lock'),
        runId,
        String(seconds),
        over ?? '',
      );
      return taken === 1 ? { taken: true } : { taken: false, holder: String(taken) };
    },
    async runSlot(pipeline) {
      return (await redis.get(key(pipeline, 'active-run'))) ?? undefined;
    },
    async releaseRunSlot(pipeline, runId) {
      await redis.eval(RELEASE, 1, key(pipeline, 'active-run'), runId);
    },
    async claim(pipeline, runId, destination, owner, hashes, seconds) {
      if (hashes.length === 0) return [];
      const mine = (await redis.eval(
        CLAIM,
        1,
        key(pipeline, 'claims', runId, destination),
        owner,
        String(seconds),
        ...hashes,
      )) as number[];
      return mine.map((m) => m === 1);
    },
    async addToBarrier(pipeline, runId, members, seconds) {
      if (members.length === 0) return;
      const barrier = key(pipeline, 'barrier', runId);
      await redis
        .multi()
        .sadd(barrier, ...members)
        .expire(barrier, seconds)
        .exec();
    },
    async barrier(pipeline, runId) {
      return redis.smembers(key(pipeline, 'barrier', runId));
    },
    async leaveBarrier(pipeline, runId, members) {
      if (members.length > 0) await redis.srem(key(pipeline, 'barrier', runId), ...members);
    },
    async cancelRun(pipeline, runId, seconds) {
      await redis.set(key(pipeline, 'cancelled', runId), '1', 'EX', seconds);
    },
    async runCancelled(pipeline, runId) {
      return (await redis.exists(key(pipeline, 'cancelled', runId))) === 1;
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
