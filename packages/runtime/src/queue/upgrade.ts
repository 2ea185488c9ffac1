import type { DestinationLogger } from '@scorebridge/core';
import { type Processor, Worker, type WorkerOptions } from 'bullmq';
import type { RedisConnection as Redis } from '../redis.js';
import type { WorkerContext } from './context.js';
import { bullPrefix, legacyDeliverQueue } from './topology.js';

/** The states a job waiting to be done can be in. */
const PENDING = ['wait', 'active', 'delayed', 'prioritized', 'waiting-children'] as const;

/**
 * A rolling upgrade from the release that gave each destination its own delivery queue
 * (`deliver.<pipeline>.<destination>`): delivery jobs an older worker staged there are still
 * done, by a worker on that queue for as long as jobs wait in it; the queue then closes and
 * costs nothing more. Checked once at start-up (one EXISTS per destination).
 */
export async function drainLegacyQueues(
  ctx: WorkerContext,
  options: {
    readonly prefix: string;
    readonly worker: Omit<WorkerOptions, 'concurrency'>;
    readonly processor: Processor;
    readonly log: DestinationLogger;
    /** How often a draining queue is checked for being empty. @default 60000 */
    readonly checkMs?: number;
    readonly redis: Redis;
    /** Takes a worker in (health, errors, closing); the function it returns lets it go again. */
    readonly track: (worker: Worker) => () => void;
  },
): Promise<string[]> {
  const names = ctx.pipelines.flatMap((p) =>
    p.pipeline.config.destinations.map((d) => legacyDeliverQueue(p.name, d.id)),
  );
  if (names.length === 0) return [];
  const meta = names.map((n) => `${bullPrefix(options.prefix)}:${n}:meta`);
  const exists = await Promise.all(meta.map((key) => options.redis.exists(key)));
  const draining: string[] = [];
  for (const [i, name] of names.entries()) {
    if (!exists[i]) continue;
    const counts = await ctx.queue(name).getJobCounts(...PENDING);
    if (Object.values(counts).every((n) => n === 0)) continue;
    draining.push(name);
    const worker = new Worker(name, options.processor, { ...options.worker, concurrency: 1 });
    const untrack = options.track(worker);
    const drained = async () => {
      if (worker.closing) return clearInterval(check);
      const left = await ctx.queue(name).getJobCounts(...PENDING);
      if (Object.values(left).some((n) => n > 0)) return;
      clearInterval(check);
      untrack();
      await worker.close();
      options.log.info(`${name}: the previous release's delivery queue is drained`);
    };
    const check = setInterval(() => {
      drained().catch(() => undefined); // Redis away: checked again next time
    }, options.checkMs ?? 60_000);
    check.unref();
  }
  if (draining.length > 0)
    options.log.info(
      `delivery jobs of the previous release wait in ${draining.join(', ')}: draining them`,
      { event: 'legacy-queues', queues: draining },
    );
  return draining;
}
