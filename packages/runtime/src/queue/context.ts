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
  type Worker,
} from 'bullmq';
import type { Clock } from '../clock.js';
import type { Pipeline } from '../config/load.js';
import type { RedisConnection as Redis } from '../redis.js';
import { type PipelineContext, pipelineContext } from '../run/context.js';
import type { RedisStateStore } from '../state/redis-store.js';
import type { workerMetrics } from './metrics.js';
import type { sealer } from './sealed.js';
import { bullPrefix, commitJobId, QUEUES } from './topology.js';

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
  readonly pipelines: readonly PipelineContext[];
  /** A pipeline's job attempts and backoff. */
  retries(p: PipelineContext): Pick<JobsOptions, 'attempts' | 'backoff'>;
  /** The worker taking a queue's jobs in this process (to pause it: a destination's Retry-After). */
  worker(queue: string): Worker | undefined;
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
  readonly workers: readonly Worker[];
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
  const contexts = options.pipelines.map((pipeline) =>
    pipelineContext({
      pipeline,
      adapters: options.adapters,
      store,
      logger: log,
      clock,
      client: options.client,
      missing: (message) => new UnrecoverableError(message),
    }),
  );
  const byName = new Map(contexts.map((c) => [c.name, c]));
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
    pipelines: contexts,
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
    worker: (name) => options.workers.find((w) => w.name === name),
    async runIsOver(runId) {
      const state = await queue(QUEUES.commit).getJobState(commitJobId(runId));
      return state === 'completed' || state === 'failed' || state === 'unknown';
    },
    async close() {
      await Promise.allSettled([
        ...contexts.map((c) => c.close()),
        ...[...queues.values()].map((q) => q.close()),
        flows.close(),
      ]);
    },
  };
}
