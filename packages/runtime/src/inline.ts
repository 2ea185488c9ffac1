// The inline executor and the file store, without worker mode: what `scorebridge run` and the
// state commands load. Importing `@scorebridge/runtime` itself also loads BullMQ, ioredis and
// prom-client (worker mode), which a one-shot run never uses (docs/performance.md, start-up).
export { sourceClientOptions } from './run/context.js';
export { runPipeline } from './run/runner.js';
export {
  countsOf,
  type DestinationSummary,
  type RunEvent,
  type RunOptions,
  type RunSummary,
} from './run/summary.js';
export { createFileStateStore } from './state/file-store.js';
export {
  type DeadLetter,
  type DeliveryIntent,
  type Incident,
  oldestFirst,
  type RecordVersion,
  type RunRecord,
  type StateStore,
  versionOrder,
} from './state/store.js';
