export type { Redis } from 'ioredis';
export { type Clock, clockFrom, systemClock } from './clock.js';
export {
  type AdapterResolver,
  destinationContext,
  type LoadOptions,
  loadPipeline,
  loadPipelineResolving,
  type Pipeline,
  pipelineFromYaml,
} from './config/load.js';
export {
  pathText,
  type ReferenceContext,
  resolveReferences,
  SECRET_KEYS,
} from './config/references.js';
export {
  type DestinationConfig,
  filtersSchema,
  type PipelineConfig,
  pipelineJsonSchema,
  pipelineSchema,
  secretSchema,
  sourceSchema,
} from './config/schema.js';
export { MAX_ALIASES, MAX_PIPELINE_BYTES, parseYaml, type YamlFile } from './config/yaml.js';
// The inline runner and the file store (also `@scorebridge/runtime/inline`, without worker mode).
export * from './inline.js';
export { queueControl, type RunProgress } from './queue/control.js';
export {
  durationMs,
  type Health,
  type RunJobData,
  type RunOutcome,
  type RunStarted,
  startWorkers,
  type WorkerHandle,
  type WorkerModeOptions,
} from './queue/executor.js';
export { checkRedis, clusterSafePrefix, type RedisReport } from './queue/redis-checks.js';
export { DATA_KEY_ENV, type DataKey, dataKeys, sealer } from './queue/sealed.js';
export {
  DEFAULT_PREFIX,
  PREFIX_ENV,
  QUEUES,
  redisPrefix,
} from './queue/topology.js';
export {
  connectRedis,
  type RedisConnection,
  type RedisTarget,
  redactRedisUrl,
  redisTarget,
} from './redis.js';
export {
  createRedisStateStore,
  openRedisStateStore,
  type RedisStateOptions,
  type RedisStateStore,
  type SkippedPipeline,
  type WorkerInfo,
} from './state/redis-store.js';
