import {
  holdRecord,
  type Layout,
  type ScoreRecord,
  type Slice,
  type ToeflAccessClient,
} from '@scorebridge/core';
import type { PipelineConfig } from '../config/schema.js';
import type { DeadLetter } from '../state/store.js';
import { parseDeadLetters } from './letters.js';
import { passes } from './plan.js';
import type { RunOptions } from './summary.js';

export /** One slice read whole: its records to deliver (with their places), its dead letters, counts. */
interface SliceRead {
  readonly read: ScoreRecord[];
  /** The place in the response of each version read to deliver, and of each already held. */
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
 * Reads one slice whole for an inline run: its records to deliver (with their places in the
 * response), its parse dead letters and counts. `skip` are reports the slice shares with the one
 * read before it (the client skips them, and adds this slice's). Never throws: a failure is
 * returned, for its turn; an interruption (Ctrl-C) stops the reading, and nothing is lost (the
 * slice's cursor does not move).
 */
export async function readSlice(
  client: Pick<ToeflAccessClient, 'fetchSlice'>,
  slice: Slice,
  skip: Set<string>,
  how: {
    readonly config: PipelineConfig;
    /** The layouts records are read with: a record kept is held by its line (`holdRecord`). */
    readonly layouts: readonly Layout[];
    /** A replay reads only the versions (or keys) it replays. */
    readonly replay: RunOptions['only'];
    /** Held by every destination still going: counted, not kept. */
    readonly held: (record: ScoreRecord) => boolean;
    readonly interrupted: () => boolean;
  },
): Promise<SliceRead> {
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
  const { replay } = how;
  const layoutOf = (record: ScoreRecord) => how.layouts.find((l) => l.name === record.layout);
  const keep = (record: ScoreRecord, place: number) => {
    got.seqs.set(record.contentHash, place);
    got.read.push(holdRecord(record, layoutOf(record)));
  };
  try {
    for await (const batch of client.fetchSlice(slice, skip)) {
      if (how.interrupted()) {
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
        if (!passes(how.config, record)) got.filtered++;
        else if (replay) {
          if (replay.versions?.has(record.contentHash) || replay.recordKeys?.has(record.recordKey))
            keep(record, place);
        } else if (how.held(record)) {
          // Not kept, but its place is: a new version of its key is ordered against it.
          got.held++;
          got.seqs.set(record.contentHash, place);
        } else keep(record, place);
      }
    }
  } catch (error) {
    got.error = error;
    got.interrupted = how.interrupted();
  }
  return got;
}
