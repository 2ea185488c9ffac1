import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  type DeliveryBatch,
  type Destination,
  type DestinationLogger,
  isRetryable,
  type RetryPolicy,
  ScoreBridgeError,
  type ScoreRecord,
  type SerializedError,
  serializeError,
} from '@scorebridge/core';
import { type Alerter, destinationAlert } from '../alerts/alerts.js';
import type { DeadLetter, DeliveryIntent, StateStore } from '../state/store.js';
import { intentOf, rebuildBatch } from './batches.js';
import { letter, letterId } from './letters.js';
import { MAX_ROUTINE_PAUSE_SECONDS } from './plan.js';

/**
 * Delivering a batch, the same in both executors: announce, deliver, settle; settle what an
 * earlier run left pending; and what to do when a try fails.
 */

/**
 * Delivers a batch whose intent is already written, then settles it: confirms what the
 * destination took (the ledger), files dead letters for what it refused, and clears the intent —
 * in that order, so a crash at any point leaves the intent for {@link settleIntent}. Throws what
 * the destination threw (the caller retries or gives up; the intent stays).
 */
export async function deliverAndSettle(args: {
  store: StateStore;
  pipeline: string;
  destinationId: string;
  type: string;
  destination: Destination;
  batch: DeliveryBatch;
  file: (letters: DeadLetter[]) => Promise<unknown>;
}): Promise<Settled> {
  const { store, pipeline, destinationId, batch } = args;
  const outcomes = await args.destination.deliver(batch);
  if (outcomes.length !== batch.records.length) {
    throw new ScoreBridgeError(
      'internal',
      `[${args.type}] returned ${outcomes.length} outcomes for ${batch.records.length} records`,
    );
  }
  const delivered = outcomes
    .filter((o) => o.status === 'delivered')
    .map((o) => [o.recordKey, o.contentHash] as const);
  await store.confirm(pipeline, destinationId, delivered);
  const rejected: DeadLetter[] = outcomes.flatMap((o) =>
    o.status === 'rejected'
      ? [
          {
            ...letter(o.kind, destinationId, o.reason, batch.window!, {
              recordKey: o.recordKey,
              contentHash: o.contentHash,
              code: o.code,
            }),
            batch: batch.id,
          },
        ]
      : [],
  );
  await args.file(rejected);
  await store.clearIntent(pipeline, destinationId, batch.id);
  return { delivered, rejected };
}

/**
 * A batch announced but never settled (a crash, or a run that gave up on it). A destination that
 * can read back and holds it settles it: confirmed. Otherwise it is sent again exactly as it was
 * — formed again by {@link rebuildBatch} from `records()` (its window fetched again, or a job's
 * sealed records), same id, same webhook-ids — and settled as any delivery; entries no longer
 * found become retryable dead letters. Throws what the destination threw (the intent stays).
 */
export async function settlePending(args: {
  store: StateStore;
  pipeline: string;
  destinationId: string;
  type: string;
  destination: Destination;
  intent: DeliveryIntent;
  records: () => Promise<Iterable<ScoreRecord>>;
  file: (letters: DeadLetter[]) => Promise<unknown>;
}): Promise<Settled & { readonly resent: boolean }> {
  const { store, pipeline, destinationId, destination, intent } = args;
  if (await destination.delivered?.(intent.batchId)) {
    await store.confirm(pipeline, destinationId, intent.entries);
    await store.clearIntent(pipeline, destinationId, intent.batchId);
    return { delivered: intent.entries, rejected: [], resent: false };
  }
  if (!intent.window) {
    // An intent of an earlier release says no window to read again: as that release did, it is
    // cleared and its records flow as usual.
    await store.clearIntent(pipeline, destinationId, intent.batchId);
    return { delivered: [], rejected: [], resent: false };
  }
  const { window } = intent;
  const { batch, missing } = rebuildBatch(
    pipeline,
    destinationId,
    { ...intent, window },
    await args.records(),
  );
  const lost = missing
    .map(([recordKey, contentHash]) =>
      letter(
        'rejected',
        destinationId,
        'pending since a crash, but no longer served in its window by the source',
        window,
        {
          recordKey,
          contentHash,
          code: 'NOT_FOUND_AGAIN',
          identity: `undelivered|${recordKey}|${contentHash}`,
        },
      ),
    )
    .map((l) => ({ ...l, retryable: true as const }));
  let outcome: Settled = { delivered: [], rejected: [] };
  if (batch.records.length > 0) {
    // The rebuilt batch has another id when entries are missing: announce that one too.
    if (batch.id !== intent.batchId)
      await store.addIntent(pipeline, destinationId, intentOf(batch, intent.job));
    outcome = await deliverAndSettle({ ...args, batch });
  }
  await args.file(lost);
  await store.clearIntent(pipeline, destinationId, intent.batchId);
  return { ...outcome, rejected: [...outcome.rejected, ...lost], resent: true };
}

/** What became of one try at delivering a batch (see {@link deliverBatch}). */
export type DeliveryResult =
  | { readonly status: 'done'; readonly settled: Settled }
  /** Worth another try after `delayMs` (backoff). */
  | { readonly status: 'retry'; readonly delayMs: number; readonly failure: SerializedError }
  /**
   * The destination said when (Retry-After): wait `seconds`, this destination only. The batch did
   * not land ("not now").
   */
  | { readonly status: 'pause'; readonly seconds: number; readonly failure: SerializedError }
  /** Given up: its records are retryable dead letters until a later delivery takes them. */
  | { readonly status: 'gave-up'; readonly failure: SerializedError }
  /** Stopped from outside (Ctrl-C, a cancelled run) while failing: nothing given up. */
  | { readonly status: 'stopped'; readonly failure: SerializedError };

/** What a delivery (or a pending batch settled) did. */
export interface Settled {
  readonly delivered: readonly (readonly [string, string])[];
  readonly rejected: DeadLetter[];
  /** A pending batch sent again (not only confirmed by asking the destination). */
  readonly resent?: boolean;
}

/** Where a delivery goes, and who hears of it. */
export interface DeliveryTarget {
  readonly store: StateStore;
  readonly pipeline: string;
  readonly config: { readonly id: string; readonly type: string };
  readonly destination: Destination;
  readonly alerter?: Alerter;
  readonly logger: DestinationLogger;
}

/**
 * One try at delivering a batch whose intent is written — `send` is {@link deliverAndSettle} or
 * {@link settlePending} — and the one rule both executors follow when it fails:
 *
 * - delivered: records an earlier run gave up on (their `undelivered` dead letters) are resolved;
 * - the destination said when (`retryAfterSeconds`, retryable) and it is at most `maxPauseSeconds`:
 *   `pause` — past {@link MAX_ROUTINE_PAUSE_SECONDS} it is worth an alert;
 * - otherwise retryable with tries left: `retry` after backoff;
 * - otherwise `gave-up`: unless the destination can read back and holds the batch (confirmed),
 *   its intent stays, so the next run sends it again exactly as it was, and each record is a
 *   retryable dead letter meanwhile, with an alert.
 *
 * `attempt` is 1-based, of `attempts`; `countPauses: false` when a pause uses no try (BullMQ's
 * rate limit).
 */
export async function deliverBatch(
  target: DeliveryTarget,
  args: {
    readonly batchId: string;
    readonly send: () => Promise<Settled>;
    readonly attempt: number;
    readonly attempts: number;
    readonly maxPauseSeconds: number;
    readonly countPauses: boolean;
    readonly stopped?: () => boolean | Promise<boolean>;
    /** The window to file give-up dead letters under when the intent has none (earlier releases). */
    readonly window: { readonly from: string; readonly to: string };
    readonly retry?: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>;
  },
): Promise<DeliveryResult> {
  const { store, pipeline, config } = target;
  try {
    const settled = await args.send();
    await store.resolveDeadLetters(
      pipeline,
      settled.delivered.map(([key, h]) => undeliveredId(config.id, key, h)),
    );
    return { status: 'done', settled };
  } catch (error) {
    const failure = serializeError(error);
    if (await args.stopped?.()) return { status: 'stopped', failure };
    const asked = (error as { retryAfterSeconds?: number }).retryAfterSeconds;
    const triesLeft = args.attempt < args.attempts;
    if (isRetryable(failure.kind) && asked !== undefined && asked <= args.maxPauseSeconds) {
      if (triesLeft || !args.countPauses) {
        const alert = destinationAlert(config, failure);
        if (alert && asked > MAX_ROUTINE_PAUSE_SECONDS) await target.alerter?.open(alert);
        return { status: 'pause', seconds: asked, failure };
      }
    } else if (isRetryable(failure.kind) && asked === undefined && triesLeft) {
      const delayMs = backoffDelay(args.attempt, args.retry ?? DEFAULT_RETRY_POLICY);
      return { status: 'retry', delayMs, failure };
    }
    await giveUp(target, args.batchId, args.window, failure);
    return { status: 'gave-up', failure };
  }
}

/** The last try failed: see {@link deliverBatch}. */
async function giveUp(
  target: DeliveryTarget,
  batchId: string,
  fallback: { readonly from: string; readonly to: string },
  failure: SerializedError,
): Promise<void> {
  const { store, pipeline, config, destination } = target;
  let intent: DeliveryIntent | undefined;
  try {
    intent = (await store.intents(pipeline, config.id)).find((i) => i.batchId === batchId);
    if (intent && (await destination.delivered?.(intent.batchId).catch(() => false))) {
      await store.confirm(pipeline, config.id, intent.entries);
      await store.clearIntent(pipeline, config.id, intent.batchId);
      return;
    }
    if (intent) await store.addDeadLetters(pipeline, givenUp(config.id, intent, fallback, failure));
  } catch (error) {
    // The state could not be written either: the intent stays, and the next run settles it.
    target.logger.warn(`[${config.type}] ${config.id}: giving up could not be recorded`, {
      error: serializeError(error),
    });
  }
  target.logger.error(
    `[${config.type}] ${config.id}: giving up for this run: ${intent?.entries.length ?? 0} record(s) wait as dead letters until a later run delivers them`,
    { error: failure },
  );
  const alert = destinationAlert(config, failure);
  if (alert) await target.alerter?.open(alert);
}

/** The retryable dead letters of a batch given up: resolved when a later delivery takes them. */
function givenUp(
  destination: string,
  intent: DeliveryIntent,
  fallback: { readonly from: string; readonly to: string },
  failure: SerializedError,
): DeadLetter[] {
  const window = intent.window ?? fallback;
  return intent.entries.map(([recordKey, contentHash]) => ({
    ...letter('rejected', destination, `not delivered: ${failure.message}`, window, {
      recordKey,
      contentHash,
      code: failure.kind,
      identity: `undelivered|${recordKey}|${contentHash}`,
    }),
    retryable: true as const,
  }));
}

/** The dead-letter id of a record a destination never took (so a later delivery can clear it). */
export const undeliveredId = (destination: string, recordKey: string, contentHash: string) =>
  letterId('rejected', destination, `undelivered|${recordKey}|${contentHash}`);
