import { hash } from 'node:crypto';
import {
  type DeliveryBatch,
  type Destination,
  type Layout,
  type ParsedEntry,
  ScoreBridgeError,
  type ScoreRecord,
  type Slice,
  type UpdateClass,
  updateClass,
  versionDigest,
} from '@scorebridge/core';
import type { PipelineConfig } from '../config/schema.js';
import type { DeadLetter, DeliveryIntent, RecordVersion, StateStore } from '../state/store.js';

/**
 * The stages both executors share — the inline runner and the BullMQ workers — so that a record
 * is planned, filtered, batched, delivered, confirmed and dead-lettered the same way in both.
 */

const DAY = 86_400_000;

/**
 * A destination asking to wait longer than this (Retry-After) is past routine: a run leaves it
 * for the next run, and it is worth an alert.
 */
export const MAX_ROUTINE_PAUSE_SECONDS = 300;

/**
 * The window to fetch: a backfill's range, or from the earliest cursor (less the overlap) to now;
 * a destination without a cursor starts at `firstRunStart` (or two years back).
 */
export function planWindow(
  config: PipelineConfig,
  cursors: readonly (Date | undefined)[],
  now: Date,
  from?: Date,
  to?: Date,
): Slice | undefined {
  const firstRun = config.source.firstRunStart
    ? new Date(config.source.firstRunStart)
    : new Date(now.getTime() - 730 * DAY);
  const overlap = config.source.overlapHours * 3_600_000;
  const start =
    from ??
    new Date(
      Math.min(
        ...cursors.map((c) => (c ? c.getTime() - overlap : firstRun.getTime())),
        now.getTime(),
      ),
    );
  const end = to ?? now;
  return start.getTime() < end.getTime() ? { from: start, to: end } : undefined;
}

/** Whether a record passes the pipeline's filters. */
export function passes(config: PipelineConfig, record: ScoreRecord): boolean {
  const f = config.filters;
  if (!f) return true;
  if (f.departmentCodes && !f.departmentCodes.includes(String(record.fields.departmentCode ?? '')))
    return false;
  if (f.testTypes && !f.testTypes.includes(String(record.fields.testType ?? ''))) return false;
  if (f.scales && !f.scales.includes(record.scale)) return false;
  return true;
}

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

/** Re-sent reports by what they changed, counted when first met. */
export type UpdateCounts = Partial<Record<UpdateClass, number>>;

/**
 * Tells what each record version changed against the version of its key before it — by report
 * window, then by the order met, so slices finishing in any order give each version the same
 * class — keeps the versions (digests only) unless `dryRun`, and counts updates when first
 * classified. A version met before the one it follows (a later slice finishing first) is
 * classified when that one is met; its own delivery may then have gone without its class.
 * Both executors call this as they batch.
 */
export function updateClassifier(
  store: StateStore,
  pipeline: string,
  layouts: readonly Layout[],
  options: { dryRun?: boolean } = {},
) {
  const known = new Map<string, UpdateClass | null>();
  const counts: UpdateCounts = {};
  const layoutOf = (r: ScoreRecord) => layouts.find((l) => l.name === r.layout);
  const count = (update: UpdateClass | undefined) => {
    if (update) counts[update] = (counts[update] ?? 0) + 1;
  };
  return {
    counts,
    /** Each record's class by content hash (absent: the first version of its key). */
    async classify(
      records: readonly ScoreRecord[],
      slice: Slice,
    ): Promise<Record<string, UpdateClass>> {
      const todo = records.filter((r) => !known.has(r.contentHash));
      if (todo.length > 0) {
        const keys = [...new Set(todo.map((r) => r.recordKey))];
        const stored = await store.versions(pipeline, keys);
        const byWindow = (a: RecordVersion, b: RecordVersion) =>
          a.at < b.at ? -1 : a.at > b.at ? 1 : 0;
        // Sorted by window; within one, in the order met (a later line is the newer version).
        const lists = new Map(keys.map((k, i) => [k, stored[i]!.sort(byWindow)]));
        const changed = new Map<string, RecordVersion>();
        for (const r of todo) {
          const list = lists.get(r.recordKey)!;
          const kept = list.find((v) => v.contentHash === r.contentHash);
          if (kept) {
            known.set(r.contentHash, kept.update ?? null);
            continue;
          }
          const layout = layoutOf(r);
          const at = slice.from.toISOString();
          const place = list.filter((v) => v.at <= at).length;
          const before = list.slice(0, place).at(-1);
          const after = list[place];
          const digest = layout ? versionDigest(r, layout) : '';
          const update = before && digest ? updateClass(before.digest, digest) : undefined;
          const version: RecordVersion = {
            recordKey: r.recordKey,
            contentHash: r.contentHash,
            digest,
            at,
            ...(update ? { update } : {}),
          };
          list.splice(place, 0, version);
          changed.set(r.contentHash, version);
          known.set(r.contentHash, update ?? null);
          count(update);
          // A newer version met first now has the version before it.
          if (after && digest && after.digest) {
            const settled = updateClass(digest, after.digest);
            if (settled !== after.update) {
              if (!after.update) count(settled);
              const fixed = { ...after, update: settled };
              list[place + 1] = fixed;
              changed.set(after.contentHash, fixed);
              if (known.has(after.contentHash)) known.set(after.contentHash, settled);
            }
          }
        }
        if (!options.dryRun) await store.recordVersions(pipeline, [...changed.values()]);
      }
      const out: Record<string, UpdateClass> = {};
      for (const r of records) {
        const update = known.get(r.contentHash);
        if (update) out[r.contentHash] = update;
      }
      return out;
    },
  };
}

/**
 * The classes of a batch's records as the store knows them now: those given, and for the rest
 * any class settled since (worker mode: a slice that met an original after its re-sent version
 * was staged).
 */
export async function settledUpdates(
  store: StateStore,
  pipeline: string,
  records: readonly ScoreRecord[],
  given: Readonly<Record<string, UpdateClass>> | undefined,
): Promise<Readonly<Record<string, UpdateClass>> | undefined> {
  const open = records.filter((r) => !given?.[r.contentHash]);
  if (open.length === 0) return given;
  const lists = await store.versions(
    pipeline,
    open.map((r) => r.recordKey),
  );
  const out: Record<string, UpdateClass> = { ...given };
  open.forEach((r, i) => {
    const update = lists[i]!.find((v) => v.contentHash === r.contentHash)?.update;
    if (update) out[r.contentHash] = update;
  });
  return out;
}

/** Adds one tally of update counts to another. */
export function addCounts(into: UpdateCounts, from: UpdateCounts | undefined): UpdateCounts {
  for (const [k, n] of Object.entries(from ?? {})) {
    into[k as UpdateClass] = (into[k as UpdateClass] ?? 0) + (n ?? 0);
  }
  return into;
}

/** The intent announcing a batch: its id and each record's key and content hash. */
export function intentOf(batch: DeliveryBatch): DeliveryIntent {
  return { batchId: batch.id, entries: batch.records.map((r) => [r.recordKey, r.contentHash]) };
}

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
}): Promise<{ delivered: (readonly [string, string])[]; rejected: DeadLetter[] }> {
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
          letter(o.kind, destinationId, o.reason, batch.window!, {
            recordKey: o.recordKey,
            contentHash: o.contentHash,
            code: o.code,
          }),
        ]
      : [],
  );
  await args.file(rejected);
  await store.clearIntent(pipeline, destinationId, batch.id);
  return { delivered, rejected };
}

/**
 * A batch announced but never settled (a crash): confirmed if the destination says it holds it,
 * and the intent cleared either way (the records are then delivered again, as updates). Returns
 * what was confirmed.
 */
export async function settleIntent(
  store: StateStore,
  pipeline: string,
  destinationId: string,
  destination: Destination,
  intent: DeliveryIntent,
): Promise<readonly (readonly [string, string])[]> {
  const held = (await destination.delivered?.(intent.batchId)) ?? false;
  if (held) await store.confirm(pipeline, destinationId, intent.entries);
  await store.clearIntent(pipeline, destinationId, intent.batchId);
  return held ? intent.entries : [];
}

/** The dead letters of a source entry that could not be read. */
export function parseDeadLetters(entry: ParsedEntry, slice: Slice): DeadLetter[] {
  const window = { from: slice.from.toISOString(), to: slice.to.toISOString() };
  // The same bad record in an overlapping window is the same dead letter: identify it by its
  // content when it could be read, by its place otherwise.
  const identity = entry.record?.contentHash ?? entry.fingerprint ?? `${window.from}|${entry.line}`;
  return entry.issues.map((issue) =>
    letter('parse', '*', issue.message, window, {
      recordKey:
        entry.record && !issue.code.startsWith('missing-key') ? entry.record.recordKey : undefined,
      contentHash: entry.record?.contentHash,
      identity: `${identity}|${issue.code}|${issue.field ?? ''}`,
    }),
  );
}

/**
 * A dead letter. Its id is stable for the same problem with the same record (or, with
 * `identity`, for the same thing however it is worded), so filing it again changes nothing.
 */
export function letter(
  kind: DeadLetter['kind'],
  destination: string,
  reason: string,
  window: { from: string; to: string },
  extra: { recordKey?: string; contentHash?: string; code?: string; identity?: string },
): DeadLetter {
  return {
    id: letterId(
      kind,
      destination,
      extra.identity ?? `${extra.recordKey}|${extra.contentHash}|${reason}`,
    ),
    kind,
    destination,
    ...(extra.recordKey ? { recordKey: extra.recordKey } : {}),
    ...(extra.contentHash ? { contentHash: extra.contentHash } : {}),
    window,
    reason,
    ...(extra.code ? { code: extra.code } : {}),
    at: new Date().toISOString(),
  };
}

/** A dead letter's id. */
export function letterId(kind: DeadLetter['kind'], destination: string, identity: string): string {
  return hash('sha256', [kind, destination, identity].join('\n'), 'hex').slice(0, 16);
}
