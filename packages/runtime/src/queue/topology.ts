import { hash } from 'node:crypto';
import { ConfigError } from '@scorebridge/core';
import { clusterSafePrefix } from './redis-checks.js';

/**
 * Where worker mode keeps things in Redis. Every key starts with one hash-tagged prefix
 * (`{scorebridge}` unless SCOREBRIDGE_REDIS_PREFIX says otherwise), so a pipeline's state and
 * BullMQ's queues live in one Redis Cluster slot: state under `<prefix>:<pipeline>:…`, queues
 * under `<prefix>:bull:<queue>:…`.
 */
export const DEFAULT_PREFIX = '{scorebridge}';
export const PREFIX_ENV = 'SCOREBRIDGE_REDIS_PREFIX';

/** The prefix to use: the environment's, checked, or the default. */
export function redisPrefix(env: NodeJS.ProcessEnv = process.env): string {
  const prefix = env[PREFIX_ENV] || DEFAULT_PREFIX;
  if (!clusterSafePrefix(prefix) || prefix.includes(':')) {
    throw new ConfigError(
      `${PREFIX_ENV} must start with a hash tag and hold no colon, e.g. {scorebridge-staging} (it is ${prefix}): BullMQ's keys must share a Redis Cluster slot`,
    );
  }
  return prefix;
}

/** The queues of worker mode. */
export const QUEUES = {
  /** One job per run: plans the window and adds the run's flow. Job schedulers add to it. */
  run: 'run',
  /** One job per slice: fetches, parses, filters and stages deliveries. */
  fetch: 'fetch',
  /** One job per run, the parent of its fetches and deliveries: moves cursors, records the run. */
  commit: 'commit',
  /**
   * Every destination's deliveries, one queue for the fleet (so a worker's connections do not grow
   * with its pipelines). A destination's rate limit and pauses are its own gate in the state
   * store, which delays only that destination's jobs.
   */
  deliver: 'deliver',
} as const;

/**
 * The previous release's delivery queue of a destination: a worker drains what an older worker
 * left there during an upgrade (see `drainLegacyQueues`).
 */
export const legacyDeliverQueue = (pipeline: string, destination: string) =>
  `deliver.${pipeline}.${destination}`;

/** BullMQ's prefix under a ScoreBridge prefix. */
export const bullPrefix = (prefix: string) => `${prefix}:bull`;

/** The scheduler id of a pipeline (one per pipeline, however many workers upsert it). */
export const schedulerId = (pipeline: string) => `pipeline.${pipeline}`;

/** A run's id, derived from the job that asked for it: a retried run job finds its own run. */
export const runIdOf = (pipeline: string, jobId: string) =>
  `${pipeline}.${hash('sha256', jobId, 'hex').slice(0, 12)}`;

/**
 * How long a worker-mode run holds its pipeline's run slot (`<prefix>:<pipeline>:active-run`)
 * unless its commit releases it first.
 */
export const RUN_SLOT_SECONDS = 7 * 86_400;

/** The id of a run's commit job (the parent of its flow). */
export const commitJobId = (runId: string) => `${runId}.commit`;

/**
 * Job ids in a run: `<run>.fetch.<slice>`, `<run>.d.<destination>.<slice>.<batch id>`, and
 * `<run>.d.<destination>.p.<batch id>` for an earlier run's pending batch re-sent (index -1); a
 * child's key (`<prefix>:<queue>:<job id>`, as a parent lists it) is read the same way.
 */
export function parseJobId(
  idOrKey: string,
):
  | { kind: 'fetch'; runId: string; index: number }
  | { kind: 'deliver'; runId: string; destination: string; index: number }
  | undefined {
  const parts = idOrKey.slice(idOrKey.lastIndexOf(':') + 1).split('.');
  if (parts.at(-2) === 'fetch')
    return { kind: 'fetch', runId: parts.slice(0, -2).join('.'), index: Number(parts.at(-1)) };
  if (parts.at(-4) === 'd')
    return {
      kind: 'deliver',
      runId: parts.slice(0, -4).join('.'),
      destination: parts.at(-3)!,
      index: parts.at(-2) === 'p' ? -1 : Number(parts.at(-2)),
    };
  return undefined;
}
