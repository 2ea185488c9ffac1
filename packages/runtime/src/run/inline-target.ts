import {
  type DeliveryBatch,
  pause,
  type ScoreRecord,
  type Slice,
  type ToeflAccessClient,
} from '@scorebridge/core';
import type { DestinationConfig } from '../config/schema.js';
import type { DeadLetter } from '../state/store.js';
import { batchOf, intentOf, readWindow } from './batches.js';
import type { PipelineContext } from './context.js';
import {
  type DeliveryTarget,
  deliverAndSettle,
  deliverBatch,
  type Settled,
  settlePending,
} from './deliver.js';
import { MAX_ROUTINE_PAUSE_SECONDS } from './plan.js';
import type { DestinationSummary, RunOptions, RunSummary } from './summary.js';
import { selectForDelivery, type updateClassifier } from './versions.js';

/** What an inline run shares with each of its destinations. */
export interface InlineShared {
  readonly ctx: PipelineContext;
  readonly options: RunOptions;
  readonly classifier: ReturnType<typeof updateClassifier>;
  readonly client: ToeflAccessClient;
  readonly dryRun: boolean;
  /** Files dead letters (not already open), counting the fresh ones. */
  readonly file: (letters: DeadLetter[]) => Promise<void>;
  interrupted(): boolean;
  /** A destination stopped: the run is not ok. */
  failed(): void;
  window(): RunSummary['window'];
}

/**
 * One destination of an inline run: its ledger, cursor and refusals, its counts, and its
 * deliveries — each by the rule worker mode follows too (`deliverBatch`), tried again in this
 * process.
 */
export class InlineTarget {
  readonly outcomes?: Map<string, 'delivered' | 'superseded' | 'rejected'>;

  constructor(
    readonly config: DestinationConfig,
    readonly delivery: DeliveryTarget,
    readonly summary: DestinationSummary,
    readonly ledger: Set<string>,
    public cursor: Date | undefined,
    /** Versions this destination refused (open dead letters): not sent again unless replayed. */
    readonly refused: Set<string>,
    private readonly run: InlineShared,
  ) {
    this.outcomes = summary.outcomes;
  }

  /**
   * Batches an earlier run announced and never settled, settled before any new batch forms:
   * by asking the destination, or by sending each again exactly as it was (its window read
   * again, one fetch per window). A destination that fails here is given up for this run.
   */
  async settlePending(): Promise<void> {
    const { store, name } = this.run.ctx;
    const windows = new Map<string, Promise<ScoreRecord[]>>();
    for (const intent of await store.intents(name, this.config.id)) {
      if (this.summary.failed) return;
      const window = intent.window;
      const records = () => {
        if (!window) return Promise.resolve([]);
        const key = `${window.from}|${window.to}`;
        if (!windows.has(key)) windows.set(key, readWindow(this.run.client, window));
        return windows.get(key)!;
      };
      const settle = async () => {
        const settled = await settlePending({
          ...this.deliveryArgs(),
          intent,
          records,
        });
        if (settled.resent) this.summary.resent++;
        return settled;
      };
      await this.attempt(settle, intent.batchId, intent.window, true);
    }
  }

  /** A slice's records for one destination: the delivery rules, then batches of batchSize. */
  async deliverSlice(read: readonly ScoreRecord[], slice: Slice) {
    const replay = this.run.options.only;
    const selection = await selectForDelivery({
      versions: this.run.classifier.versions,
      pipeline: this.run.ctx.name,
      records: read,
      held: read.map((r) => this.ledger.has(r.contentHash)),
      refused: this.refused,
      // A replay reads only the versions it replays: each is sent even if held or refused.
      replay: replay ? new Set(read.map((r) => r.contentHash)) : undefined,
    });
    this.summary.unchanged += selection.unchanged;
    this.summary.superseded += selection.superseded.length;
    this.summary.refused += selection.refused;
    for (const r of selection.superseded) this.outcomes?.set(r.contentHash, 'superseded');
    const { send } = selection;
    for (let i = 0; i < send.length && !this.summary.failed; i += this.config.batchSize)
      await this.flush(send.slice(i, i + this.config.batchSize), slice);
  }

  private async flush(records: ScoreRecord[], slice: Slice): Promise<void> {
    if (records.length === 0) return;
    // Records stay held (compact) in the batch too: a destination reading one reads it in full
    // (`HeldRecord`), one at a time. A batch of a thousand full records lived long enough to
    // be promoted to the old generation, about 3 KB a record of garbage there for a large run.
    const { store, name } = this.run.ctx;
    const updates = await this.run.classifier.classify(records, slice);
    const batch = batchOf(name, this.config.id, records, slice, updates);
    if (this.run.dryRun) {
      // What the destination would refuse whatever happens (a format it cannot write).
      const refused = records.filter((r) => this.delivery.destination.refuses?.(r) !== undefined);
      this.summary.delivered += records.length - refused.length;
      this.summary.deadLettered += refused.length;
      return;
    }
    await store.addIntent(name, this.config.id, intentOf(batch));
    const send = () => deliverAndSettle({ ...this.deliveryArgs(), batch });
    await this.attempt(send, batch.id, batch.window);
  }

  private deliveryArgs() {
    return {
      store: this.run.ctx.store,
      pipeline: this.run.ctx.name,
      destinationId: this.config.id,
      type: this.config.type,
      destination: this.delivery.destination,
      file: this.run.file,
    };
  }

  /**
   * Delivers (a batch, or a pending batch re-sent) by the rule both executors share
   * ({@link deliverBatch}): tries again in this process, waiting what the destination asks up to
   * {@link MAX_ROUTINE_PAUSE_SECONDS}; a destination given up stops for this run, its intent kept.
   */
  private async attempt(
    send: () => Promise<Settled>,
    batchId: string,
    window: DeliveryBatch['window'],
    resending = false,
  ): Promise<void> {
    const attempts = (this.run.options.deliveryRetries ?? 3) + 1;
    for (let attempt = 1; ; attempt++) {
      const result = await deliverBatch(this.delivery, {
        batchId,
        send,
        attempt,
        attempts,
        maxPauseSeconds: MAX_ROUTINE_PAUSE_SECONDS,
        countPauses: true,
        stopped: () => this.run.interrupted(),
        window: window ?? this.run.window() ?? { from: '', to: '' },
      });
      if (result.status === 'done') return this.count(result.settled, batchId, resending);
      if (result.status === 'stopped') {
        // Interrupted while retrying: not the destination's fault; the intent stays.
        this.summary.failed = result.failure;
        return;
      }
      if (result.status === 'gave-up') {
        this.summary.failed = result.failure;
        this.run.failed();
        return;
      }
      const delayMs = result.status === 'pause' ? result.seconds * 1000 : result.delayMs;
      this.run.options.onEvent?.({
        type: 'retry',
        destination: this.config.id,
        attempt,
        attempts,
        delayMs,
        error: result.failure,
      });
      await pause(delayMs, this.run.options.signal).catch(() => undefined);
    }
  }

  private count(settled: Settled, batchId: string, resending: boolean): void {
    const { delivered, rejected } = settled;
    for (const [, h] of delivered) {
      this.ledger.add(h);
      this.outcomes?.set(h, 'delivered');
    }
    for (const l of rejected) if (l.contentHash) this.outcomes?.set(l.contentHash, 'rejected');
    // A re-sent batch's records were read by an earlier run: counted apart (resent).
    if (!resending) {
      this.summary.delivered += delivered.length;
      this.summary.deadLettered += rejected.length;
    }
    this.run.options.onEvent?.({
      type: 'delivered',
      destination: this.config.id,
      batchId,
      delivered: delivered.length,
      rejected: rejected.length,
    });
  }
}
