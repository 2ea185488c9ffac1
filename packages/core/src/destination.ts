import type { z } from 'zod';
import type { ScoreRecord } from './record/record.js';
import type { UpdateClass } from './record/update.js';

/** A batch of records for one destination. */
export interface DeliveryBatch {
  /** Idempotency key: a retried or replayed batch carries the same id, so sinks can deduplicate. */
  readonly id: string;
  /** The pipeline's name. */
  readonly pipeline: string;
  /** The records, in source order. */
  readonly records: readonly ScoreRecord[];
  /** The report-date window the records were fetched for (ISO, UTC), when known. */
  readonly window?: { readonly from: string; readonly to: string };
  /**
   * What each re-sent record changed, by content hash (a record absent here is the first
   * version the pipeline has seen of its key): see {@link UpdateClass}.
   */
  readonly updates?: Readonly<Record<string, UpdateClass>>;
}

/** What became of one record; the runtime moves the ledger and cursor from these. */
export type RecordOutcome =
  | {
      readonly recordKey: string;
      readonly contentHash: string;
      readonly status: 'delivered';
    }
  | {
      readonly recordKey: string;
      readonly contentHash: string;
      readonly status: 'rejected';
      /** Why, in the destination's words (its error code and message), with no personal data. */
      readonly reason: string;
      /** The destination's error code, e.g. Salesforce `REQUIRED_FIELD_MISSING`. */
      readonly code?: string;
      /** `unmatched` holds a record until its person exists; `rejected` needs a fix. */
      readonly kind: 'rejected' | 'unmatched';
    };

/** Where an adapter logs; the runtime passes one that redacts and adds context. */
export interface DestinationLogger {
  debug(message: string, fields?: Record<string, unknown>): void;
  info(message: string, fields?: Record<string, unknown>): void;
  warn(message: string, fields?: Record<string, unknown>): void;
  error(message: string, fields?: Record<string, unknown>): void;
}

/** A logger that drops everything: the default where no logger is given, and for tests. */
export const silentLogger: DestinationLogger = Object.freeze({
  debug() {},
  info() {},
  warn() {},
  error() {},
});

/** What the runtime gives a destination when it creates it. */
export interface DestinationContext {
  /** The pipeline's name. */
  readonly pipeline: string;
  /** The destination's id in the pipeline. */
  readonly destinationId: string;
  readonly logger: DestinationLogger;
  /**
   * What relative paths in the options are relative to: the pipeline file's directory, so that
   * the working directory a command runs in changes nothing. @default the working directory
   */
  readonly baseDir?: string;
}

/** What a passing `check()` wants the person running it to know. */
export interface CheckReport {
  readonly notes?: readonly string[];
}

/**
 * A configured destination. Creating one does no I/O; connections open in `check()` and
 * `deliver()` and close in `close()`.
 */
export interface Destination {
  /**
   * Optional, and no I/O: why this destination would refuse a record whatever the state of the
   * service (a format it cannot write). A dry run counts these as dead letters, not deliveries.
   */
  refuses?(record: ScoreRecord): string | undefined;
  /**
   * Verifies credentials and reachability; throws a `DestinationError` whose message and
   * `remedy` say what to fix. May return notes: what it found that works, but differently from
   * what a reader would assume (a field left out, a date written with a time).
   */
  // biome-ignore lint/suspicious/noConfusingVoidType: an adapter with nothing to note returns nothing
  check(): Promise<void | CheckReport>;
  /**
   * Delivers a batch and returns one outcome per record. Idempotent for a batch id. Throws a
   * `DestinationError` (with a kind) when the whole batch failed.
   */
  deliver(batch: DeliveryBatch): Promise<RecordOutcome[]>;
  /**
   * Whether the batch with this id is already held by the destination, for recovery after a
   * crash between delivering and recording it. Destinations that cannot tell leave it out; their
   * batches are then delivered again (they must be idempotent for a batch id).
   */
  delivered?(batchId: string): Promise<boolean>;
  /** Releases connections; safe to call twice. */
  close(): Promise<void>;
  /**
   * Optional, and no I/O: how much of an allowance the service counts against this destination
   * (Salesforce's daily API requests, say), as last seen; for metrics.
   */
  usage?(): DestinationUsage | undefined;
}

/** An allowance a destination's service counts: how much is used of how much, and of what. */
export interface DestinationUsage {
  /** What is counted, e.g. `api-requests-daily`: a Prometheus label value. */
  readonly quota: string;
  readonly used: number;
  readonly limit: number;
}

/**
 * The version of the adapter contract (this file's `Destination`, `DeliveryBatch`,
 * `RecordOutcome` and `DestinationAdapter`) that this ScoreBridge speaks. It changes only when a
 * change would break an adapter built against the previous one; an adapter declaring another is
 * refused, with the reason, rather than half working.
 */
export const ADAPTER_CONTRACT = 1;

/** An adapter package's export: its options schema and its factory. */
export interface DestinationAdapter<S extends z.ZodType = z.ZodType> {
  /** The `type` a pipeline names it by, e.g. `salesforce`. */
  readonly type: string;
  /** One sentence for `--help` and docs. */
  readonly description: string;
  /** Options, validated once at the edge; the TypeScript type and JSON Schema derive from it. */
  readonly optionsSchema: S;
  /** Makes a destination; no I/O. */
  create(options: z.infer<S>, context: DestinationContext): Destination;
  /** The adapter contract it implements ({@link ADAPTER_CONTRACT}); set by {@link defineAdapter}. */
  readonly contract?: number;
}

/** Declares an adapter with its options type inferred from the schema, and the contract it implements. */
export function defineAdapter<S extends z.ZodType>(
  adapter: Omit<DestinationAdapter<S>, 'contract'>,
): DestinationAdapter<S> {
  return { ...adapter, contract: ADAPTER_CONTRACT };
}

/**
 * What keeps `value` (a package's export) from being an adapter this ScoreBridge can use, in
 * words for the person who installed it; empty when nothing does.
 */
export function adapterProblems(value: unknown): string[] {
  if (!value || typeof value !== 'object') return ['it exports no adapter object'];
  const a = value as Record<string, unknown>;
  const missing: string[] = [];
  if (typeof a.type !== 'string' || a.type.length === 0) missing.push('type (a string)');
  if (typeof a.description !== 'string') missing.push('description (a string)');
  const schema = a.optionsSchema as { safeParse?: unknown; _zod?: unknown } | undefined;
  if (!schema || typeof schema.safeParse !== 'function' || !schema._zod)
    missing.push('optionsSchema (a zod 4 schema)');
  if (typeof a.create !== 'function') missing.push('create (a function)');
  if (missing.length > 0) return [`it lacks ${missing.join(', ')}`];
  if (a.contract !== ADAPTER_CONTRACT)
    return [
      a.contract === undefined
        ? `it declares no adapter contract version (this ScoreBridge speaks ${ADAPTER_CONTRACT}): make it with defineAdapter() from @scorebridge/core`
        : `it implements adapter contract ${String(a.contract)}, and this ScoreBridge speaks ${ADAPTER_CONTRACT}: install a version of the adapter made for this ScoreBridge (or of ScoreBridge for the adapter)`,
    ];
  return [];
}

/**
 * Splits a batch for a destination that may write raw ScoreLink lines. When `scorelinkOnly`,
 * records read from a JSON response have no such line: they are refused (dead letters) with a
 * reason naming `instead`, the option to use. `refused` is indexed like the records.
 */
export function splitForScoreLink(
  records: readonly ScoreRecord[],
  scorelinkOnly: boolean,
  instead: string,
): { accepted: ScoreRecord[]; refused: (RecordOutcome | undefined)[] } {
  const refused = records.map((record): RecordOutcome | undefined => {
    const reason = noScoreLinkLine(record, scorelinkOnly, instead);
    return reason
      ? {
          recordKey: record.recordKey,
          contentHash: record.contentHash,
          status: 'rejected',
          kind: 'rejected',
          code: 'NO_SCORELINK_LINE',
          reason,
        }
      : undefined;
  });
  return { accepted: records.filter((_, i) => !refused[i]), refused };
}

/** Why a destination writing raw ScoreLink lines cannot take this record (or undefined). */
export function noScoreLinkLine(
  record: ScoreRecord,
  scorelinkOnly: boolean,
  instead: string,
): string | undefined {
  return scorelinkOnly && record.format !== 'scorelink'
    ? `the record came from a JSON response, so there is no ScoreLink line to write; use ${instead}`
    : undefined;
}

/** One outcome per record, in record order: the refused ones as given, every other one delivered. */
export function outcomesInOrder(
  records: readonly ScoreRecord[],
  refused: readonly (RecordOutcome | undefined)[],
): RecordOutcome[] {
  return records.map(
    (r, i) =>
      refused[i] ?? { recordKey: r.recordKey, contentHash: r.contentHash, status: 'delivered' },
  );
}
