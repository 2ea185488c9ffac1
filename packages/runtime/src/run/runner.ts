import {
  ConfigError,
  createToeflAccessClient,
  type DeliveryBatch,
  type DestinationAdapter,
  type DestinationLogger,
  pause,
  type ScoreRecord,
  type SerializedError,
  type Slice,
  type SourceEvent,
  serializeError,
  silentLogger,
  type ToeflAccessClient,
  type ToeflAccessClientOptions,
} from '@scorebridge/core';
import { serverErrorStreak, sourceAlert } from '../alerts/alerts.js';
import { clockFrom } from '../clock.js';
import type { Pipeline } from '../config/load.js';
import type { DestinationConfig } from '../config/schema.js';
import type { DeadLetter, StateStore } from '../state/store.js';
import { batchOf, intentOf, readWindow } from './batches.js';
import { type PipelineContext, pipelineContext } from './context.js';
import {
  type DeliveryTarget,
  deliverAndSettle,
  deliverBatch,
  type Settled,
  settlePending,
} from './deliver.js';
import { finishRun } from './finish.js';
import {
  addFresh,
  type FreshLetters,
  fileLetters,
  parseDeadLetters,
  refusedBy,
} from './letters.js';
import { confirmedThrough, MAX_ROUTINE_PAUSE_SECONDS, passes, planWindow } from './plan.js';
import { selectForDelivery, type UpdateCounts, updateClassifier } from './versions.js';

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
  readonly config: DestinationConfig;
  readonly delivery: DeliveryTarget;
  readonly summary: DestinationSummary;
  ledger: Set<string>;
  cursor: Date | undefined;
  /** Versions this destination refused (open dead letters): not sent again unless replayed. */
  refused: Set<string>;
  readonly outcomes?: Map<string, 'delivered' | 'superseded' | 'rejected'>;
}

/** One slice read whole: its records to deliver (with their places), its dead letters, counts. */
interface SliceRead {
  readonly read: ScoreRecord[];
  readonly seqs: Map<string, number>;
  readonly deadLetters: DeadLetter[];
  fetched: number;
  parseIssues: number;
  filtered: number;
  /** Held by every destination still going: counted, not kept (nothing to decide). */
  held: number;
  interrupted: boolean;
  error: unknown;
}

/**
 * Runs a pipeline once, inline: plan the window from the destinations' cursors → fetch slices →
 * parse → filter → per destination skip what its ledger holds → deliver in batches → record
 * outcomes → dead-letter rejects and parse issues → advance each cursor only over slices that
 * destination confirmed. A crash at any point loses nothing: each batch is announced (an intent)
 * before delivery and settled after; the next run asks the destination about unsettled ones.
 * The stages are those worker mode runs (`./plan`, `./versions`, `./batches`, `./deliver`,
 * `./letters`, `./finish`); this module only orders them in one process.
 */
export async function runPipeline(options: RunOptions): Promise<RunSummary> {
  const { pipeline, store } = options;
  const dryRun = options.dryRun ?? false;
  const release = dryRun ? async () => {} : await store.lock(pipeline.config.name);
  const ctx = pipelineContext({
    pipeline,
    adapters: options.adapters,
    store,
    logger: options.logger ?? silentLogger,
    clock: clockFrom(options.now),
    alerts: !dryRun,
    client: options.client,
    missing: (message) => new ConfigError(message),
  });
  try {
    const run = new InlineRun(options, ctx);
    await run.prepare();
    return await run.go();
  } finally {
    await ctx.close();
    await release();
  }
}

/** One inline run: its targets, its tally, and the stages in order. */
class InlineRun {
  private readonly targets: Target[] = [];
  private readonly dryRun: boolean;
  private readonly now: Date;
  private readonly known = new Set<string>();
  private readonly fresh: FreshLetters = {};
  private readonly streak = serverErrorStreak();
  private readonly seen = new Set<string>();
  private readonly classifier: ReturnType<typeof updateClassifier>;
  private readonly client: ToeflAccessClient;
  private summary!: RunSummary;
  /** Reports a slice shares with the one read before it, read once (the client skips them). */
  private previous = new Set<string>();

  constructor(
    private readonly options: RunOptions,
    private readonly ctx: PipelineContext,
  ) {
    this.dryRun = options.dryRun ?? false;
    this.now = ctx.clock();
    this.classifier = updateClassifier(ctx.store, ctx.name, ctx.pipeline.layouts, {
      dryRun: this.dryRun,
    });
    this.client = createToeflAccessClient({
      ...ctx.clientOptions,
      signal: options.signal,
      onEvent: (event) => {
        this.streak.observe(event);
        options.onEvent?.({ type: 'source', event });
      },
    });
  }

  private get interrupted() {
    return this.options.signal?.aborted === true;
  }

  /** Every destination with its ledger, cursor and refusals; the window; the summary. */
  async prepare(): Promise<void> {
    const { ctx, options } = this;
    const openLetters = await ctx.store.deadLetters(ctx.name);
    for (const l of openLetters) this.known.add(l.id);
    for (const d of ctx.pipeline.config.destinations) {
      if (options.only && !options.only.destinations.has(d.id)) continue;
      const outcomes = options.only
        ? new Map<string, 'delivered' | 'superseded' | 'rejected'>()
        : undefined;
      this.targets.push({
        config: d,
        delivery: ctx.target(d.id),
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
        ledger: await ctx.store.ledger(ctx.name, d.id),
        cursor: await ctx.store.cursor(ctx.name, d.id),
        refused: refusedBy(openLetters, d.id),
        ...(outcomes ? { outcomes } : {}),
      });
    }
    const window = planWindow(
      ctx.pipeline.config,
      this.targets.map((t) => t.cursor),
      this.now,
      options.from,
      options.to,
    );
    this.summary = {
      pipeline: ctx.name,
      window: window ? { from: window.from.toISOString(), to: window.to.toISOString() } : null,
      slices: 0,
      fetched: 0,
      parseIssues: 0,
      destinations: this.targets.map((t) => t.summary),
      dryRun: this.dryRun,
      updates: this.classifier.counts,
      deadLettersSeen: this.seen,
      ok: true,
    };
  }

  /**
   * Batches an earlier run left unsettled go first, exactly as they were; then the slices,
   * newest first: the first version of a key the run meets is its newest, and the older ones met
   * after it are superseded — a run delivers one version per key, the newest it read. The next
   * slice streams in while this one is delivered (one slice ahead, no more).
   */
  async go(): Promise<RunSummary> {
    const { summary, options } = this;
    if (!this.dryRun) for (const t of this.targets) await this.settlePendingOf(t);
    const window = summary.window && {
      from: new Date(summary.window.from),
      to: new Date(summary.window.to),
    };
    if (!window) return this.finish();
    const slices = this.client.plan(window.from, window.to);
    (summary as { slices: number }).slices = slices.length;
    options.onEvent?.({ type: 'plan', window, slices: slices.length });
    const order = [...slices.keys()].reverse();
    const confirmed = new Map(this.targets.map((t) => [t, new Set<number>()]));
    let ahead = order.length > 0 ? this.readSlice(slices[order[0]!]!) : undefined;
    try {
      for (const [ordinal, index] of order.entries()) {
        const got = await ahead!;
        ahead = undefined;
        if (!(await this.takeSlice(got))) break;
        const next = order[ordinal + 1];
        if (next !== undefined) ahead = this.readSlice(slices[next]!);
        await this.deliverSliceAll(got, slices[index]!, (t) => confirmed.get(t)!.add(index));
        options.onEvent?.({
          type: 'slice',
          index: ordinal,
          slices: slices.length,
          slice: slices[index]!,
          fetched: summary.fetched,
        });
      }
    } finally {
      // A slice read ahead and not reached (the run stopped): its records are read again next run.
      await ahead;
    }
    const backfill = options.from !== undefined || options.to !== undefined || !!options.only;
    if (!this.dryRun && !backfill) await this.moveCursors(slices, confirmed);
    return this.finish();
  }

  /** Counts a slice read and files its dead letters; false when the run stops here. */
  private async takeSlice(got: SliceRead): Promise<boolean> {
    const { summary } = this;
    summary.fetched += got.fetched;
    summary.parseIssues += got.parseIssues;
    await this.file(got.deadLetters);
    if (got.error instanceof ConfigError) throw got.error;
    if (got.interrupted || this.interrupted) return false;
    if (got.error) {
      summary.sourceFailed = serializeError(got.error);
      summary.ok = false;
      const alert = sourceAlert(summary.sourceFailed);
      if (alert) await this.ctx.alerter?.open(alert);
      return false;
    }
    return true;
  }

  /** Reads one slice whole. Never throws: a failure is returned, for its turn. */
  private async readSlice(slice: Slice): Promise<SliceRead> {
    const { options, targets } = this;
    const config = this.ctx.pipeline.config;
    const current = new Set(this.previous);
    const got: SliceRead = {
      read: [],
      seqs: new Map(),
      deadLetters: [],
      fetched: 0,
      parseIssues: 0,
      filtered: 0,
      held: 0,
      interrupted: false,
      error: undefined,
    };
    const replay = options.only;
    try {
      for await (const batch of this.client.fetchSlice(slice, current)) {
        // Interrupted (Ctrl-C): stop here; this slice's cursor does not move, nothing is lost.
        if (this.interrupted) {
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
          if (!passes(config, record)) got.filtered++;
          else if (replay) {
            if (
              replay.versions?.has(record.contentHash) ||
              replay.recordKeys?.has(record.recordKey)
            ) {
              got.seqs.set(record.contentHash, place);
              got.read.push(record);
            }
          } else if (targets.every((t) => t.summary.failed || t.ledger.has(record.contentHash)))
            got.held++;
          else {
            got.seqs.set(record.contentHash, place);
            got.read.push(record);
          }
        }
      }
      this.previous = new Set([...current].filter((id) => !this.previous.has(id)));
    } catch (error) {
      got.error = error;
      got.interrupted = this.interrupted;
    }
    return got;
  }

  /** A slice's records to every destination still going; `confirmed` for those that kept up. */
  private async deliverSliceAll(got: SliceRead, slice: Slice, confirmed: (t: Target) => void) {
    for (const t of this.targets)
      if (!t.summary.failed) {
        t.summary.filtered += got.filtered;
        t.summary.unchanged += got.held;
      }
    if (got.read.length > 0) await this.classifier.classify(got.read, slice, got.seqs);
    for (const t of this.targets) {
      if (t.summary.failed) continue;
      await this.deliverSlice(t, got.read, slice);
      if (!t.summary.failed) confirmed(t);
    }
  }

  /** The cursor moves only over slices this destination fully confirmed (or dead-lettered). */
  private async moveCursors(slices: readonly Slice[], confirmed: Map<Target, Set<number>>) {
    for (const t of this.targets) {
      const upTo = confirmedThrough(slices.length, (i) => confirmed.get(t)!.has(i));
      const end = upTo >= 0 ? slices[upTo]!.to : undefined;
      if (end && (!t.cursor || end > t.cursor)) {
        await this.ctx.store.setCursor(this.ctx.name, t.config.id, end);
        t.cursor = end;
      }
    }
  }

  /** Files dead letters not already open; counts the fresh ones by kind (for the alert). */
  private readonly file = async (letters: DeadLetter[]): Promise<void> => {
    const fresh = letters.filter((l) => {
      this.seen.add(l.id);
      return !this.known.has(l.id);
    });
    for (const l of fresh) this.known.add(l.id);
    if (fresh.length > 0 && !this.dryRun)
      addFresh(this.fresh, await fileLetters(this.ctx.store, this.ctx.name, fresh));
  };

  /**
   * Batches an earlier run announced and never settled, settled before any new batch forms:
   * by asking the destination, or by sending each again exactly as it was (its window read
   * again, one fetch per window). A destination that fails here is given up for this run.
   */
  private async settlePendingOf(t: Target): Promise<void> {
    const { store, name } = this.ctx;
    const windows = new Map<string, Promise<ScoreRecord[]>>();
    for (const intent of await store.intents(name, t.config.id)) {
      if (t.summary.failed) return;
      const window = intent.window;
      const records = () => {
        if (!window) return Promise.resolve([]);
        const key = `${window.from}|${window.to}`;
        if (!windows.has(key)) windows.set(key, readWindow(this.client, window));
        return windows.get(key)!;
      };
      const settle = async () => {
        const settled = await settlePending({
          ...this.deliveryArgs(t),
          intent,
          records,
        });
        if (settled.resent) t.summary.resent++;
        return settled;
      };
      await this.attempt(t, settle, intent.batchId, intent.window, true);
    }
  }

  /** A slice's records for one destination: the delivery rules, then batches of batchSize. */
  private async deliverSlice(t: Target, read: readonly ScoreRecord[], slice: Slice) {
    const replay = this.options.only;
    const selection = await selectForDelivery({
      versions: this.classifier.versions,
      pipeline: this.ctx.name,
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
      await this.flush(t, send.slice(i, i + t.config.batchSize), slice);
  }

  private async flush(t: Target, records: ScoreRecord[], slice: Slice): Promise<void> {
    if (records.length === 0) return;
    const { store, name } = this.ctx;
    const updates = await this.classifier.classify(records, slice);
    const batch = batchOf(name, t.config.id, records, slice, updates);
    if (this.dryRun) {
      // What the destination would refuse whatever happens (a format it cannot write).
      const refused = records.filter((r) => t.delivery.destination.refuses?.(r) !== undefined);
      t.summary.delivered += records.length - refused.length;
      t.summary.deadLettered += refused.length;
      return;
    }
    await store.addIntent(name, t.config.id, intentOf(batch));
    const send = () => deliverAndSettle({ ...this.deliveryArgs(t), batch });
    await this.attempt(t, send, batch.id, batch.window);
  }

  private deliveryArgs(t: Target) {
    return {
      store: this.ctx.store,
      pipeline: this.ctx.name,
      destinationId: t.config.id,
      type: t.config.type,
      destination: t.delivery.destination,
      file: this.file,
    };
  }

  /**
   * Delivers (a batch, or a pending batch re-sent) by the rule both executors share
   * ({@link deliverBatch}): tries again in this process, waiting what the destination asks up to
   * {@link MAX_ROUTINE_PAUSE_SECONDS}; a destination given up stops for this run, its intent kept.
   */
  private async attempt(
    t: Target,
    send: () => Promise<Settled>,
    batchId: string,
    window: DeliveryBatch['window'],
    resending = false,
  ): Promise<void> {
    const attempts = (this.options.deliveryRetries ?? 3) + 1;
    for (let attempt = 1; ; attempt++) {
      const result = await deliverBatch(t.delivery, {
        batchId,
        send,
        attempt,
        attempts,
        maxPauseSeconds: MAX_ROUTINE_PAUSE_SECONDS,
        countPauses: true,
        stopped: () => this.interrupted,
        window: window ?? this.summary.window ?? { from: '', to: '' },
      });
      if (result.status === 'done') return this.count(t, result.settled, batchId, resending);
      if (result.status === 'stopped') {
        // Interrupted while retrying: not the destination's fault; the intent stays.
        t.summary.failed = result.failure;
        return;
      }
      if (result.status === 'gave-up') {
        t.summary.failed = result.failure;
        this.summary.ok = false;
        return;
      }
      const delayMs = result.status === 'pause' ? result.seconds * 1000 : result.delayMs;
      this.options.onEvent?.({
        type: 'retry',
        destination: t.config.id,
        attempt,
        attempts,
        delayMs,
        error: result.failure,
      });
      await pause(delayMs, this.options.signal).catch(() => undefined);
    }
  }

  private count(t: Target, settled: Settled, batchId: string, resending: boolean): void {
    const { delivered, rejected } = settled;
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
    this.options.onEvent?.({
      type: 'delivered',
      destination: t.config.id,
      batchId,
      delivered: delivered.length,
      rejected: rejected.length,
    });
  }

  private async finish(): Promise<RunSummary> {
    const { summary } = this;
    if (this.interrupted) {
      summary.interrupted = true;
      summary.ok = false;
    }
    for (const t of this.targets) if (t.cursor) t.summary.cursor = t.cursor.toISOString();
    if (this.dryRun) return summary;
    await finishRun(this.ctx, {
      startedAt: this.now.toISOString(),
      ok: summary.ok,
      interrupted: summary.interrupted ?? false,
      window: summary.window,
      parseIssues: summary.parseIssues,
      updates: summary.updates,
      destinations: summary.destinations.map((d) => ({
        id: d.id,
        ...countsOf(d),
        ...(d.failed ? { failed: d.failed.message } : {}),
      })),
      sourceOk: !summary.sourceFailed,
      consecutive500s: this.streak.longest,
      freshDeadLetters: this.fresh,
    });
    return summary;
  }
}
