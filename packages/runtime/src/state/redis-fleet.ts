import { ADMIT, PAUSE } from './redis-scripts.js';
import type { At, RedisStateStore } from './redis-store.js';

/** What a worker process serves, as it last said (`announceWorker`). */
export interface WorkerInfo {
  /** `host:pid`. */
  readonly name: string;
  readonly startedAt: string;
  readonly at: string;
  /** The pipelines it serves, by name. */
  readonly pipelines: readonly string[];
  /** Pipeline files it could not load, and why (no secret values: what is missing). */
  readonly skipped: readonly SkippedPipeline[];
}

/** A pipeline file a worker could not load. */
export interface SkippedPipeline {
  readonly file: string;
  /** Its name, when the file could be read that far. */
  readonly pipeline?: string;
  readonly problems: readonly string[];
}

/** What the fleet of workers shares: the delivery gates (see `ADMIT`), and who is serving. */
export function fleetState({
  redis,
  key,
  prefix,
}: At): Pick<
  RedisStateStore,
  'admit' | 'pauseDeliveries' | 'deliveriesPaused' | 'announceWorker' | 'workers'
> {
  const roll = `${prefix}:workers`;
  const entry = (name: string) => `${prefix}:worker:${name}`;
  return {
    async announceWorker(name, info, seconds) {
      await redis
        .multi()
        .set(entry(name), JSON.stringify(info), 'EX', seconds)
        .sadd(roll, name)
        .exec();
    },
    async workers() {
      const names = await redis.smembers(roll);
      if (names.length === 0) return [];
      const values = await redis.mget(...names.map(entry));
      const gone = names.filter((_, i) => values[i] === null);
      if (gone.length > 0) await redis.srem(roll, ...gone);
      return values.flatMap((v) => (v ? [JSON.parse(v) as WorkerInfo] : []));
    },
    async admit(pipeline, destination, job, rate) {
      const [wait, at] = (await redis.eval(
        ADMIT,
        3,
        key(pipeline, 'gate', destination, 'paused'),
        key(pipeline, 'gate', destination, 'reserved'),
        key(pipeline, 'gate', destination, 'admitted'),
        job,
        String(rate?.max ?? 0),
        String((rate?.perSeconds ?? 0) * 1000),
      )) as [number, number];
      return { wait, at };
    },
    async pauseDeliveries(pipeline, destination, ms) {
      await redis.eval(PAUSE, 1, key(pipeline, 'gate', destination, 'paused'), String(ms));
    },
    async deliveriesPaused(pipeline, destination) {
      return Math.max(0, await redis.pttl(key(pipeline, 'gate', destination, 'paused')));
    },
  };
}
