import type {
  DestinationAdapter,
  DestinationLogger,
  ToeflAccessClientOptions,
} from '@scorebridge/core';
import {
  Queue as BullQueue,
  FlowProducer,
  type JobsOptions,
  type Queue,
  UnrecoverableError,
} from 'bullmq';
import type { Clock } from '../clock.js';
import type { Pipeline } from '../config/load.js';
import type { RedisConnection as Redis } from '../redis.js';
import { type PipelineContext, pipelineContext } from '../run/context.js';
import type { RedisStateStore } from '../state/redis-store.js';
import type { workerMetrics } from './metrics.js';
import type { sealer } from './sealed.js';
import { bullPrefix, commitJobId, QUEUES } from './topology.js';

/** What a reload changed, by pipeline name. */
export interface PipelineChange {
  readonly added: string[];
  readonly changed: string[];
  readonly removed: string[];
}

/** What every job processor of worker mode works with. */
export interface WorkerContext {
  readonly log: DestinationLogger;
  readonly clock: Clock;
  readonly store: RedisStateStore;
  readonly seal: ReturnType<typeof sealer>;
  /** How long finished jobs are kept, in seconds. */
  readonly keep: { readonly completed: number; readonly failed: number };
  readonly retention: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'>;
  /** Client settings to override (tests shorten retries). */
  readonly client?: Partial<ToeflAccessClientOptions>;
  readonly metrics: ReturnType<typeof workerMetrics>;
  readonly flows: FlowProducer;
  /** A queue by name, opened once. */
  queue(name: string): Queue;
  /** Every queue opened so far. */
  queues(): Queue[];
  /** A pipeline this worker serves; another is a job it cannot do (not retried). */
  pipeline(name: string): PipelineContext;
  /** The pipelines served now. */
  readonly pipelines: readonly PipelineContext[];
  /**
   * Serves these pipelines from now on (a reload): a pipeline whose configuration is unchanged
   * keeps its context (its destinations' connections); what changed, came or went is said.
   */
  serve(pipelines: readonly Pipeline[], adapters: readonly DestinationAdapter[]): PipelineChange;
  /** A pipeline's job attempts and backoff. */
  retries(p: PipelineContext): Pick<JobsOptions, 'attempts' | 'backoff'>;
  /** Whether a run is over: its commit job completed, failed or gone. */
  runIsOver(runId: string): Promise<boolean>;
  /** Closes the queues, the flow producer and every destination created. */
  close(): Promise<void>;
}

/** Options of {@link workerContext}. */
export interface WorkerContextOptions {
  readonly redis: Redis;
  readonly prefix: string;
  readonly store: RedisStateStore;
  readonly pipelines: readonly Pipeline[];
  readonly adapters: readonly DestinationAdapter[];
  readonly seal: ReturnType<typeof sealer>;
  readonly log: DestinationLogger;
  readonly clock: Clock;
  readonly keep: { readonly completed: number; readonly failed: number };
  readonly client?: Partial<ToeflAccessClientOptions>;
  readonly metrics: ReturnType<typeof workerMetrics>;
  /** Where each queue's and the flow producer's connection errors go. */
  readonly onError: (error: Error) => void;
}

export function workerContext(options: WorkerContextOptions): WorkerContext {
  const { store, log, clock } = options;
  const connection = { connection: options.redis, prefix: bullPrefix(options.prefix) };
  const queues = new Map<string, Queue>();
  const queue = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = new BullQueue(name, connection);
      q.on('error', options.onError);
      queues.set(name, q);
    }
    return q;
  };
  const flows = new FlowProducer(connection);
  flows.on('error', options.onError);
  // Destinations are created once per process and kept (connections, tokens).
  const contextOf = (pipeline: Pipeline, adapters: readonly DestinationAdapter[]) =>
    pipelineContext({
      pipeline,
      adapters,
      store,
      logger: log,
      clock,
      client: options.client,
      missing: (message) => new UnrecoverableError(message),
    });
  let byName = new Map<string, PipelineContext>();
  // Contexts a reload replaced: jobs in hand may still use them, so they close with the worker.
  const retired: PipelineContext[] = [];
  const serve = (pipelines: readonly Pipeline[], adapters: readonly DestinationAdapter[]) => {
    const next = new Map<string, PipelineContext>();
    const change: PipelineChange = { added: [], changed: [], removed: [] };
    for (const pipeline of pipelines) {
      const name = pipeline.config.name;
      const old = byName.get(name);
      const same = old && JSON.stringify(old.pipeline.config) === JSON.stringify(pipeline.config);
      next.set(name, same ? old : contextOf(pipeline, adapters));
      if (!old) change.added.push(name);
      else if (!same) {
        change.changed.push(name);
        retired.push(old);
      }
    }
    for (const [name, old] of byName)
      if (!next.has(name)) {
        change.removed.push(name);
        retired.push(old);
      }
    byName = next;
    return change;
  };
  serve(options.pipelines, options.adapters);
  return {
    log,
    clock,
    store,
    seal: options.seal,
    keep: options.keep,
    retention: {
      removeOnComplete: { age: options.keep.completed },
      removeOnFail: { age: options.keep.failed },
    },
    client: options.client,
    metrics: options.metrics,
    flows,
    queue,
    queues: () => [...queues.values()],
    get pipelines() {
      return [...byName.values()];
    },
    serve,
    pipeline(name) {
      const p = byName.get(name);
      if (!p)
        throw new UnrecoverableError(
          `this worker has no pipeline "${name}": start every worker with the same pipeline files`,
        );
      return p;
    },
    retries: (p) => ({
      attempts: p.pipeline.config.queue?.attempts ?? 8,
      backoff: {
        type: 'exponential',
        delay: (p.pipeline.config.queue?.backoffSeconds ?? 10) * 1000,
      },
    }),
    async runIsOver(runId) {
      const state = await queue(QUEUES.commit).getJobState(commitJobId(runId));
      return state === 'completed' || state === 'failed' || state === 'unknown';
    },
    async close() {
      await Promise.allSettled([
        ...[...byName.values(), ...retired].map((c) => c.close()),
        ...[...queues.values()].map((q) => q.close()),
        flows.close(),
      ]);
    },
  };
}
