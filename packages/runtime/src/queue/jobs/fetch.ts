import { createToeflAccessClient, type ScoreRecord, serializeError } from '@scorebridge/core';
import { type Job, UnrecoverableError } from 'bullmq';
import { serverErrorStreak, sourceAlert } from '../../alerts/alerts.js';
import type { DestinationConfig } from '../../config/schema.js';
import { batchOf } from '../../run/batches.js';
import type { PipelineContext } from '../../run/context.js';
import { parseDeadLetters } from '../../run/letters.js';
import { passes } from '../../run/plan.js';
import { updateClassifier } from '../../run/versions.js';
import type { DeadLetter } from '../../state/store.js';
import type { WorkerContext } from '../context.js';
import {
  type DeliverJobData,
  type FetchJobData,
  type FetchResult,
  jobError,
  sealRecords,
} from '../payloads.js';
import { QUEUES } from '../topology.js';

/**
 * A fetch job: one slice read, parsed and filtered, its versions classified, and its records
 * staged — sealed — as delivery jobs of each destination (further children of the run's commit).
 * Every record is staged: the delivery job applies the rules once every version of the run is
 * known. Parse dead letters are filed here.
 */
export function createFetchProcessor(ctx: WorkerContext) {
  return async (job: Job<FetchJobData>): Promise<FetchResult> => {
    const p = ctx.pipeline(job.data.pipeline);
    const { name } = p;
    const config = p.pipeline.config;
    const slice = { from: new Date(job.data.from), to: new Date(job.data.to) };
    if (!job.parent?.id) throw new UnrecoverableError('a fetch job without its run');
    const nothing = { fetched: 0, parseIssues: 0, filtered: 0, serverErrors: 0 };
    if (await ctx.store.runCancelled(name, job.data.runId)) return nothing;
    const streak = serverErrorStreak();
    const client = createToeflAccessClient({
      ...p.clientOptions,
      onEvent: (event) => {
        streak.observe(event);
        if (event.type === 'response')
          ctx.metrics.response(name, event.status, event.durationMs, event.consecutiveServerErrors);
      },
    });
    const stager = stagerOf(ctx, p, job, slice);
    const tally = { fetched: 0, parseIssues: 0, filtered: 0 };
    const letters: DeadLetter[] = [];
    try {
      for await (const batch of client.fetchSlice(slice)) {
        for (const entry of batch) {
          const place = tally.fetched++;
          if (entry.issues.length > 0) {
            tally.parseIssues++;
            letters.push(...parseDeadLetters(entry, slice));
          } else if (!passes(config, entry.record!)) tally.filtered++;
          else await stager.add(entry.record!, place);
        }
      }
      await stager.flush();
      const freshParseLetters = await ctx.store.addDeadLetters(name, letters);
      return {
        ...tally,
        freshParseLetters,
        serverErrors: streak.longest,
        updates: stager.updates,
      };
    } catch (error) {
      const alert = sourceAlert(serializeError(error));
      if (alert) await p.alerter?.open(alert);
      throw jobError(error);
    }
  };
}

/** Buffers a slice's records per destination and stages each full buffer as a delivery job. */
function stagerOf(
  ctx: WorkerContext,
  p: PipelineContext,
  job: Job<FetchJobData>,
  slice: { from: Date; to: Date },
) {
  const { name } = p;
  const destinations = p.pipeline.config.destinations;
  const buffers = new Map(destinations.map((d) => [d.id, [] as ScoreRecord[]]));
  const classifier = updateClassifier(ctx.store, name, p.pipeline.layouts);
  const seqs = new Map<string, number>();
  const parent = job.parent!;

  const stage = async (d: DestinationConfig) => {
    const records = buffers.get(d.id)!.splice(0);
    if (records.length === 0 || (await ctx.store.runCancelled(name, job.data.runId))) return;
    const updates = await classifier.classify(records, slice, seqs);
    const batch = batchOf(name, d.id, records, slice, updates);
    // The content hashes are in the batch id: a changed report is a new job, never a duplicate.
    const jobId = `${job.data.runId}.d.${d.id}.${job.data.index}.${batch.id}`;
    await ctx.queue(QUEUES.deliver).add(
      'deliver',
      {
        pipeline: name,
        destination: d.id,
        index: job.data.index,
        window: batch.window!,
        sealed: sealRecords(ctx.seal, records, jobId),
        count: records.length,
        ...(batch.updates ? { updates: batch.updates } : {}),
      } satisfies DeliverJobData,
      {
        jobId,
        parent: { id: parent.id!, queue: parent.queueKey },
        ignoreDependencyOnFailure: true,
        ...ctx.retention,
        // Its result lives on in the run's commit job; the sealed records need not.
        removeOnComplete: true,
        ...ctx.retries(p),
      },
    );
  };

  return {
    updates: classifier.counts,
    async add(record: ScoreRecord, place: number) {
      seqs.set(record.contentHash, place);
      for (const d of destinations) {
        const buffer = buffers.get(d.id)!;
        buffer.push(record);
        if (buffer.length >= d.batchSize) await stage(d);
      }
    },
    async flush() {
      for (const d of destinations) await stage(d);
    },
  };
}
