import { planSlices, type Slice } from '@scorebridge/core';
import { DelayedError, type Job } from 'bullmq';
import { planWindow } from '../../run/plan.js';
import type { WorkerContext } from '../context.js';
import type {
  CommitJobData,
  DeliverJobData,
  FetchJobData,
  RunJobData,
  RunStarted,
} from '../payloads.js';
import { commitJobId, QUEUES, RUN_SLOT_SECONDS, runIdOf } from '../topology.js';

const DAY_S = 86_400;
const iso = (s: Slice) => ({ from: s.from.toISOString(), to: s.to.toISOString() });

/**
 * The run job (a schedule's tick, or a backfill): takes the pipeline's run slot, plans the window
 * from the cursors and adds the run's flow — a commit job whose children are a fetch per slice
 * and a resend per batch an earlier run left unsettled.
 */
export function createRunProcessor(ctx: WorkerContext) {
  return async (job: Job<RunJobData>): Promise<RunStarted> => {
    const p = ctx.pipeline(job.data.pipeline);
    const { name } = p;
    const runId = runIdOf(name, job.id!);
    // One run of a pipeline at a time, in either mode: two would deliver the same records side by side.
    const holder = await ctx.store.runSlot(name);
    const over =
      holder &&
      holder !== runId &&
      ((await ctx.runIsOver(holder)) || (await abandonLost(ctx, name, holder)))
        ? holder
        : undefined;
    const slot = await ctx.store.takeRunSlot(name, runId, { seconds: RUN_SLOT_SECONDS, over });
    if (!slot.taken) {
      const going =
        slot.holder === 'inline' ? 'an inline run (scorebridge run)' : `run ${slot.holder}`;
      if (!job.data.backfill) {
        ctx.log.info(`${name}: ${going} is still going; this tick is skipped`);
        return { runId, slices: 0, skipped: `${going} is still going` };
      }
      // A backfill waits its turn.
      await job.moveToDelayed(Date.now() + 5000, job.token);
      throw new DelayedError();
    }
    const config = p.pipeline.config;
    const cursors = await Promise.all(config.destinations.map((d) => ctx.store.cursor(name, d.id)));
    const window = planWindow(
      config,
      cursors,
      ctx.clock(),
      job.data.from ? new Date(job.data.from) : undefined,
      job.data.to ? new Date(job.data.to) : undefined,
    );
    if (!window) {
      await ctx.store.releaseRunSlot(name, runId);
      return { runId, slices: 0 };
    }
    const slices = planSlices(window.from, window.to, config.source.maxWindowDays);
    await addRunFlow(ctx, job, runId, window, slices);
    ctx.log.info(`${name}: run ${runId} started: ${slices.length} slice(s)`, iso(window));
    return { runId, slices: slices.length };
  };
}

/**
 * A run that can never finish: its commit waits for children none of which exist any more (a
 * Redis failover to a replica that lacked them: replication is asynchronous). It is abandoned —
 * its commit job removed, so the run holding the slot is over — and this run carries on: it
 * plans from the cursors, which that run never moved, and the ledgers and intents keep anything
 * from being delivered twice. Resolves to whether it was abandoned.
 */
async function abandonLost(ctx: WorkerContext, pipeline: string, runId: string): Promise<boolean> {
  const commit = await ctx.queue(QUEUES.commit).getJob(commitJobId(runId));
  if (!commit || (await commit.getState()) !== 'waiting-children') return false;
  const { unprocessed = 0 } = await commit.getDependenciesCount({ unprocessed: true });
  if (unprocessed === 0 || unprocessed > 1000) return false;
  const { unprocessed: keys = [] } = await commit.getDependencies({
    unprocessed: { count: 1000 },
  });
  for (const key of keys) {
    // `<prefix>:<queue>:<job id>`: queue names and job ids hold no colon.
    const id = key.slice(key.lastIndexOf(':') + 1);
    const queue = key.slice(0, key.lastIndexOf(':'));
    const name = queue.slice(queue.lastIndexOf(':') + 1);
    if (await ctx.queue(name).getJob(id)) return false;
  }
  ctx.log.warn(
    `${pipeline}: run ${runId} can never finish: the ${unprocessed} job(s) it waits for are gone from Redis (a failover that lost writes?); it is abandoned, and this run carries on from the cursors`,
    { event: 'run-abandoned' },
  );
  await commit.remove();
  return true;
}

/**
 * Batches an earlier run left unsettled are re-sent first, as they were; the run's own
 * deliveries wait behind a barrier until those and every fetch are done, so that each delivery
 * knows every version the run read (one version per key, the newest).
 */
async function addRunFlow(
  ctx: WorkerContext,
  job: Job<RunJobData>,
  runId: string,
  window: Slice,
  slices: readonly Slice[],
): Promise<void> {
  const p = ctx.pipeline(job.data.pipeline);
  const { name } = p;
  const resends = (
    await Promise.all(
      p.pipeline.config.destinations.map(async (d) =>
        (await ctx.store.intents(name, d.id)).map((intent) => ({ d, intent })),
      ),
    )
  ).flat();
  const fetchIds = slices.map((_, index) => `${runId}.fetch.${index}`);
  const resendIds = resends.map(({ d, intent }) => `${runId}.d.${d.id}.p.${intent.batchId}`);
  await ctx.store.addToBarrier(
    name,
    runId,
    [
      ...fetchIds.map((id) => `${QUEUES.fetch}|${id}`),
      ...resendIds.map((id) => `${QUEUES.deliver}|${id}`),
    ],
    7 * DAY_S,
  );
  const child = { ignoreDependencyOnFailure: true, ...ctx.retention, ...ctx.retries(p) };
  await ctx.flows.add({
    name: 'commit',
    queueName: QUEUES.commit,
    data: {
      pipeline: name,
      runId,
      window: iso(window),
      slices: slices.map(iso),
      backfill: job.data.backfill ?? false,
      startedAt: ctx.clock().toISOString(),
    } satisfies CommitJobData,
    opts: { jobId: commitJobId(runId), ...ctx.retention, ...ctx.retries(p) },
    children: [
      ...resends.map(({ d, intent }, i) => ({
        name: 'deliver',
        queueName: QUEUES.deliver,
        data: {
          pipeline: name,
          destination: d.id,
          index: -1,
          window: intent.window ?? iso(window),
          sealed: '',
          count: intent.entries.length,
          resend: intent.batchId,
        } satisfies DeliverJobData,
        opts: { jobId: resendIds[i]!, ...child },
      })),
      ...slices.map((s, index) => ({
        name: 'fetch',
        queueName: QUEUES.fetch,
        data: { pipeline: name, runId, index, ...iso(s) } satisfies FetchJobData,
        opts: { jobId: fetchIds[index]!, ...child },
      })),
    ],
  });
}
