import type {
  Destination,
  DestinationAdapter,
  DestinationLogger,
  ToeflAccessClientOptions,
} from '@scorebridge/core';
import { type Alerter, pipelineAlerter } from '../alerts/alerts.js';
import type { Clock } from '../clock.js';
import { destinationContext, type Pipeline } from '../config/load.js';
import type { DestinationConfig } from '../config/schema.js';
import type { StateStore } from '../state/store.js';
import type { DeliveryTarget } from './deliver.js';

/**
 * What both executors hold for a pipeline while it runs: its configuration, its state, its
 * alerter, its destinations (created when first needed, kept, closed together) and its source's
 * client settings.
 */
export interface PipelineContext {
  readonly pipeline: Pipeline;
  readonly name: string;
  readonly store: StateStore;
  /** Undefined when the pipeline has no Slack channel (or the run is a dry run). */
  readonly alerter: Alerter | undefined;
  readonly logger: DestinationLogger;
  readonly clock: Clock;
  /** The destination's config; an unknown id is a bug (the pipeline was validated). */
  config(destinationId: string): DestinationConfig;
  /** A destination of the pipeline, created at the first call and kept. */
  destination(destinationId: string): Destination;
  /** The destination with what delivering to it needs (see `deliverBatch`). */
  target(destinationId: string): DeliveryTarget;
  /** The TOEFL Access client settings of the pipeline's source, with the overrides given. */
  readonly clientOptions: ToeflAccessClientOptions;
  /** The destinations created so far, for usage metrics. */
  created(): { config: DestinationConfig; destination: Destination }[];
  /** Closes every destination created (errors are let go: closing must not fail a run). */
  close(): Promise<void>;
}

/** Options of {@link pipelineContext}. */
export interface PipelineContextOptions {
  readonly pipeline: Pipeline;
  readonly adapters: readonly DestinationAdapter[];
  readonly store: StateStore;
  readonly logger: DestinationLogger;
  readonly clock: Clock;
  /** Send alerts (false for a dry run). @default true */
  readonly alerts?: boolean;
  /** Client settings to override (tests shorten retries and timeouts). */
  readonly client?: Partial<ToeflAccessClientOptions>;
  /** How a missing adapter is reported (the executors throw their own error classes). */
  readonly missing: (message: string) => Error;
}

export function pipelineContext(options: PipelineContextOptions): PipelineContext {
  const { pipeline, store, logger, clock } = options;
  const name = pipeline.config.name;
  const alerter =
    options.alerts === false ? undefined : pipelineAlerter(pipeline, store, logger, clock);
  const made = new Map<string, { config: DestinationConfig; destination: Destination }>();
  const config = (id: string) => {
    const d = pipeline.config.destinations.find((x) => x.id === id);
    if (!d) throw options.missing(`${pipeline.file}: no destination ${id}`);
    return d;
  };
  const destination = (id: string) => {
    let m = made.get(id);
    if (!m) {
      const d = config(id);
      const adapter = options.adapters.find((a) => a.type === d.type);
      if (!adapter)
        throw options.missing(
          `${pipeline.file}: destination ${d.id}: no adapter of type ${d.type}`,
        );
      m = {
        config: d,
        destination: adapter.create(d.options, destinationContext(pipeline, d.id, logger)),
      };
      made.set(id, m);
    }
    return m.destination;
  };
  return {
    pipeline,
    name,
    store,
    alerter,
    logger,
    clock,
    config,
    destination,
    target: (id) => ({
      store,
      pipeline: name,
      config: config(id),
      destination: destination(id),
      alerter,
      logger,
    }),
    clientOptions: { ...sourceClientOptions(pipeline), ...options.client },
    created: () => [...made.values()],
    async close() {
      await Promise.allSettled([...made.values()].map((m) => m.destination.close()));
      made.clear();
    },
  };
}

/** The TOEFL Access client settings a pipeline's source describes. */
export function sourceClientOptions(pipeline: Pipeline): ToeflAccessClientOptions {
  const { source } = pipeline.config;
  return {
    baseUrl: source.baseUrl,
    authcode: source.authcode.reveal(),
    format: source.format,
    type: source.type,
    reportBy: source.reportBy,
    maxWindowDays: source.maxWindowDays,
    layouts: pipeline.layouts,
    jsonMapping: source.jsonMapping ? { fields: source.jsonMapping } : undefined,
    encoding: source.encoding,
    idleTimeoutMs: source.idleTimeoutSeconds * 1000,
    deadlineMs: source.deadlineSeconds * 1000,
  };
}
