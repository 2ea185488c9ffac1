import {
  backoffDelay,
  ConfigError,
  createToeflAccessClient,
  DEFAULT_RETRY_POLICY,
  type Destination,
  type DestinationAdapter,
  type DestinationLogger,
  isRetryable,
  pause,
  type ScoreRecord,
  type SerializedError,
  type Slice,
  type SourceEvent,
  serializeError,
  silentLogger,
  type ToeflAccessClientOptions,
} from '@scorebridge/core';
import {
  alertAfterRun,
  destinationAlert,
  pipelineAlerter,
  serverErrorStreak,
  sourceAlert,
} from '../alerts/alerts.js';
import { clockFrom } from '../clock.js';
import { destinationContext, type Pipeline } from '../config/load.js';
import type { PipelineConfig } from '../config/schema.js';
import type { DeadLetter, StateStore } from '../state/store.js';
import {
  batchOf,
  confirmedThrough,
  deliverAndSettle,
  intentOf,
  MAX_ROUTINE_PAUSE_SECONDS,
  parseDeadLetters,
  passes,
  planWindow,
  readWindow,
  refusedBy,
  selectForDelivery,
  settlePending,
  type UpdateCounts,
  updateClassifier,
} from './stages.js';

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
  | { type: 'plan'; window: Slice; slices: number }
  | { type: 'slice'; index: number; slices: number; slice: Slice; fetched: number }
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

interface Target {
  readonly config: PipelineConfig['destinations'][number];
  readonly destination: Destination;
  readonly summary: DestinationSummary;
  ledger: Set<string>;
  cursor: Date | undefined;
  /** Versions this destination refused (open dead letters): not sent again unless replayed. */
  refused: Set<string>;
  readonly outcomes?: Map<string, 'delivered' | 'superseded' | 'rejected'>;
}

/**
 * Runs a pipeline once, inline: plan the window from the destinations' cursors → fetch slices →
 * parse → filter → per destination skip what its ledger holds → deliver in batches → record
 * outcomes → dead-letter rejects and parse issues → advance each cursor only over slices that
 * destination confirmed. A crash at any point loses nothing: each batch is announced (an intent)
 * before delivery and settled after; the next run asks the destination about unsettled ones.
 */
export async function runPipeline(options: RunOptions): Promise<RunSummary> {
  const { pipeline, store } = options;
  const { config } = pipeline;
  const name = config.name;
  const dryRun = options.dryRun ?? false;
  const release = dryRun ? async () => {} : await store.lock(name);
  const logger = options.logger ?? silentLogger;
  const clock = clockFrom(options.now);
  const now = clock();
  const alerter = dryRun ? undefined : pipelineAlerter(pipeline, store, logger, clock);
  const targets: Target[] = [];
  const replay = options.only;
  try {
    const openLetters = await store.deadLetters(name);
    for (const d of config.destinations) {
      if (options.only && !options.only.destinations.has(d.id)) continue;
      const adapter = options.adapters.find((a) => a.type === d.type);
      if (!adapter)
        throw new ConfigError(
          `${pipeline.file}: destination ${d.id}: no adapter of type ${d.type}`,
        );
      const outcomes = replay
        ? new Map<string, 'delivered' | 'superseded' | 'rejected'>()
        : undefined;
      targets.push({
        config: d,
        destination: adapter.create(d.options, destinationContext(pipeline, d.id, logger)),
        summary: {
          id: d.id,
          type: d.type,
          delivered: 0,
          unchanged: 0,
          superseded: 0,
          refused: 0,
          filtered: 0,
          deadLettered: 0,
          resent: 0,
          ...(outcomes ? { outcomes } : {}),
        },
        ledger: await store.ledger(name, d.id),
        cursor: await store.cursor(name, d.id),
        refused: refusedBy(openLetters, d.id),
        ...(outcomes ? { outcomes } : {}),
      });
    }

    const classifier = updateClassifier(store, name, pipeline.layouts, { dryRun });
    const known = new Set(openLetters.map((l) => l.id));
    const freshByKind: Record<string, number> = {};
    const streak = serverErrorStreak();
    const seen = new Set<string>();
    const window = planWindow(
      config,
      targets.map((t) => t.cursor),
      now,
      options.from,
      options.to,
    );
    const summary: RunSummary = {
      pipeline: name,
      window: window ? { from: window.from.toISOString(), to: window.to.toISOString() } : null,
      slices: 0,
      fetched: 0,
      parseIssues: 0,
      destinations: targets.map((t) => t.summary),
      dryRun,
      updates: classifier.counts,
      deadLettersSeen: seen,
      ok: true,
    };

    const client = createToeflAccessClient({
      ...sourceClientOptions(pipeline),
      signal: options.signal,
      onEvent: (event) => {
        streak.observe(event);
        options.onEvent?.({ type: 'source', event });
      },
      ...options.client,
    });
    // Batches an earlier run left unsettled go first, exactly as they were.
    if (!dryRun) for (const t of targets) await settlePendingOf(t, client);
    if (!window) return await finish(summary);
    const slices = client.plan(window.from, window.to);
    (summary as { slices: number }).slices = slices.length;
    options.onEvent?.({ type: 'plan', window, slices: slices.length });
    const backfill =
      options.from !== undefined || options.to !== undefined || options.only !== undefined;

    // Newest slice first: the first version of a key the run meets is its newest, and the older
    // ones met after it are superseded — a run delivers one version per key, the newest it read.
    // A cursor moves only over an unbroken run of confirmed slices from the first, so it moves
    // once the run has confirmed the oldest slice.
    const order = [...slices.keys()].reverse();
    const confirmed = new Map(targets.map((t) => [t, new Set<number>()]));
    const interrupted = () => options.signal?.aborted === true;
    /** Reports a slice shares with the one read before it, read once (the client skips them). */
    let previous = new Set<string>();
    /**
     * Reads one slice whole: its records to deliver (with their places in the response), its
     * parse dead letters and counts. Never throws: a failure is returned, for its turn.
     */
    const readSlice = async (slice: Slice) => {
      const current = new Set(previous);
      const got = {
        read: [] as ScoreRecord[],
        seqs: new Map<string, number>(),
        deadLetters: [] as DeadLetter[],
        fetched: 0,
        parseIssues: 0,
        filtered: 0,
        /** Held by every destination still going: counted, not kept (nothing to decide). */
        held: 0,
        interrupted: false,
        error: undefined as unknown,
      };
      try {
        for await (const batch of client.fetchSlice(slice, current)) {
          // Interrupted (Ctrl-C): stop here; this slice's cursor does not move, nothing is lost.
          if (interrupted()) {
            got.interrupted = true;
            return got;
          }
          for (const entry of batch) {
            const place = got.fetched++;
            if (entry.issues.length > 0) {
              got.parseIssues++;
              got.deadLetters.push(...parseDeadLetters(entry, slice));
              continue;
            }
            const record = entry.record!;
            if (!passes(config, record)) {
              got.filtered++;
              continue;
            }
            if (
              replay &&
              !replay.versions?.has(record.contentHash) &&
              !replay.recordKeys?.has(record.recordKey)
            )
              continue;
            if (
              !replay &&
              targets.every((t) => t.summary.failed || t.ledger.has(record.contentHash))
            ) {
              got.held++;
              continue;
            }
            got.seqs.set(record.contentHash, place);
            got.read.push(record);
          }
        }
        previous = new Set([...current].filter((id) => !previous.has(id)));
      } catch (error) {
        got.error = error;
        got.interrupted = interrupted();
      }
      return got;
    };
    // The next slice streams in while this one is delivered (one slice ahead, no more).
    let ahead = order.length > 0 ? readSlice(slices[order[0]!]!) : undefined;
    try {
      for (const [ordinal, index] of order.entries()) {
        const slice = slices[index]!;
        const got = await ahead!;
        ahead = undefined;
        summary.fetched += got.fetched;
        summary.parseIssues += got.parseIssues;
        await file(got.deadLetters);
        if (got.error instanceof ConfigError) throw got.error;
        if (got.interrupted || interrupted()) break;
        if (got.error) {
          summary.sourceFailed = serializeError(got.error);
          summary.ok = false;
          const alert = sourceAlert(summary.sourceFailed);
          if (alert) await alerter?.open(alert);
          break;
        }
        const next = order[ordinal + 1];
        if (next !== undefined) ahead = readSlice(slices[next]!);
        for (const t of targets)
          if (!t.summary.failed) {
            t.summary.filtered += got.filtered;
            t.summary.unchanged += got.held;
          }
        if (got.read.length > 0) await classifier.classify(got.read, slice, got.seqs);
        for (const t of targets) {
          if (t.summary.failed) continue;
          await deliverSlice(t, got.read, slice);
          if (!t.summary.failed) confirmed.get(t)!.add(index);
        }
        options.onEvent?.({
          type: 'slice',
          index: ordinal,
          slices: slices.length,
          slice,
          fetched: summary.fetched,
        });
      }
    } finally {
      // A slice read ahead and not reached (the run stopped): its records are read again next run.
      await ahead;
    }
    // The cursor moves only over slices this destination fully confirmed (or dead-lettered).
    if (!dryRun && !backfill)
      for (const t of targets) {
        const upTo = confirmedThrough(slices.length, (i) => confirmed.get(t)!.has(i));
        const end = upTo >= 0 ? slices[upTo]!.to : undefined;
        if (end && (!t.cursor || end > t.cursor)) {
          await store.setCursor(name, t.config.id, end);
          t.cursor = end;
        }
      }
    return await finish(summary);

    async function file(letters: DeadLetter[]): Promise<void> {
      const fresh = letters.filter((l) => {
        seen.add(l.id);
        return !known.has(l.id);
      });
      for (const l of fresh) {
        known.add(l.id);
        freshByKind[l.kind] = (freshByKind[l.kind] ?? 0) + 1;
      }
      if (fresh.length > 0 && !dryRun) await store.addDeadLetters(name, fresh);
    }

    /**
     * Batches an earlier run announced and never settled, settled before any new batch forms:
     * by asking the destination, or by sending each again exactly as it was (its window read
     * again, one fetch per window). A destination that fails here is given up for this run.
     */
    async function settlePendingOf(t: Target, source: typeof client): Promise<void> {
      const windows = new Map<string, Promise<ScoreRecord[]>>();
      for (const intent of await store.intents(name, t.config.id)) {
        if (t.summary.failed) return;
        const window = intent.window;
        const records = () => {
          if (!window) return Promise.resolve([]);
          const key = `${window.from}|${window.to}`;
          if (!windows.has(key)) windows.set(key, readWindow(source, window));
          return windows.get(key)!;
        };
        await attempt(
          t,
          async () => {
            const settled = await settlePending({
              store,
              pipeline: name,
              destinationId: t.config.id,
              type: t.config.type,
              destination: t.destination,
              intent,
              records,
              file,
            });
            if (settled.resent) t.summary.resent++;
            return settled;
          },
          intent.batchId,
          true,
        );
      }
    }

    /** A slice's records for one destination: the delivery rules, then batches of batchSize. */
    async function deliverSlice(t: Target, read: readonly ScoreRecord[], slice: Slice) {
      const selection = await selectForDelivery({
        versions: classifier.versions,
        pipeline: name,
        records: read,
        held: read.map((r) => t.ledger.has(r.contentHash)),
        refused: t.refused,
        // A replay reads only the versions it replays: each is sent even if held or refused.
        replay: replay ? new Set(read.map((r) => r.contentHash)) : undefined,
      });
      t.summary.unchanged += selection.unchanged;
      t.summary.superseded += selection.superseded.length;
      t.summary.refused += selection.refused;
      for (const r of selection.superseded) t.outcomes?.set(r.contentHash, 'superseded');
      const { send } = selection;
      for (let i = 0; i < send.length && !t.summary.failed; i += t.config.batchSize)
        await flush(t, send.slice(i, i + t.config.batchSize), slice);
    }

    async function flush(t: Target, records: ScoreRecord[], slice: Slice): Promise<void> {
      if (records.length === 0) return;
      const batch = batchOf(
        name,
        t.config.id,
        records,
        slice,
        await classifier.classify(records, slice),
      );
      if (dryRun) {
        // What the destination would refuse whatever happens (a format it cannot write).
        const refused = records.filter((r) => t.destination.refuses?.(r) !== undefined).length;
        t.summary.delivered += records.length - refused;
        t.summary.deadLettered += refused;
        return;
      }
      await store.addIntent(name, t.config.id, intentOf(batch));
      await attempt(
        t,
        () =>
          deliverAndSettle({
            store,
            pipeline: name,
            destinationId: t.config.id,
            type: t.config.type,
            destination: t.destination,
            batch,
            file,
          }),
        batch.id,
      );
    }

    /**
     * Delivers (a batch, or a pending batch re-sent), retrying what is worth retrying; a
     * destination that keeps failing is given up for this run, its intent kept for the next.
     */
    async function attempt(
      t: Target,
      deliver: () => Promise<{
        delivered: readonly (readonly [string, string])[];
        rejected: DeadLetter[];
      }>,
      batchId: string,
      resending = false,
    ): Promise<void> {
      const retries = options.deliveryRetries ?? 3;
      for (let attempt = 1; ; attempt++) {
        try {
          const { delivered, rejected } = await deliver();
          for (const [, h] of delivered) {
            t.ledger.add(h);
            t.outcomes?.set(h, 'delivered');
          }
          for (const l of rejected) if (l.contentHash) t.outcomes?.set(l.contentHash, 'rejected');
          // A re-sent batch's records were read by an earlier run: counted apart (resent).
          if (!resending) {
            t.summary.delivered += delivered.length;
            t.summary.deadLettered += rejected.length;
          }
          options.onEvent?.({
            type: 'delivered',
            destination: t.config.id,
            batchId,
            delivered: delivered.length,
            rejected: rejected.length,
          });
          return;
        } catch (error) {
          const failure = serializeError(error);
          // A destination that said how long to wait (Retry-After) is waited for, if that fits a run.
          const asked = (error as { retryAfterSeconds?: number }).retryAfterSeconds;
          if (options.signal?.aborted) {
            // Interrupted while retrying: not the destination's fault; the intent stays.
            t.summary.failed = failure;
            return;
          }
          if (
            !isRetryable(failure.kind) ||
            attempt > retries ||
            (asked !== undefined && asked > MAX_ROUTINE_PAUSE_SECONDS)
          ) {
            // The intent stays: if the batch landed after all, the next run will find out.
            t.summary.failed = failure;
            summary.ok = false;
            logger.error(`[${t.config.type}] ${t.config.id}: giving up for this run`, {
              error: failure,
            });
            const alert = destinationAlert(t.config, failure);
            if (alert) await alerter?.open(alert);
            return;
          }
          const delayMs = Math.max(
            backoffDelay(attempt, DEFAULT_RETRY_POLICY),
            (asked ?? 0) * 1000,
          );
          options.onEvent?.({
            type: 'retry',
            destination: t.config.id,
            attempt,
            attempts: retries + 1,
            delayMs,
            error: failure,
          });
          await pause(delayMs, options.signal).catch(() => undefined);
        }
      }
    }

    async function finish(result: RunSummary): Promise<RunSummary> {
      if (options.signal?.aborted) {
        result.interrupted = true;
        result.ok = false;
      }
      for (const t of targets) if (t.cursor) t.summary.cursor = t.cursor.toISOString();
      if (alerter && !result.interrupted) {
        if (!result.sourceFailed && result.window) await alerter.resolve('source:');
        for (const t of targets)
          if (!t.summary.failed && t.summary.delivered > 0)
            await alerter.resolve(`destination:${t.config.id}`);
        await alertAfterRun(alerter, store, {
          pipeline,
          consecutive500s: streak.longest,
          sourceOk: !result.sourceFailed,
          freshDeadLetters: freshByKind,
          now,
        });
      }
      if (!dryRun) {
        await store.recordRun(name, {
          startedAt: now.toISOString(),
          finishedAt: clock().toISOString(),
          ok: result.ok,
          ...(result.interrupted ? { interrupted: true } : {}),
          window: result.window,
          parseIssues: result.parseIssues,
          ...(Object.keys(result.updates).length > 0 ? { updates: result.updates } : {}),
          destinations: result.destinations.map((d) => ({
            id: d.id,
            ...countsOf(d),
            ...(d.failed ? { failed: d.failed.message } : {}),
          })),
        });
      }
      return result;
    }
  } finally {
    await Promise.allSettled(targets.map((t) => t.destination.close()));
    await release();
  }
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
