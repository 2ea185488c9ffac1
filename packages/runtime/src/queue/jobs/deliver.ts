import { hostname } from 'node:os';
import { createToeflAccessClient } from '@scorebridge/core';
import { DelayedError, type Job, UnrecoverableError } from 'bullmq';
import type { DestinationConfig } from '../../config/schema.js';
import { batchOf, intentOf, readWindow } from '../../run/batches.js';
import type { PipelineContext } from '../../run/context.js';
import {
  type DeliveryResult,
  deliverAndSettle,
  deliverBatch,
  type Settled,
  settlePending,
} from '../../run/deliver.js';
import { addFresh, type FreshLetters, fileLetters, refusedBy } from '../../run/letters.js';
import { selectForDelivery, settledUpdates } from '../../run/versions.js';
import type { DeadLetter, DeliveryIntent } from '../../state/store.js';
import type { WorkerContext } from '../context.js';
import {
  type DeliverJobData,
  type DeliverResult,
  failureError,
  jobError,
  openRecords,
} from '../payloads.js';
import { parseJobId } from '../topology.js';

/** The worker process, as results name it (`host:pid`). */
export const WORKER_NAME = `${hostname()}:${process.pid}`;

/** A delivery to make: the batch's id, how to send it, and what to count. */
interface Plan {
  readonly batchId: string;
  readonly send: () => Promise<Settled>;
  readonly resend: boolean;
}

/** Options of {@link createDeliverProcessor}. */
export interface DeliverOptions {
  /** Deliveries at once per destination in this process (else the pipeline's, else 2). */
  readonly perDestination?: number;
}

/**
 * The processor of the delivery queue, which every destination of every pipeline shares. A job
 * is a staged part of a slice, or a batch an earlier run left unsettled, of one destination.
 *
 * Before it delivers, a job passes its destination's gates: at most `perDestination` of its
 * deliveries at once in this process, and the destination's fleet-wide gate in the state store
 * (its rate limit, and a pause it asked for). A job held back is delayed — not retried, using no
 * attempt — so the shared queue goes on with other destinations' jobs.
 */
export function createDeliverProcessor(ctx: WorkerContext, options: DeliverOptions = {}) {
  const inHand = new Map<string, number>();
  return async (job: Job<DeliverJobData>, token?: string): Promise<DeliverResult> => {
    const p = ctx.pipeline(job.data.pipeline);
    const d = p.pipeline.config.destinations.find((x) => x.id === job.data.destination);
    if (!d)
      throw new UnrecoverableError(
        `pipeline ${p.name} has no destination "${job.data.destination}" on this worker: start every worker with the same pipeline files`,
      );
    const key = `${p.name}\n${d.id}`;
    const cap = options.perDestination ?? p.pipeline.config.queue?.concurrency ?? 2;
    const held = inHand.get(key) ?? 0;
    // Back after about a delivery's time: one of those in hand will likely be done.
    if (held >= cap) return later(job, token, 1000 + Math.random() * 500);
    inHand.set(key, held + 1);
    try {
      return await deliverJob(ctx, p, d, job, token);
    } finally {
      inHand.set(key, (inHand.get(key) ?? 1) - 1);
    }
  };
}

/** Moves a job in hand to the delayed set for `ms`, using no attempt (BullMQ's DelayedError). */
async function later(job: Job, token: string | undefined, ms: number): Promise<never> {
  await job.moveToDelayed(Date.now() + Math.ceil(ms), token);
  throw new DelayedError();
}

/**
 * One delivery job. A staged part waits for the run's barrier (every fetch and resend done),
 * claims its records (one job per record per run), applies the delivery rules and delivers by
 * the rule both executors share (`deliverBatch`). A pause the destination asks for pauses this
 * destination only, using no attempt; the last attempt failing gives the batch up (dead letters
 * until a later run delivers it).
 */
async function deliverJob(
  ctx: WorkerContext,
  p: PipelineContext,
  d: DestinationConfig,
  job: Job<DeliverJobData>,
  token: string | undefined,
): Promise<DeliverResult> {
  const { name } = p;
  const { runId } = parseJobId(job.id!)!;
  const result: Mutable<DeliverResult> = {
    delivered: 0,
    rejected: 0,
    unmatched: 0,
    unchanged: 0,
    superseded: 0,
    refused: 0,
    worker: WORKER_NAME,
  };
  const fresh: FreshLetters = {};
  const file = async (letters: DeadLetter[]) => {
    addFresh(fresh, await fileLetters(ctx.store, name, letters));
  };
  let outcome: DeliveryResult;
  let plan: Plan | undefined;
  try {
    if (await ctx.store.runCancelled(name, runId)) return result;
    if (!job.data.resend && !(await barrierOpen(ctx, name, runId))) return later(job, token, 500);
    const gate = await ctx.store.admit(name, d.id, job.id!, d.rateLimit);
    if (gate.wait > 0) return later(job, token, gate.wait + Math.random() * 50);
    ctx.log.debug(`${name}/${d.id}: job ${job.id} admitted`, {
      event: 'delivery-admitted',
      pipeline: name,
      destination: d.id,
      at: gate.at,
    });
    plan = job.data.resend
      ? await resendPlan(ctx, p, d, job, file)
      : await stagedPlan(ctx, p, d, job, result, file);
    if (!plan) return result;
    outcome = await deliverBatch(p.target(d.id), {
      batchId: plan.batchId,
      send: plan.send,
      attempt: job.attemptsMade + 1,
      attempts: job.opts.attempts ?? 1,
      maxPauseSeconds: Number.POSITIVE_INFINITY,
      countPauses: false,
      stopped: () => ctx.store.runCancelled(name, runId),
      window: job.data.window,
    });
  } catch (error) {
    if (error instanceof DelayedError) throw error;
    throw jobError(error);
  }
  switch (outcome.status) {
    case 'done': {
      const { settled } = outcome;
      const counted = plan.resend
        ? { resent: settled.resent ? 1 : 0 }
        : {
            delivered: settled.delivered.length,
            rejected: settled.rejected.filter((l) => l.kind !== 'unmatched').length,
            unmatched: settled.rejected.filter((l) => l.kind === 'unmatched').length,
          };
      return { ...result, ...counted, fresh };
    }
    case 'stopped':
      return result;
    case 'pause': {
      // Only this destination waits, for as long as it asked, across the fleet; no attempt is
      // used. It answered "not now", so the batch did not land: a regular job forms it again.
      const ms = outcome.seconds * 1000;
      await ctx.store.pauseDeliveries(name, d.id, ms);
      if (!plan.resend) await ctx.store.clearIntent(name, d.id, plan.batchId);
      return later(job, token, ms + Math.random() * Math.min(1000, ms / 10));
    }
    default:
      throw failureError(outcome.failure);
  }
}

/** A batch an earlier run left unsettled: sent again exactly as it was (its window read again). */
async function resendPlan(
  ctx: WorkerContext,
  p: PipelineContext,
  d: DestinationConfig,
  job: Job<DeliverJobData>,
  file: (letters: DeadLetter[]) => Promise<void>,
): Promise<Plan | undefined> {
  const intents = await ctx.store.intents(p.name, d.id);
  const intent = intents.find((i) => i.batchId === job.data.resend);
  if (!intent) return undefined;
  const client = createToeflAccessClient(p.clientOptions);
  return {
    batchId: intent.batchId,
    resend: true,
    send: () =>
      settlePending({
        ...settleArgs(ctx, p, d, file),
        intent,
        records: () => readWindow(client, intent.window ?? job.data.window),
      }),
  };
}

/**
 * A staged part of a slice (the run's barrier open): its records claimed for this job and
 * put through the delivery rules; what is left forms one batch, announced before it is sent. A
 * job that died after announcing its batch sends that batch, exactly, before anything else.
 */
async function stagedPlan(
  ctx: WorkerContext,
  p: PipelineContext,
  d: DestinationConfig,
  job: Job<DeliverJobData>,
  result: Mutable<DeliverResult>,
  file: (letters: DeadLetter[]) => Promise<void>,
): Promise<Plan | undefined> {
  const { name } = p;
  const { runId } = parseJobId(job.id!)!;
  const records = openRecords(ctx.seal, job.data.sealed, job.id!, p.pipeline.layouts);
  // One job per record per run: overlapping slices and retried fetches stage copies.
  const mine = await ctx.store.claim(
    name,
    runId,
    d.id,
    job.id!,
    records.map((r) => r.contentHash),
    ctx.keep.failed,
  );
  const claimed = records.filter((_, i) => mine[i]);
  const intents = await ctx.store.intents(name, d.id);
  const own = intents.find((i) => i.job === job.id);
  const selection = await selectForDelivery({
    versions: ctx.store,
    pipeline: name,
    records: claimed,
    held: await ctx.store.held(
      name,
      d.id,
      claimed.map((r) => r.contentHash),
    ),
    refused: refusedBy(await ctx.store.deadLetters(name), d.id),
    // Records of a batch still pending (its resend failed) form no new batch.
    pending: pendingHashes(intents, own),
  });
  result.unchanged = records.length - claimed.length + selection.unchanged;
  result.superseded = selection.superseded.length;
  result.refused = selection.refused;
  const args = settleArgs(ctx, p, d, file);
  if (own)
    return {
      batchId: own.batchId,
      resend: false,
      send: () => settlePending({ ...args, intent: own, records: async () => records }),
    };
  if (selection.send.length === 0) return undefined;
  const batch = batchOf(
    name,
    d.id,
    selection.send,
    { from: new Date(job.data.window.from), to: new Date(job.data.window.to) },
    await settledUpdates(ctx.store, name, selection.send, job.data.updates),
  );
  await ctx.store.addIntent(name, d.id, intentOf(batch, job.id));
  return { batchId: batch.id, resend: false, send: () => deliverAndSettle({ ...args, batch }) };
}

function settleArgs(
  ctx: WorkerContext,
  p: PipelineContext,
  d: DestinationConfig,
  file: (letters: DeadLetter[]) => Promise<void>,
) {
  return {
    store: ctx.store,
    pipeline: p.name,
    destinationId: d.id,
    type: d.type,
    destination: p.destination(d.id),
    file,
  };
}

const pendingHashes = (intents: readonly DeliveryIntent[], own: DeliveryIntent | undefined) =>
  new Set(intents.filter((i) => i !== own).flatMap((i) => i.entries.map((e) => e[1])));

/**
 * Whether a run's deliveries may start: every fetch and every resend of the run is over
 * (completed, failed for good, or gone). Members found over leave the barrier, so a check after
 * a crash carries on where the last one stopped.
 */
async function barrierOpen(ctx: WorkerContext, pipeline: string, runId: string): Promise<boolean> {
  const members = await ctx.store.barrier(pipeline, runId);
  const over: string[] = [];
  for (const member of members) {
    const bar = member.indexOf('|');
    const state = await ctx.queue(member.slice(0, bar)).getJobState(member.slice(bar + 1));
    if (state === 'completed' || state === 'failed' || state === 'unknown') over.push(member);
  }
  await ctx.store.leaveBarrier(pipeline, runId, over);
  return over.length === members.length;
}

type Mutable<T> = { -readonly [K in keyof T]: T[K] };
