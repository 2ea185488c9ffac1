import { hash } from 'node:crypto';
import type {
  DeliveryBatch,
  ScoreRecord,
  Slice,
  ToeflAccessClient,
  UpdateClass,
} from '@scorebridge/core';
import type { DeliveryIntent } from '../state/store.js';

/** Delivery batches and their intents, the same in both executors. */

/**
 * A delivery batch. Its id is derived from the pipeline, the destination and every record's key
 * and content hash: the same records make the same id (a retry or replay is recognisable), and a
 * changed report makes a different one.
 */
export function batchOf(
  pipeline: string,
  destination: string,
  records: ScoreRecord[],
  slice: Slice,
  updates?: Readonly<Record<string, UpdateClass>>,
): DeliveryBatch {
  const classes = updates && records.filter((r) => updates[r.contentHash]);
  return {
    ...(classes?.length
      ? {
          updates: Object.fromEntries(
            classes.map((r) => [r.contentHash, updates![r.contentHash]!]),
          ),
        }
      : {}),
    id: hash(
      'sha256',
      `${pipeline}\n${destination}\n${records.map((r) => `${r.recordKey} ${r.contentHash}`).join('\n')}`,
      'hex',
    ).slice(0, 24),
    pipeline,
    records,
    window: { from: slice.from.toISOString(), to: slice.to.toISOString() },
  };
}

/**
 * The intent announcing a batch: its id, each record's key and content hash in order, its
 * window and classes — what {@link rebuildBatch} needs to form it again, and nothing personal.
 */
export function intentOf(batch: DeliveryBatch, job?: string): DeliveryIntent {
  return {
    batchId: batch.id,
    entries: batch.records.map((r) => [r.recordKey, r.contentHash]),
    ...(batch.window ? { window: batch.window } : {}),
    ...(batch.updates ? { updates: batch.updates } : {}),
    ...(job ? { job } : {}),
  };
}

/**
 * The batch an intent announced, formed again from records read again (its window re-fetched,
 * or a job's sealed records): the same records in the same order with the same classes, hence
 * the same batch id and the same webhook-ids. `missing` are entries not found among `records`;
 * when there are any, the batch holds the others and has an id of its own.
 */
export function rebuildBatch(
  pipeline: string,
  destination: string,
  intent: DeliveryIntent & Required<Pick<DeliveryIntent, 'window'>>,
  records: Iterable<ScoreRecord>,
): { batch: DeliveryBatch; missing: (readonly [string, string])[] } {
  const byHash = new Map<string, ScoreRecord>();
  for (const r of records) byHash.set(r.contentHash, r);
  const found: ScoreRecord[] = [];
  const missing: (readonly [string, string])[] = [];
  for (const entry of intent.entries) {
    const r = byHash.get(entry[1]);
    if (r) found.push(r);
    else missing.push(entry);
  }
  const { window } = intent;
  const batch = batchOf(
    pipeline,
    destination,
    found,
    { from: new Date(window.from), to: new Date(window.to) },
    intent.updates,
  );
  return { batch, missing };
}

/** The records of a window, read again to re-send a pending batch: parsed, without issues. */
export async function readWindow(
  client: Pick<ToeflAccessClient, 'fetchSlice'>,
  window: { readonly from: string; readonly to: string },
): Promise<ScoreRecord[]> {
  const out: ScoreRecord[] = [];
  for await (const batch of client.fetchSlice({
    from: new Date(window.from),
    to: new Date(window.to),
  }))
    for (const entry of batch)
      if (entry.record && entry.issues.length === 0) out.push(entry.record);
  return out;
}
