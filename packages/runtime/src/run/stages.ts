import { hash } from 'node:crypto';
import {
  type DeliveryBatch,
  type Destination,
  type Layout,
  type ParsedEntry,
  ScoreBridgeError,
  type ScoreRecord,
  type Slice,
  type ToeflAccessClient,
  type UpdateClass,
  updateClass,
  versionDigest,
} from '@scorebridge/core';
import type { PipelineConfig } from '../config/schema.js';
import {
  type DeadLetter,
  type DeliveryIntent,
  type RecordVersion,
  type StateStore,
  versionOrder,
} from '../state/store.js';

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
 * class — keeps the versions (digests only; a dry run in memory), and counts updates when first
 * classified. A version met before the one it follows (a later slice finishing first) is
 * classified when that one is met; its own delivery may then have gone without its class.
 * Both executors call this as they batch.
 */
export function updateClassifier(
  stateStore: StateStore,
  pipeline: string,
  layouts: readonly Layout[],
  options: { dryRun?: boolean } = {},
) {
  // A dry run keeps the versions it meets in memory: the rules read them as if kept.
  const store = options.dryRun ? versionsOverlay(stateStore) : stateStore;
  const known = new Map<string, UpdateClass | null>();
  const counts: UpdateCounts = {};
  const layoutOf = (r: ScoreRecord) => layouts.find((l) => l.name === r.layout);
  const count = (update: UpdateClass | undefined) => {
    if (update) counts[update] = (counts[update] ?? 0) + 1;
  };
  return {
    counts,
    /** Where the versions met are kept (the store, or a dry run's memory): the rules read them. */
    versions: store as VersionReader,
    /**
     * Each record's class by content hash (absent: the first version of its key). `seqs` gives
     * each record's place in the slice's response (by content hash), which orders versions met
     * in one window.
     */
    async classify(
      records: readonly ScoreRecord[],
      slice: Slice,
      seqs?: ReadonlyMap<string, number>,
    ): Promise<Record<string, UpdateClass>> {
      const todo = records.filter((r) => !known.has(r.contentHash));
      if (todo.length > 0) {
        const keys = [...new Set(todo.map((r) => r.recordKey))];
        const stored = await store.versions(pipeline, keys);
        const byOrder = (a: RecordVersion, b: RecordVersion) =>
          versionOrder(a) < versionOrder(b) ? -1 : versionOrder(a) > versionOrder(b) ? 1 : 0;
        // Sorted by window, then by place in its response (a later line is the newer version).
        const lists = new Map(keys.map((k, i) => [k, stored[i]!.sort(byOrder)]));
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
          const seq = seqs?.get(r.contentHash);
          const order = versionOrder({ at, seq });
          const place = list.filter((v) => versionOrder(v) <= order).length;
          const before = list.slice(0, place).at(-1);
          const after = list[place];
          const digest = layout ? versionDigest(r, layout) : '';
          const update = before && digest ? updateClass(before.digest, digest) : undefined;
          const version: RecordVersion = {
            recordKey: r.recordKey,
            contentHash: r.contentHash,
            digest,
            at,
            ...(seq !== undefined ? { seq } : {}),
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
        // (A dry run's overlay keeps them in memory.)
        await store.recordVersions(pipeline, [...changed.values()]);
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

/** Reads the versions a pipeline met: the store, or a dry run's overlay of it. */
export type VersionReader = Pick<StateStore, 'versions'>;

/** The store with versions kept in memory instead (a dry run writes nothing). */
function versionsOverlay(store: StateStore): StateStore {
  const mine = new Map<string, RecordVersion[]>();
  return Object.assign(Object.create(store) as StateStore, {
    async versions(pipeline: string, keys: readonly string[]) {
      const stored = await store.versions(pipeline, keys);
      return keys.map((k, i) => {
        const own = mine.get(k) ?? [];
        return [
          ...stored[i]!.filter((v) => !own.some((o) => o.contentHash === v.contentHash)),
          ...own,
        ];
      });
    },
    async recordVersions(_pipeline: string, versions: readonly RecordVersion[]) {
      for (const v of versions) {
        const list = (mine.get(v.recordKey) ?? []).filter((o) => o.contentHash !== v.contentHash);
        mine.set(v.recordKey, [...list, v]);
      }
    },
  });
}

/** What the delivery rules made of the records read for one destination. */
export interface Selection {
  /** To deliver: at most one version per key, each the newest the pipeline has read. */
  readonly send: ScoreRecord[];
  /** Held by the destination already (or read twice in the run, or in a batch still pending). */
  readonly unchanged: number;
  /** A newer version of their key was read: never sent (a replayed one resolves as such). */
  readonly superseded: ScoreRecord[];
  /** Refused by this destination before, and not replayed: not sent again. */
  readonly refused: number;
}

/**
 * The delivery rules, one place for both executors. Of the records read for a destination, in
 * order: a copy of one already taken (same content hash) or one the destination holds (`held`)
 * is unchanged; one in a batch still pending (`pending`, to be re-sent as it was) likewise; one
 * the destination refused (`refused`, unless `replay` names it) stays refused; a version older
 * than another version of its key the pipeline has read — in this run or before, whatever order
 * slices finished in — is superseded. What is left is at most one version per key, the newest.
 * Versions must have been classified first ({@link updateClassifier}), so the store knows them.
 */
export async function selectForDelivery(args: {
  versions: VersionReader;
  pipeline: string;
  records: readonly ScoreRecord[];
  held: readonly boolean[];
  refused?: ReadonlySet<string>;
  pending?: ReadonlySet<string>;
  /** Replaying dead letters: these versions are sent even if held or refused before. */
  replay?: ReadonlySet<string>;
}): Promise<Selection> {
  const { records, held } = args;
  const taken = new Set<string>();
  const candidates: ScoreRecord[] = [];
  let unchanged = 0;
  let refused = 0;
  records.forEach((r, i) => {
    const replayed = args.replay?.has(r.contentHash) ?? false;
    if (taken.has(r.contentHash) || (held[i] && !replayed) || args.pending?.has(r.contentHash))
      unchanged++;
    else if (args.refused?.has(r.contentHash) && !replayed) refused++;
    else candidates.push(r);
    taken.add(r.contentHash);
  });
  const keys = [...new Set(candidates.map((r) => r.recordKey))];
  const lists = await args.versions.versions(args.pipeline, keys);
  const newest = new Map<string, string>();
  keys.forEach((k, i) => {
    const top = lists[i]!.reduce<RecordVersion | undefined>(
      (best, v) => (!best || versionOrder(v) > versionOrder(best) ? v : best),
      undefined,
    );
    if (top) newest.set(k, top.contentHash);
  });
  // A key with no version kept (kept before versions were) keeps the last one read.
  const last = new Map<string, ScoreRecord>();
  for (const r of candidates) last.set(r.recordKey, r);
  const send: ScoreRecord[] = [];
  const superseded: ScoreRecord[] = [];
  for (const r of candidates) {
    const top = newest.get(r.recordKey);
    if (top !== undefined ? top === r.contentHash : last.get(r.recordKey) === r) send.push(r);
    else superseded.push(r);
  }
  return { send, unchanged, superseded, refused };
}

/**
 * The content hashes a destination refused (dead letters `rejected` or `unmatched` that are
 * still open, not given-up deliveries): each stays refused until `scorebridge dlq replay`.
 */
export function refusedBy(letters: readonly DeadLetter[], destination: string): Set<string> {
  return new Set(
    letters.flatMap((l) =>
      l.destination === destination && l.kind !== 'parse' && !l.retryable && l.contentHash
        ? [l.contentHash]
        : [],
    ),
  );
}

/** The index of the last slice of an unbroken run of confirmed slices from the first (-1: none). */
export function confirmedThrough(slices: number, confirmed: (index: number) => boolean): number {
  let upTo = -1;
  while (upTo + 1 < slices && confirmed(upTo + 1)) upTo++;
  return upTo;
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
}): Promise<{
  delivered: readonly (readonly [string, string])[];
  rejected: DeadLetter[];
  resent: boolean;
}> {
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
  let outcome = { delivered: [] as (readonly [string, string])[], rejected: [] as DeadLetter[] };
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
