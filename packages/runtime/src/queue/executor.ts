import {
  ConfigError,
  type DestinationAdapter,
  type DestinationLogger,
  silentLogger,
  type ToeflAccessClientOptions,
} from '@scorebridge/core';
import { type Queue, Worker } from 'bullmq';
import { type Clock, systemClock } from '../clock.js';
import type { Pipeline } from '../config/load.js';
import type { RedisConnection as Redis } from '../redis.js';
import { connectRedis } from '../redis.js';
import { createRedisStateStore, type SkippedPipeline } from '../state/redis-store.js';
import type { StateStore } from '../state/store.js';
import { type PipelineChange, type WorkerContext, workerContext } from './context.js';
import { queueControl, type RunProgress } from './control.js';
import { announcer, pruneSchedules, upsertSchedules } from './fleet.js';
import { type Health, sleep, workerHealth } from './health.js';
import { createCommitProcessor } from './jobs/commit.js';
import { createDeliverProcessor, WORKER_NAME } from './jobs/deliver.js';
import { createFetchProcessor } from './jobs/fetch.js';
import { createRunProcessor } from './jobs/run.js';
import { workerMetrics } from './metrics.js';
import { checkRedis } from './redis-checks.js';
import { type DataKey, sealer } from './sealed.js';
import { bullPrefix, QUEUES } from './topology.js';
import { drainLegacyQueues } from './upgrade.js';

export { durationMs } from './fleet.js';
export type { Health } from './health.js';
export type { RunJobData, RunOutcome, RunStarted } from './payloads.js';

/** Options of {@link startWorkers}. */
export interface WorkerModeOptions {
  readonly redisUrl: string;
  /** The hash-tagged prefix of every key (see `redisPrefix`). */
  readonly prefix: string;
  readonly pipelines: readonly Pipeline[];
  /**
   * Pipeline files this worker could not load (their secrets are not set here, say): announced,
   * so `status` lists them, and their schedules are left alone.
   */
  readonly skipped?: readonly SkippedPipeline[];
  readonly adapters: readonly DestinationAdapter[];
  /** From SCOREBRIDGE_DATA_KEY: records staged in Redis are sealed with the first. */
  readonly keys: readonly DataKey[];
  /** Deliveries at once per destination in this process (else the pipeline's, else 2). */
  readonly concurrency?: number;
  /**
   * Deliveries at once in this process, all destinations together. @default the sum of the
   * destinations' own, at most 16
   */
  readonly deliveries?: number;
  /** A job's lock; a job whose worker died is taken over after about this long. @default 30000 */
  readonly lockMs?: number;
  /** How long finished jobs are kept. @default { completed: 3600, failed: 7 days } */
  readonly keepSeconds?: { readonly completed: number; readonly failed: number };
  /** Health: waiting work with no job started or finished for this long is "stalled". @default 300000 */
  readonly staleMs?: number;
  readonly logger?: DestinationLogger;
  /** Client settings to override (tests shorten retries). */
  readonly client?: Partial<ToeflAccessClientOptions>;
  /**
   * The time scheduled runs end their windows at, and runs, alerts and cursor ages are dated by
   * (tests fix it; BullMQ's timers keep real time). @default the system clock
   */
  readonly clock?: Clock;
}

/** A running set of workers. */
export interface WorkerHandle {
  /** Whether jobs are flowing (see {@link Health}). */
  health(): Promise<Health>;
  /**
   * Stops taking jobs, lets those in hand finish, and returns within `budgetMs`: jobs still
   * running then are let go of (their locks lapse and another worker, or this one restarted,
   * takes them over).
   */
  close(budgetMs: number): Promise<{ forced: boolean }>;
  /** Warnings from the start-up checks. */
  readonly warnings: readonly string[];
  readonly redisVersion: string;
  /** Prometheus metrics in the text exposition format. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The BullMQ workers, for an application that embeds worker mode (and for tests). */
  readonly workers: readonly Worker[];
  /** The queues these workers take jobs from (for a dashboard). */
  readonly queues: readonly Queue[];
  /** The state store the workers use. */
  readonly store: StateStore;
  /** The pipeline's run in flight, with where it stands (for a dashboard), or undefined. */
  runInProgress(pipeline: string): Promise<(RunProgress & { runId: string }) | undefined>;
  /**
   * Serves another set of pipelines without a restart (the pipeline files changed): schedules of
   * new and changed pipelines are upserted, and those of pipelines gone from the files (neither
   * served nor skipped) removed.
   */
  reload(
    pipelines: readonly Pipeline[],
    adapters: readonly DestinationAdapter[],
    skipped: readonly SkippedPipeline[],
  ): Promise<PipelineChange & { unscheduled: string[] }>;
  /** What this worker skipped, as last loaded. */
  skipped(): readonly SkippedPipeline[];
}

/**
 * Starts worker mode: checks Redis, upserts each pipeline's job scheduler, and runs workers for
 * the run, fetch and commit queues and for each destination's delivery queue. A run is a flow:
 *
 * ```
 * commit (parent: moves each destination's cursor over the slices it confirmed, records the run)
 * ├─ fetch slice 0 ──┐  adds, as further children of commit, sealed delivery jobs
 * ├─ fetch slice 1   ├─ deliver.<pipeline>.<destination>  (per-destination queue, rate limit)
 * └─ …              ─┘
 * ```
 *
 * Each job has its processor (`./jobs/`), built on the stages the inline runner uses (`../run/`).
 * BullMQ gives at-least-once: a job whose worker died runs again. Nothing is delivered twice
 * for that: each record is claimed by one delivery job per run, confirmed versions are skipped,
 * and a batch announced (intent) but not settled is settled by asking the destination.
 */
export async function startWorkers(options: WorkerModeOptions): Promise<WorkerHandle> {
  const log = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  const errors = redisErrors(log);
  const redis = await connectRedis(options.redisUrl, { onError: errors.report });
  redis.on('ready', errors.ready);
  const report = await checkRedis(redis);
  if (report.problems.length > 0) {
    redis.disconnect();
    throw new ConfigError(`Redis is not fit for worker mode:\n- ${report.problems.join('\n- ')}`);
  }
  const { prefix } = options;
  const store = createRedisStateStore(redis, { prefix });
  const workers: Worker[] = [];
  const ctx = workerContext({
    redis,
    prefix,
    store,
    pipelines: options.pipelines,
    adapters: options.adapters,
    seal: sealer(options.keys),
    log,
    clock,
    keep: options.keepSeconds ?? { completed: 3600, failed: 7 * 86_400 },
    client: options.client,
    metrics: metricsOf(
      () => ctx,
      () => workers,
    ),
    onError: errors.report,
  });
  await upsertSchedules(
    ctx,
    ctx.pipelines.map((p) => p.name),
  );
  const unscheduled = await pruneSchedules(ctx, options.skipped ?? []);
  if (unscheduled.length > 0)
    log.info(
      `removed the schedules of pipelines no file names any more: ${unscheduled.join(', ')}`,
    );
  const fleet = announcer(ctx, WORKER_NAME, options.skipped ?? []);
  await fleet.announce();
  const health = workerHealth({
    redis,
    workers,
    queue: ctx.queue,
    pipelines: () => ctx.pipelines,
    staleMs: options.staleMs ?? 300_000,
    workerName: WORKER_NAME,
  });
  const lockMs = options.lockMs ?? 30_000;
  const common = {
    connection: redis,
    prefix: bullPrefix(prefix),
    name: WORKER_NAME,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: 5,
    // An idle worker blocks this long on its queue's marker before polling again: the 10 s ceiling
    // BullMQ itself keeps for Redis when delayed jobs wait (its default, 5 s, doubles the idle
    // commands). A job added wakes the worker at once, whatever the wait.
    drainDelay: 10,
  };
  const add = (w: Worker) => {
    health.track(w);
    w.on('failed', (job, error) => {
      if (job) log.warn(`${w.name}: job ${job.id} failed: ${error.message}`);
    });
    w.on('error', errors.report);
    workers.push(w);
    return () => {
      workers.splice(workers.indexOf(w), 1);
    };
  };
  add(new Worker(QUEUES.run, createRunProcessor(ctx), { ...common, concurrency: 1 }));
  add(new Worker(QUEUES.fetch, createFetchProcessor(ctx), { ...common, concurrency: 2 }));
  add(new Worker(QUEUES.commit, createCommitProcessor(ctx), { ...common, concurrency: 1 }));
  const deliveries = () => options.deliveries ?? deliverySlots(ctx, options.concurrency);
  const delivering = createDeliverProcessor(ctx, { perDestination: options.concurrency });
  const deliver = new Worker(QUEUES.deliver, delivering, { ...common, concurrency: deliveries() });
  add(deliver);
  await drainLegacyQueues(ctx, {
    redis,
    prefix,
    worker: common,
    processor: delivering,
    log,
    track: add,
  });
  const handle = handleOf({ ctx, redis, prefix, report, workers, health, errors, fleet });
  return {
    ...handle,
    async reload(pipelines, adapters, skipped) {
      const change = ctx.serve(pipelines, adapters);
      await upsertSchedules(ctx, [...change.added, ...change.changed]);
      deliver.concurrency = deliveries();
      await fleet.update(skipped);
      return { ...change, unscheduled: await pruneSchedules(ctx, skipped) };
    },
  };
}

/** The sum of the destinations' own delivery concurrency, at most 16 (and at least 1). */
function deliverySlots(ctx: WorkerContext, perDestination: number | undefined): number {
  let sum = 0;
  for (const p of ctx.pipelines)
    sum +=
      p.pipeline.config.destinations.length *
      (perDestination ?? p.pipeline.config.queue?.concurrency ?? 2);
  return Math.max(1, Math.min(16, sum));
}

/** Every connection (ours, and each queue's and worker's) reports a lost Redis: said once. */
function redisErrors(log: DestinationLogger) {
  let last = '';
  let closing = false;
  return {
    report: (error: Error) => {
      if (closing) return;
      if (error.message !== last) log.warn(`redis: ${error.message}`);
      last = error.message;
    },
    ready: () => {
      if (last) log.info('redis: connected again');
      last = '';
    },
    closing: () => {
      closing = true;
    },
  };
}

/** Worker metrics, read when scraped: queue depths, cursor ages, destinations' allowances. */
function metricsOf(ctx: () => WorkerContext, workers: () => readonly Worker[]) {
  return workerMetrics({
    queueDepths: async () =>
      (
        await Promise.all(
          workers().map(async (w) =>
            Object.entries(
              await ctx().queue(w.name).getJobCounts('waiting', 'active', 'delayed', 'failed'),
            ).map(([state, count]) => ({ queue: w.name, state, count })),
          ),
        )
      ).flat(),
    cursorAges: async () => {
      const out: { pipeline: string; destination: string; seconds: number }[] = [];
      for (const p of ctx().pipelines)
        for (const d of p.pipeline.config.destinations) {
          const cursor = await p.store.cursor(p.name, d.id);
          if (cursor)
            out.push({
              pipeline: p.name,
              destination: d.id,
              seconds: (p.clock().getTime() - cursor.getTime()) / 1000,
            });
        }
      return out;
    },
    usage: () =>
      ctx().pipelines.flatMap((p) =>
        p.created().flatMap(({ config, destination }) => {
          const usage = destination.usage?.();
          return usage
            ? [{ pipeline: p.name, destination: config.id, type: config.type, ...usage }]
            : [];
        }),
      ),
  });
}

/** The handle `startWorkers` returns: health, metrics, the run in progress, and closing. */
function handleOf(args: {
  ctx: WorkerContext;
  redis: Redis;
  prefix: string;
  report: Awaited<ReturnType<typeof checkRedis>>;
  workers: Worker[];
  health: ReturnType<typeof workerHealth>;
  errors: ReturnType<typeof redisErrors>;
  fleet: ReturnType<typeof announcer>;
}): Omit<WorkerHandle, 'reload'> {
  const { ctx, redis, workers } = args;
  let control: ReturnType<typeof queueControl> | undefined;
  return {
    warnings: args.report.warnings,
    redisVersion: args.report.version,
    workers,
    queues: workers.map((w) => ctx.queue(w.name)),
    store: ctx.store,
    health: args.health.health,
    skipped: args.fleet.skipped,
    async runInProgress(pipeline) {
      const runId = await ctx.store.runSlot(pipeline);
      if (!runId || (await ctx.runIsOver(runId))) return undefined;
      control ??= queueControl(redis, args.prefix);
      const progress = await control.progress(runId);
      return progress.state === 'running' || progress.state === 'queued'
        ? { runId, ...progress }
        : undefined;
    },
    async metrics() {
      const { registry } = ctx.metrics;
      return { contentType: registry.contentType, body: await registry.metrics() };
    },
    async close(budgetMs) {
      args.errors.closing();
      await control?.close();
      args.health.stop();
      args.fleet.stop();
      // The whole budget: jobs in hand get most of it, letting go of the rest the remainder.
      const deadline = Date.now() + budgetMs;
      const left = () => Math.max(0, deadline - Date.now());
      const graceful = Promise.all(workers.map((w) => w.close())).then(() => false);
      const forced = await Promise.race([
        graceful,
        sleep(budgetMs - Math.min(1500, budgetMs / 3)).then(() => true),
      ]);
      if (forced)
        await Promise.race([Promise.all(workers.map((w) => w.close(true))), sleep(left() / 2)]);
      await Promise.race([ctx.close(), sleep(left())]);
      redis.disconnect();
      return { forced };
    },
  };
}
