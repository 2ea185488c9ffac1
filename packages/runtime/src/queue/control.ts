import { randomBytes } from 'node:crypto';
import { Job, Queue } from 'bullmq';
import type { RedisConnection as Redis } from '../redis.js';
import { createRedisStateStore } from '../state/redis-store.js';
import type { RunJobData, RunOutcome, RunStarted } from './payloads.js';
import { bullPrefix, commitJobId, parseJobId, QUEUES, runIdOf, schedulerId } from './topology.js';

/**
 * What commands other than `worker` do with the queues: ask for a backfill and follow it, and
 * count what waits. They need no data key: nothing they read or write holds records.
 */
export function queueControl(redis: Redis, prefix: string) {
  const opened: Queue[] = [];
  const queue = (name: string) => {
    const q = new Queue(name, { connection: redis, prefix: bullPrefix(prefix) });
    q.on('error', () => undefined); // a lost Redis shows in the calls, which wait for it
    opened.push(q);
    return q;
  };
  const run = queue(QUEUES.run);
  const commit = queue(QUEUES.commit);
  const enqueue = async (kind: string, data: RunJobData) => {
    const jobId = `${kind}.${data.pipeline}.${Date.now()}.${randomBytes(4).toString('hex')}`;
    await run.add('run', data, {
      jobId,
      removeOnComplete: { age: 86_400 },
      removeOnFail: { age: 7 * 86_400 },
    });
    return { runId: runIdOf(data.pipeline, jobId), jobId };
  };

  return {
    /** Asks the workers for a backfill of [from, to]; it waits for a run in flight to finish. */
    enqueueBackfill: (pipeline: string, from: Date, to: Date) =>
      enqueue('backfill', {
        pipeline,
        from: from.toISOString(),
        to: to.toISOString(),
        backfill: true,
      }),

    /**
     * Asks the workers for a regular run now, as the pipeline's schedule would: its window ends
     * now, and each destination's cursor moves over what it confirmed. Skipped (as a tick is)
     * while another run of the pipeline is going.
     */
    enqueueRun: (pipeline: string) => enqueue('now', { pipeline }),

    /** The answer of a run job: the run it started, or why it was skipped (undefined: not yet run). */
    async runStarted(jobId: string): Promise<RunStarted | undefined> {
      const job = await run.getJob(jobId);
      return job && (await job.isCompleted()) ? (job.returnvalue as RunStarted) : undefined;
    },

    /** Where a run stands. */
    progress: (runId: string) => progressOf(commit, runId),

    /**
     * Cancels a run: its fetch and delivery jobs not yet done stage and deliver nothing, and it
     * ends recorded as interrupted. What was delivered stays delivered (and in the ledgers).
     */
    async cancel(pipeline: string, runId: string): Promise<void> {
      await createRedisStateStore(redis, { prefix }).cancelRun(pipeline, runId, 7 * 86_400);
    },

    /** Why the run job `jobId` failed, when it did (e.g. no worker knows the pipeline). */
    async runJobFailure(jobId: string): Promise<string | undefined> {
      const job = await run.getJob(jobId);
      return job && (await job.isFailed()) ? job.failedReason : undefined;
    },

    /** Jobs per queue and state (the queues every pipeline shares), for `status`. */
    async counts() {
      return Promise.all(
        Object.values(QUEUES).map(async (name) => {
          const c = await queue(name).getJobCounts('waiting', 'active', 'delayed', 'failed');
          return {
            queue: name,
            waiting: c.waiting ?? 0,
            active: c.active ?? 0,
            delayed: c.delayed ?? 0,
            failed: c.failed ?? 0,
          };
        }),
      );
    },

    /** The worker processes on this Redis, as each last announced itself. */
    workers: () => createRedisStateStore(redis, { prefix }).workers(),

    /** How long a destination's deliveries are still paused, in ms (0: not paused). */
    paused: (pipeline: string, destination: string) =>
      createRedisStateStore(redis, { prefix }).deliveriesPaused(pipeline, destination),

    /** Every pipeline's job scheduler in this Redis: its pipeline and when it next fires. */
    async schedules(): Promise<
      { pipeline: string; every?: number; cron?: string; next?: string }[]
    > {
      const all = await run.getJobSchedulers(0, -1, true);
      return all
        .filter((j) => j.key.startsWith(schedulerId('')))
        .map((j) => ({
          pipeline: j.key.slice(schedulerId('').length),
          ...(j.every ? { every: Number(j.every) } : {}),
          ...(j.pattern ? { cron: j.pattern } : {}),
          ...(j.next ? { next: new Date(j.next).toISOString() } : {}),
        }));
    },

    /**
     * Removes a retired pipeline's job scheduler (runs already queued are not touched). A worker
     * still given the pipeline's file upserts it again when it starts. Resolves to whether one
     * existed.
     */
    async removeSchedule(pipeline: string): Promise<boolean> {
      return run.removeJobScheduler(schedulerId(pipeline));
    },

    async close() {
      await Promise.allSettled(opened.map((q) => q.close()));
    },
  };
}

/** A run's progress: its flow's jobs (fetches and deliveries) done, failed and in all. */
export interface RunProgress {
  readonly state: 'queued' | 'running' | 'done' | 'failed';
  readonly done: number;
  readonly failed: number;
  readonly total: number;
  /** Slices the run fetches (known once it is planned) and how many are fetched. */
  readonly slices: number;
  readonly fetched: number;
  readonly outcome?: RunOutcome;
  readonly reason?: string;
}

/** Where a run stands: its commit job's state and its children. */
async function progressOf(commit: Queue, runId: string): Promise<RunProgress> {
  const parent = await Job.fromId(commit, commitJobId(runId));
  if (!parent) return { state: 'queued', done: 0, failed: 0, total: 0, slices: 0, fetched: 0 };
  const state = await parent.getState();
  const counts = await parent.getDependenciesCount();
  const done = counts.processed ?? 0;
  const failed = (counts.ignored ?? 0) + (counts.failed ?? 0);
  const total = done + failed + (counts.unprocessed ?? 0);
  // The slices are known once planned (a fixed total); deliveries are added as they are fetched.
  const slices = (parent.data as { slices?: unknown[] }).slices?.length ?? 0;
  const deps = await parent.getDependencies({ processed: { count: 10_000 } });
  const fetched = Object.keys(deps.processed ?? {}).filter(
    (key) => parseJobId(key)?.kind === 'fetch',
  ).length;
  const shape = { done, failed, total, slices, fetched };
  // The job was read before its state: it may have finished in between, so what it returned
  // (or why it failed) is read again now that the state says it is over.
  const over = state === 'completed' || state === 'failed';
  const finished = over ? ((await Job.fromId(commit, commitJobId(runId))) ?? parent) : parent;
  if (state === 'completed')
    return { state: 'done', ...shape, outcome: finished.returnvalue as RunOutcome };
  if (state === 'failed') return { state: 'failed', ...shape, reason: finished.failedReason };
  return { state: 'running', ...shape };
}
