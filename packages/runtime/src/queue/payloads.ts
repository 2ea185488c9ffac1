import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  isRetryable,
  type Layout,
  readLine,
  type ScoreRecord,
  type SerializedError,
  serializeError,
  type UpdateClass,
} from '@scorebridge/core';
import { UnrecoverableError } from 'bullmq';
import type { FreshLetters } from '../run/letters.js';
import type { UpdateCounts } from '../run/versions.js';
import type { RunRecord } from '../state/store.js';
import type { sealer } from './sealed.js';

/**
 * Worker mode's job payloads and results: what each job carries in Redis and returns to its
 * parent. Fields are only ever added, each optional and read with its earlier meaning as the
 * default, so that workers of the previous release and of this one read each other's jobs
 * during a rolling upgrade.
 */

/** A run job's data: a scheduled tick, or a backfill's range. */
export interface RunJobData {
  readonly pipeline: string;
  readonly from?: string;
  readonly to?: string;
  readonly backfill?: boolean;
}

/** A run's commit job (the parent of its fetches and deliveries). */
export interface CommitJobData {
  readonly pipeline: string;
  readonly runId: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly slices: readonly { readonly from: string; readonly to: string }[];
  readonly backfill: boolean;
  readonly startedAt: string;
}

export interface FetchJobData {
  readonly pipeline: string;
  readonly runId: string;
  readonly index: number;
  readonly from: string;
  readonly to: string;
}

export interface DeliverJobData {
  readonly pipeline: string;
  readonly destination: string;
  readonly index: number;
  readonly window: { readonly from: string; readonly to: string };
  /**
   * The records, sealed with AES-256-GCM for this job id ('' for a resend): see
   * {@link sealRecords} (`v2`); earlier releases' jobs carry `v1`, which this release still reads.
   */
  readonly sealed: string;
  /**
   * A batch an earlier run announced and never settled: this job re-sends it exactly as it was
   * (its window fetched again), before the run's own deliveries start.
   */
  readonly resend?: string;
  readonly count: number;
  /** What each re-sent record changed, by content hash (absent in earlier releases' jobs). */
  readonly updates?: Readonly<Record<string, UpdateClass>>;
}

export interface FetchResult {
  readonly fetched: number;
  readonly parseIssues: number;
  /**
   * Parse dead letters this fetch filed first (a line read again in an overlapping window is
   * not new). Absent in results of earlier releases' workers: their `parseIssues` stands in.
   */
  readonly freshParseLetters?: number;
  readonly filtered: number;
  /**
   * Records the destinations held, per destination: counted by earlier releases' fetches; this
   * release's delivery jobs count them (absent).
   */
  readonly unchanged?: Record<string, number>;
  /** The most HTTP 500s in a row the source answered. */
  readonly serverErrors: number;
  /** Re-sent reports met first in this fetch, by what they changed (absent from earlier releases). */
  readonly updates?: UpdateCounts;
}

export interface DeliverResult {
  readonly delivered: number;
  readonly rejected: number;
  readonly unmatched: number;
  readonly unchanged: number;
  /** Absent from earlier releases' results. */
  readonly superseded?: number;
  readonly refused?: number;
  /** A resend job: the pending batches it re-sent (its records are not counted as delivered). */
  readonly resent?: number;
  /**
   * Dead letters this job filed first, by kind, as the store counted them (absent from earlier
   * releases' results: their `rejected` and `unmatched` stand in).
   */
  readonly fresh?: FreshLetters;
  /** The worker process that did it (`host:pid`). */
  readonly worker: string;
}

/** What a run did: the run record kept in the state store, with the run id. */
export interface RunOutcome extends RunRecord {
  readonly runId: string;
  readonly fetched: number;
  readonly slices: number;
  readonly failedSlices: number;
  /** Records delivered by each worker process (`host:pid`). */
  readonly workers: Readonly<Record<string, number>>;
}

/** A run job's answer: the run it started, or why none was started. */
export interface RunStarted {
  readonly runId: string;
  readonly slices: number;
  readonly skipped?: string;
}

/**
 * Records staged for a delivery job (`v2`): each fixed-length record as its line, any other (a
 * JSON source's) as plain data; a JSON array of those, deflated, sealed for the job. The line is
 * all a ScoreLink record is — the delivery job reads it again with the same layout (`readLine`),
 * which costs less than JSON of its 86 fields, and stages a fifth of the bytes.
 */
export function sealRecords(
  seal: ReturnType<typeof sealer>,
  records: readonly ScoreRecord[],
  jobId: string,
): string {
  const entries = records.map((r) => (r.format === 'scorelink' ? r.raw : plain(r)));
  return seal.sealBytes(deflateRawSync(JSON.stringify(entries), { level: 1 }), jobId);
}

/**
 * The records a delivery job carries, read with the pipeline's layouts (refused when sealed for
 * another job or with an unknown key). A `v1` payload — JSON of every record, staged by a worker
 * of an earlier release during a rolling upgrade — is read as it was written.
 */
export function openRecords(
  seal: ReturnType<typeof sealer>,
  sealed: string,
  jobId: string,
  layouts: readonly Layout[],
): ScoreRecord[] {
  const { version, bytes } = seal.openBytes(sealed, jobId);
  if (version === 'v1')
    return JSON.parse(
      inflateRawSync(Buffer.from(bytes.toString('utf8'), 'base64')).toString('utf8'),
    ) as ScoreRecord[];
  const entries = JSON.parse(inflateRawSync(bytes).toString('utf8')) as (string | ScoreRecord)[];
  return entries.map((e) => (typeof e === 'string' ? readLine(e, layouts) : e));
}

/** A record as plain data, for staging (the content hash computed now, kept). */
function plain(r: ScoreRecord): ScoreRecord {
  return {
    layout: r.layout,
    fields: r.fields,
    extra: r.extra,
    raw: r.raw,
    recordKey: r.recordKey,
    contentHash: r.contentHash,
    scale: r.scale,
    format: r.format,
  };
}

/** Rethrown job errors carry only the allow-listed message: BullMQ keeps them (and a stack) in Redis. */
export function jobError(error: unknown): Error {
  if (error instanceof UnrecoverableError) return error;
  return failureError(serializeError(error));
}

/** A failure as the error a job throws: BullMQ tries again only what is worth trying again. */
export function failureError(failure: SerializedError): Error {
  const out = isRetryable(failure.kind)
    ? new Error(failure.message)
    : new UnrecoverableError(failure.message);
  out.stack = `${out.name}: ${failure.message}`;
  return out;
}
