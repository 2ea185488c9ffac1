import {
  type Layout,
  type ScoreRecord,
  type Slice,
  type UpdateClass,
  updateClass,
  versionDigest,
} from '@scorebridge/core';
import { type RecordVersion, type StateStore, versionOrder } from '../state/store.js';

/** Record versions and the delivery rules, one place for both executors. */

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
        const lists = new Map(keys.map((k, i) => [k, stored[i]!.sort(byOrder)]));
        const changed = new Map<string, RecordVersion>();
        // One string for the slice, shared by every version met in it (the store keeps them all).
        const at = slice.from.toISOString();
        for (const r of todo) {
          const list = lists.get(r.recordKey)!;
          const kept = list.find((v) => v.contentHash === r.contentHash);
          if (kept) {
            known.set(r.contentHash, kept.update ?? null);
            continue;
          }
          const layout = layoutOf(r);
          const seq = seqs?.get(r.contentHash);
          if (seqs) rebase(list, at, seqs, changed);
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
 * Versions of a key kept from an earlier response that are in this one too take their places in
 * it (`at`, `seq`), so that a new version of the key is ordered against them by its place in the
 * same response. A version is ordered by the window it was met in and its place there; windows of
 * different runs are cut differently, and a later version met in a window that starts earlier
 * than the one an earlier version was met in would be taken as the older, superseded, and never
 * delivered. Moving them is safe: a kept version this response does not hold was reported before
 * its window (and was met in a window that starts before it) or after it (and was met in a window
 * that starts after this one's start, or that window would have held the new version too).
 * `list` stays sorted; what moved is in `changed`.
 */
function rebase(
  list: RecordVersion[],
  at: string,
  seqs: ReadonlyMap<string, number>,
  changed: Map<string, RecordVersion>,
): void {
  let moved = false;
  list.forEach((v, i) => {
    const seq = seqs.get(v.contentHash);
    if (seq === undefined || (v.at === at && v.seq === seq)) return;
    const placed = { ...v, at, seq };
    list[i] = placed;
    changed.set(v.contentHash, placed);
    moved = true;
  });
  if (moved) list.sort(byOrder);
}

/** Versions by window, then by place in its response (a later line is the newer version). */
function byOrder(a: RecordVersion, b: RecordVersion): number {
  const x = versionOrder(a);
  const y = versionOrder(b);
  return x < y ? -1 : x > y ? 1 : 0;
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
