import type {
  DestinationAdapter,
  DestinationLogger,
  SerializedError,
  Slice,
  SourceEvent,
  ToeflAccessClientOptions,
} from '@scorebridge/core';
import type { Pipeline } from '../config/load.js';
import type { StateStore } from '../state/store.js';
import type { UpdateCounts } from './versions.js';

/** What an inline run is asked, and what it answers. */

/** Options of {@link runPipeline}. */
export interface RunOptions {
  readonly pipeline: Pipeline;
  readonly adapters: readonly DestinationAdapter[];
  readonly store: StateStore;
  /** Backfill: fetch this range instead of planning from the cursors (cursors are not moved). */
  readonly from?: Date;
  readonly to?: Date;
  /** Fetch and count what would be delivered where; deliver nothing, write nothing. */
  readonly dryRun?: boolean;
  /**
   * Replaying dead letters: only these destinations, and only these versions (content hashes),
   * or any version of these record keys (letters without a hash) — delivered even if the ledger
   * holds them or the destination refused them before; a newer version read still supersedes.
   */
  readonly only?: {
    readonly destinations: ReadonlySet<string>;
    readonly versions?: ReadonlySet<string>;
    readonly recordKeys?: ReadonlySet<string>;
  };
  /** Progress, for a display or a log. */
  readonly onEvent?: (event: RunEvent) => void;
  readonly logger?: DestinationLogger;
  readonly signal?: AbortSignal;
  /**
   * When the run starts: the end of its window, and the start of the clock its run record and
   * alerts read (which then moves on in real time). @default the system clock
   */
  readonly now?: Date;
  /** Client settings to override (tests shorten retries and timeouts). */
  readonly client?: Partial<ToeflAccessClientOptions>;
  /** Whole-batch delivery retries before a destination is given up for this run. @default 3 */
  readonly deliveryRetries?: number;
}

/** What happened per destination. */
export interface DestinationSummary {
  readonly id: string;
  readonly type: string;
  delivered: number;
  unchanged: number;
  /** Not sent: a newer version of their key was read (in this run or before). */
  superseded: number;
  /** Not sent: this destination refused the version before (open dead letters; replay sends them). */
  refused: number;
  filtered: number;
  deadLettered: number;
  /** Batches of an earlier run whose outcome was unknown, re-sent as they were before this run's. */
  resent: number;
  /**
   * Replays only: what became of each version (by content hash) at this destination, so that
   * each dead letter is resolved, or kept open with its new reason, by its own outcome.
   */
  readonly outcomes?: Map<string, 'delivered' | 'superseded' | 'rejected'>;
  /** Why the destination stopped early, when it did (its cursor stays where it was). */
  failed?: SerializedError;
  cursor?: string;
}

/** A destination's counts, as the run history and `--json` give them. */
export function countsOf(d: DestinationSummary) {
  const { delivered, unchanged, superseded, refused, filtered, deadLettered, resent } = d;
  return { delivered, unchanged, superseded, refused, filtered, deadLettered, resent };
}

/** The outcome of a run. */
export interface RunSummary {
  readonly pipeline: string;
  readonly window: { readonly from: string; readonly to: string } | null;
  /** Requests whose responses the run took (slices read). */
  readonly slices: number;
  fetched: number;
  parseIssues: number;
  readonly destinations: DestinationSummary[];
  /** Why fetching stopped early, when it did. */
  sourceFailed?: SerializedError;
  readonly dryRun: boolean;
  /** Re-sent reports met for the first time in this run, by what they changed. */
  readonly updates: UpdateCounts;
  /** Dead-letter ids met in this run (filed now or before): replay resolves the others. */
  readonly deadLettersSeen: ReadonlySet<string>;
  /** True when every slice was fetched and every destination kept up. */
  ok: boolean;
  /** Stopped by its signal (Ctrl-C) before the end: recorded as such; the next run carries on. */
  interrupted?: boolean;
}

/** Progress of a run. */
export type RunEvent =
  | { type: 'plan'; window: Slice }
  | {
      type: 'slice';
      /** Slices are read newest first and each sized from the one before: 0 is the newest. */
      index: number;
      slice: Slice;
      fetched: number;
      /** How much of the window the slices read so far cover, 0 to 1. */
      covered: number;
    }
  | { type: 'source'; event: SourceEvent }
  | { type: 'delivered'; destination: string; batchId: string; delivered: number; rejected: number }
  | {
      type: 'retry';
      destination: string;
      /** The attempt that failed (1-based), of `attempts` in all. */
      attempt: number;
      attempts: number;
      delayMs: number;
      error: SerializedError;
    };
