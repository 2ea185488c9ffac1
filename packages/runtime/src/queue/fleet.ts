import { ConfigError } from '@scorebridge/core';
import type { SkippedPipeline, WorkerInfo } from '../state/redis-store.js';
import type { WorkerContext } from './context.js';
import type { RunJobData } from './payloads.js';
import { QUEUES, schedulerId } from './topology.js';

/**
 * The fleet side of worker mode: each pipeline's job scheduler kept in step with the pipeline
 * files, and each worker process saying what it serves, so `status` can list what was skipped.
 */

/** How long a worker's announcement lasts unless renewed (it is renewed every minute). */
export const ANNOUNCE_SECONDS = 180;

/** The job schedulers of these pipelines, upserted (or removed when one has no schedule). */
export async function upsertSchedules(ctx: WorkerContext, names: readonly string[]): Promise<void> {
  const run = ctx.queue(QUEUES.run);
  for (const name of names) {
    const p = ctx.pipeline(name);
    const { schedule } = p.pipeline.config;
    try {
      if (!schedule) await run.removeJobScheduler(schedulerId(name));
      else
        await run.upsertJobScheduler(
          schedulerId(name),
          schedule.every
            ? { every: durationMs(schedule.every) }
            : { pattern: schedule.cron, tz: 'UTC' },
          { name: 'run', data: { pipeline: name } satisfies RunJobData, opts: ctx.retention },
        );
    } catch (cause) {
      throw new ConfigError(`${p.pipeline.file}: schedule: ${(cause as Error).message}`);
    }
  }
}

/**
 * Removes the job schedulers of pipelines no longer given to the fleet: every scheduler whose
 * pipeline is neither served nor skipped here. Nothing is removed while a skipped file could not
 * be read as far as its name (it might be any of them). Resolves to the pipelines removed.
 */
export async function pruneSchedules(
  ctx: WorkerContext,
  skipped: readonly SkippedPipeline[],
): Promise<string[]> {
  if (skipped.some((s) => !s.pipeline)) return [];
  const known = new Set([...ctx.pipelines.map((p) => p.name), ...skipped.map((s) => s.pipeline!)]);
  const run = ctx.queue(QUEUES.run);
  const removed: string[] = [];
  for (const s of await run.getJobSchedulers(0, -1, true)) {
    if (!s.key.startsWith(schedulerId(''))) continue;
    const name = s.key.slice(schedulerId('').length);
    if (known.has(name)) continue;
    await run.removeJobScheduler(s.key);
    removed.push(name);
  }
  return removed;
}

/** Says, now and every minute, which pipelines this worker serves and which it skipped. */
export function announcer(ctx: WorkerContext, name: string, skipped: readonly SkippedPipeline[]) {
  const startedAt = new Date().toISOString();
  let current = skipped;
  const announce = () => {
    const info: WorkerInfo = {
      name,
      startedAt,
      at: new Date().toISOString(),
      pipelines: ctx.pipelines.map((p) => p.name),
      skipped: current,
    };
    return ctx.store.announceWorker(name, info, ANNOUNCE_SECONDS).catch(() => undefined);
  };
  const timer = setInterval(announce, 60_000);
  timer.unref();
  return {
    announce,
    skipped: () => current,
    /** A reload: the new list of skipped files, announced at once. */
    async update(next: readonly SkippedPipeline[]) {
      current = next;
      await announce();
    },
    stop: () => clearInterval(timer),
  };
}

/** `30m`, `6h`, `1d`, `45s` in milliseconds. */
export function durationMs(text: string): number {
  const n = Number(text.slice(0, -1));
  return (
    n * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[text.at(-1) as 's' | 'm' | 'h' | 'd']
  );
}
