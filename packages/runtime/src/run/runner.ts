import {
  ConfigError,
  createToeflAccessClient,
  type Slice,
  serializeError,
  silentLogger,
  type ToeflAccessClient,
} from '@scorebridge/core';
import { serverErrorStreak, sourceAlert } from '../alerts/alerts.js';
import { clockFrom } from '../clock.js';
import type { DeadLetter } from '../state/store.js';
import { type PipelineContext, pipelineContext } from './context.js';
import { finishRun } from './finish.js';
import { type InlineShared, InlineTarget } from './inline-target.js';
import { addFresh, type FreshLetters, fileLetters, refusedBy } from './letters.js';
import { confirmedThrough, planWindow } from './plan.js';
import { readSlice, type SliceRead } from './read.js';
import type { DestinationSummary, RunOptions, RunSummary } from './summary.js';
import { countsOf } from './summary.js';
import { updateClassifier } from './versions.js';

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
  private readonly targets: InlineTarget[] = [];
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

  /** What each destination of the run works with. */
  private get shared(): InlineShared {
    return {
      ctx: this.ctx,
      options: this.options,
      classifier: this.classifier,
      client: this.client,
      dryRun: this.dryRun,
      file: this.file,
      interrupted: () => this.interrupted,
      failed: () => {
        this.summary.ok = false;
      },
      window: () => this.summary.window,
    };
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
      const summary: DestinationSummary = {
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
      };
      this.targets.push(
        new InlineTarget(
          d,
          ctx.target(d.id),
          summary,
          await ctx.store.ledger(ctx.name, d.id),
          await ctx.store.cursor(ctx.name, d.id),
          refusedBy(openLetters, d.id),
          this.shared,
        ),
      );
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
   * after it are superseded — a run delivers one version per key, the newest it read. A slice is
   * read whole before it is delivered, so slices are paced (`SlicePacer`: each sized from the
   * reports the one before held) and what the run holds does not grow with the window. The next
   * slice streams in while this one is delivered (one slice ahead, no more).
   */
  async go(): Promise<RunSummary> {
    const { summary, options } = this;
    if (!this.dryRun) for (const t of this.targets) await t.settlePending();
    const window = summary.window && {
      from: new Date(summary.window.from),
      to: new Date(summary.window.to),
    };
    if (!window) return this.finish();
    const pacer = this.client.pace(window.from, window.to);
    options.onEvent?.({ type: 'plan', window });
    /** The slices read, newest first; by index, the destinations that confirmed each. */
    const read: Slice[] = [];
    const confirmed = new Map(this.targets.map((t) => [t, new Set<number>()]));
    let slice = pacer.next();
    let ahead = slice && this.readSlice(slice);
    try {
      while (slice) {
        const got = await ahead!;
        ahead = undefined;
        if (!(await this.takeSlice(got))) break;
        const index = read.push(slice) - 1;
        const next = pacer.next(got.fetched);
        if (next) ahead = this.readSlice(next);
        await this.deliverSliceAll(got, slice, (t) => confirmed.get(t)!.add(index));
        options.onEvent?.({
          type: 'slice',
          index,
          slice,
          fetched: summary.fetched,
          covered: pacer.covered,
        });
        slice = next;
      }
    } finally {
      // A slice read ahead and not reached (the run stopped): its records are read again next run.
      await ahead;
    }
    (summary as { slices: number }).slices = read.length;
    const backfill = options.from !== undefined || options.to !== undefined || !!options.only;
    // Only a window read to its start can move a cursor (oldest first, up to the first gap).
    if (!this.dryRun && !backfill && !slice) await this.moveCursors(read.reverse(), confirmed);
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
    const current = new Set(this.previous);
    const got = await readSlice(this.client, slice, current, {
      config: this.ctx.pipeline.config,
      layouts: this.ctx.pipeline.layouts,
      replay: this.options.only,
      held: (r) => this.targets.every((t) => t.summary.failed || t.ledger.has(r.contentHash)),
      interrupted: () => this.interrupted,
    });
    if (!got.error && !got.interrupted)
      this.previous = new Set([...current].filter((id) => !this.previous.has(id)));
    return got;
  }

  /** A slice's records to every destination still going; `confirmed` for those that kept up. */
  private async deliverSliceAll(
    got: SliceRead,
    slice: Slice,
    confirmed: (t: InlineTarget) => void,
  ) {
    for (const t of this.targets)
      if (!t.summary.failed) {
        t.summary.filtered += got.filtered;
        t.summary.unchanged += got.held;
      }
    if (got.read.length > 0) await this.classifier.classify(got.read, slice, got.seqs);
    for (const t of this.targets) {
      if (t.summary.failed) continue;
      await t.deliverSlice(got.read, slice);
      if (!t.summary.failed) confirmed(t);
    }
  }

  /**
   * The cursor moves only over slices this destination fully confirmed (or dead-lettered):
   * `slices` oldest first, `confirmed` by their places newest first (as read).
   */
  private async moveCursors(slices: readonly Slice[], confirmed: Map<InlineTarget, Set<number>>) {
    const last = slices.length - 1;
    for (const t of this.targets) {
      const upTo = confirmedThrough(slices.length, (i) => confirmed.get(t)!.has(last - i));
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
