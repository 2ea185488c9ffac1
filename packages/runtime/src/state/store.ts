import type { UpdateClass } from '@scorebridge/core';

/** A version of a record key the pipeline met: enough to tell what the next one changes. */
export interface RecordVersion {
  readonly recordKey: string;
  readonly contentHash: string;
  /** Digests of its field groups (`versionDigest` of core): nothing personal in clear. */
  readonly digest: string;
  /** The start of the report-date window it was first met in (ISO): versions are ordered by it… */
  readonly at: string;
  /**
   * …then by its place in that window's response (0-based; a later line is the newer version, as
   * ETS does not document the order inside a response). Absent for versions kept before 0.3.
   */
  readonly seq?: number;
  /** What it changed against the version before it; absent for the first version of a key. */
  readonly update?: UpdateClass;
}

/** A record that could not be delivered: enough to find it again, nothing personal. */
export interface DeadLetter {
  /** Stable for the same problem with the same record, so a re-run does not file it twice. */
  readonly id: string;
  /** `parse` (unreadable in the source), `rejected` (refused by the destination), `unmatched`. */
  readonly kind: 'parse' | 'rejected' | 'unmatched';
  /** The destination's id, or `*` for problems in the source (every destination missed it). */
  readonly destination: string;
  /** The record key, when the record could be identified. */
  readonly recordKey?: string;
  readonly contentHash?: string;
  /** The report-date window it was fetched in (ISO), to fetch it again on replay. */
  readonly window: { readonly from: string; readonly to: string };
  /** Where and why: `line 12, field testDate (539–546): not a valid YYYYMMDD date`, or the destination's words. */
  readonly reason: string;
  /** The destination's error code, when it gave one. */
  readonly code?: string;
  /** The batch it was refused in: a replay forms that batch's refused records into one again. */
  readonly batch?: string;
  /**
   * Not a refusal but a delivery given up (the destination could not be reached in time): the
   * next run delivers the record again by itself. A refusal (`rejected` without this) is final
   * for its version at its destination until `scorebridge dlq replay`.
   */
  readonly retryable?: true;
  readonly at: string;
}

/**
 * A batch about to be delivered: written before, cleared after, read back after a crash. It
 * holds no personal data, yet enough to rebuild the batch exactly: its records are fetched again
 * from `window` and picked by key and content hash, in `entries` order, with the same classes.
 */
export interface DeliveryIntent {
  readonly batchId: string;
  /** [record key, content hash] of each record in the batch, in batch order. */
  readonly entries: readonly (readonly [string, string])[];
  /** The report-date window its records were fetched in (absent in intents before 0.3). */
  readonly window?: { readonly from: string; readonly to: string };
  /** The batch's update classes by content hash, as first sent. */
  readonly updates?: Readonly<Record<string, UpdateClass>>;
  /** Worker mode: the delivery job that announced it (a retry of that job finds its own). */
  readonly job?: string;
}

/** What a run did, kept for `scorebridge status`. */
export interface RunRecord {
  readonly startedAt: string;
  readonly finishedAt: string;
  readonly ok: boolean;
  /** Stopped before its end (Ctrl-C, SIGTERM); what it confirmed stands, the rest comes next run. */
  readonly interrupted?: boolean;
  readonly window: { readonly from: string; readonly to: string } | null;
  readonly destinations: readonly {
    readonly id: string;
    readonly delivered: number;
    readonly unchanged: number;
    /** Versions not sent because a newer version of their key was read (absent before 0.3). */
    readonly superseded?: number;
    /** Versions this destination refused before, not sent again until replayed (absent before 0.3). */
    readonly refused?: number;
    readonly filtered: number;
    readonly deadLettered: number;
    /** Batches of an earlier run whose outcome was unknown, re-sent as they were. */
    readonly resent?: number;
    readonly failed?: string;
  }[];
  readonly parseIssues: number;
  /** Re-sent reports met for the first time in the run, by what they changed. */
  readonly updates?: Readonly<Partial<Record<UpdateClass, number>>>;
}

/** An open alert: what it is about, when it was first and last sent. No personal data. */
export interface Incident {
  readonly title: string;
  readonly openedAt: string;
  readonly notifiedAt: string;
}

/**
 * Where a pipeline's state lives: per destination a cursor (the end of the last report-date
 * window it confirmed), a ledger (the record versions it confirmed) and delivery intents;
 * per pipeline dead letters and runs. Holds keys, hashes, windows and reasons — no personal data.
 */
export interface StateStore {
  cursor(pipeline: string, destination: string): Promise<Date | undefined>;
  setCursor(pipeline: string, destination: string, at: Date): Promise<void>;
  /**
   * The content hashes of every record version the destination confirmed. A hash covers the
   * record key too, so a version is "held" whether it is the newest or an older one met again
   * in a backfill (which must not overwrite a newer one).
   */
  ledger(pipeline: string, destination: string): Promise<Set<string>>;
  /** Every version met of each key, in the order the keys are asked (each: as recorded). */
  versions(pipeline: string, keys: readonly string[]): Promise<RecordVersion[][]>;
  /**
   * Adds versions met, or replaces one already kept (same key and content hash: its class was
   * settled later); atomic per key, so jobs meeting versions of one key at once lose none.
   */
  recordVersions(pipeline: string, versions: readonly RecordVersion[]): Promise<void>;
  /**
   * Every version met of the record keys that carry this appointment/registration number (spaces
   * ignored), for `scorebridge trace`: keys, hashes, windows and classes only.
   */
  versionsOf(pipeline: string, appointmentNumber: string): Promise<RecordVersion[]>;
  /** Records what a destination confirmed; durable when it resolves. */
  confirm(
    pipeline: string,
    destination: string,
    entries: readonly (readonly [string, string])[],
  ): Promise<void>;
  addIntent(pipeline: string, destination: string, intent: DeliveryIntent): Promise<void>;
  clearIntent(pipeline: string, destination: string, batchId: string): Promise<void>;
  intents(pipeline: string, destination: string): Promise<DeliveryIntent[]>;
  /**
   * Files dead letters; one already open (same id) keeps its first filing. Resolves to how many
   * were new, counted atomically (two jobs filing one letter count it once).
   */
  addDeadLetters(pipeline: string, letters: readonly DeadLetter[]): Promise<number>;
  /** Open dead letters, oldest first. */
  deadLetters(pipeline: string): Promise<DeadLetter[]>;
  resolveDeadLetters(pipeline: string, ids: readonly string[]): Promise<void>;
  recordRun(pipeline: string, run: RunRecord): Promise<void>;
  /** Recent runs, newest last. */
  runs(pipeline: string, limit?: number): Promise<RunRecord[]>;
  /** Open alerts by key (one incident → one message; resolved when it clears). */
  incidents(pipeline: string): Promise<Record<string, Incident>>;
  /** Records an open incident, or removes it (`null`). */
  setIncident(pipeline: string, key: string, incident: Incident | null): Promise<void>;
  /**
   * Claims the sending of an incident's message, atomically, so that two jobs failing at once
   * send one: claimed when no incident is open under `key`, or when the open one was last
   * notified at or before `notifiedBy` (its cool-down is over). A claim stores `incident`, keeping
   * the open one's `openedAt`; `previous` is the incident that was open, if any.
   */
  claimIncident(
    pipeline: string,
    key: string,
    incident: Incident,
    notifiedBy: Date,
  ): Promise<{ claimed: boolean; previous?: Incident }>;
  /**
   * Takes the pipeline's run lock for an inline run (`scorebridge run`, `dlq replay`), renewed
   * while held; throws when another run holds it — an inline run, or a worker-mode run holding
   * the run slot ({@link takeRunSlot}). Returns the release.
   */
  lock(pipeline: string): Promise<() => Promise<void>>;
  /**
   * Takes the pipeline's run slot for a worker-mode run, for `seconds` unless released first:
   * when it is free, already this run's, or held by `over` (a run the caller knows is finished)
   * — and no inline run holds the lock. With {@link lock}, one exclusion for both executors.
   * `holder` is the run holding it, or `inline`.
   */
  takeRunSlot(
    pipeline: string,
    runId: string,
    options: { readonly seconds: number; readonly over?: string },
  ): Promise<{ taken: true } | { taken: false; holder: string }>;
  /** The worker-mode run holding the slot, if any (it may be over: ask its queue). */
  runSlot(pipeline: string): Promise<string | undefined>;
  /** Lets go of the slot, if `runId` still holds it. */
  releaseRunSlot(pipeline: string, runId: string): Promise<void>;
  /**
   * Claims each content hash for `owner` (a delivery job) within a run and destination,
   * atomically: true where `owner` holds it (now or before), false where another does. Claims
   * lapse `seconds` after the last claim in that run and destination.
   */
  claim(
    pipeline: string,
    runId: string,
    destination: string,
    owner: string,
    hashes: readonly string[],
    seconds: number,
  ): Promise<boolean[]>;
  /** Adds members (jobs a run's deliveries wait for) to the run's barrier, kept `seconds`. */
  addToBarrier(
    pipeline: string,
    runId: string,
    members: readonly string[],
    seconds: number,
  ): Promise<void>;
  /** The run's barrier: the members still waited for. */
  barrier(pipeline: string, runId: string): Promise<string[]>;
  leaveBarrier(pipeline: string, runId: string, members: readonly string[]): Promise<void>;
  /** Marks a run cancelled (`scorebridge backfill --cancel`) for `seconds`. */
  cancelRun(pipeline: string, runId: string, seconds: number): Promise<void>;
  runCancelled(pipeline: string, runId: string): Promise<boolean>;
}

/** The methods by which runs of one pipeline coordinate (worker mode's, and with inline runs). */
export type RunCoordination =
  | 'takeRunSlot'
  | 'runSlot'
  | 'releaseRunSlot'
  | 'claim'
  | 'addToBarrier'
  | 'barrier'
  | 'leaveBarrier'
  | 'cancelRun'
  | 'runCancelled';

/** A version's place in its key's history: window start, then place in the response. */
export function versionOrder(v: Pick<RecordVersion, 'at' | 'seq'>): string {
  return `${v.at}#${String(v.seq ?? 0).padStart(9, '0')}`;
}

/** How a store writes a version's window and place in one field: `at` or `at#seq`. */
export function encodeAt(v: Pick<RecordVersion, 'at' | 'seq'>): string {
  return v.seq === undefined ? v.at : `${v.at}#${v.seq}`;
}

/** The reverse of {@link encodeAt}. */
export function decodeAt(text: string): Pick<RecordVersion, 'at' | 'seq'> {
  const hash = text.indexOf('#');
  return hash < 0 ? { at: text } : { at: text.slice(0, hash), seq: Number(text.slice(hash + 1)) };
}

/** Dead letters in the order stores list them: oldest first (then by id, for a stable order). */
export function oldestFirst(a: DeadLetter, b: DeadLetter): number {
  return a.at < b.at ? -1 : a.at > b.at ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}
