import { hash } from 'node:crypto';
import type { ParsedEntry, Slice } from '@scorebridge/core';
import type { DeadLetter, StateStore } from '../state/store.js';

/** Dead letters: how each is identified and filed, the same in both executors. */

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

/** Dead letters filed by a run, by kind: only those the store did not hold open already. */
export type FreshLetters = Partial<Record<DeadLetter['kind'], number>>;

/**
 * Files dead letters and tells how many of each kind were new, as the store counted them
 * (atomically: two jobs filing one letter count it once). Both executors' alert counts read this.
 */
export async function fileLetters(
  store: Pick<StateStore, 'addDeadLetters'>,
  pipeline: string,
  letters: readonly DeadLetter[],
): Promise<FreshLetters> {
  const fresh: FreshLetters = {};
  for (const kind of new Set(letters.map((l) => l.kind))) {
    const n = await store.addDeadLetters(
      pipeline,
      letters.filter((l) => l.kind === kind),
    );
    if (n > 0) fresh[kind] = n;
  }
  return fresh;
}

/** Adds one count of fresh dead letters to another. */
export function addFresh(into: FreshLetters, from: FreshLetters | undefined): FreshLetters {
  for (const [k, n] of Object.entries(from ?? {}))
    into[k as DeadLetter['kind']] = (into[k as DeadLetter['kind']] ?? 0) + (n ?? 0);
  return into;
}
