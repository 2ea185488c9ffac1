import { Buffer } from 'node:buffer';
import type { Layout } from '../layout/layout.js';
import {
  buildRecord,
  type CompiledLayout,
  compileLayout,
  type RecordFields,
  type ScoreRecord,
  type ScoreScale,
  toCanonicalJson,
} from '../record/record.js';
import { CARRIED, type Carrier, versionDigest } from '../record/update.js';
import { blanksFor } from './fixed-reader.js';
import { readerOf } from './scorelink.js';

/** The held record read in full last, and that record ({@link HeldRecord.restore}). */
let lastHeld: HeldRecord | undefined;
let lastRestored: ScoreRecord | undefined;

/**
 * A fixed-length record held while a run keeps a slice whole (a run delivers one version per
 * key, the newest: docs/performance.md): its key, hash and scale, and its line as UTF-8 bytes,
 * about 1.6 KB — or, read back from a worker's staged payload, the line string it came as. A
 * parsed record's fields are slices of the decoded response, so every record kept holds its
 * 64 KiB piece of the response alive — at two bytes a character once the piece has one letter
 * beyond Latin-1 — and its 86 fields besides. A destination reading one (`fields`, `toJSON`,
 * {@link restoreRecord}) reads the line again with the same layout and reader, so a held record
 * reads as the record it holds.
 */
class HeldRecord implements ScoreRecord, Carrier {
  readonly format = 'scorelink';
  readonly extra = undefined;
  /** The line: UTF-8 bytes when held by a run, or the line itself when it is a string of its own. */
  readonly #line: Buffer | string;
  readonly #compiled: CompiledLayout;
  /** A run classifies what it holds: the digest is taken while the fields are here. */
  readonly [CARRIED]?: string;

  constructor(
    record: ScoreRecord,
    compiled: CompiledLayout,
    /** The line as a string of its own (not a slice of a response), kept as it is. */
    line?: string,
    readonly recordKey = record.recordKey,
    readonly contentHash = record.contentHash,
    readonly scale: ScoreScale = record.scale,
    readonly layout = record.layout,
  ) {
    this.#compiled = compiled;
    if (line === undefined) {
      this.#line = Buffer.from(record.raw, 'utf8');
      this[CARRIED] = versionDigest(record, compiled.layout);
    } else this.#line = line;
  }

  get raw(): string {
    const line = this.#line;
    return typeof line === 'string' ? line : line.toString('utf8');
  }

  get fields(): RecordFields {
    return this.restore().fields;
  }

  /**
   * The full record, read again from the line. The last one read is kept (one for the process):
   * a destination goes through a batch a record at a time and reads each one's fields many
   * times, so a batch of held records costs one record in full at a time, not a batch of them.
   */
  restore(): ScoreRecord {
    if (lastHeld !== this) {
      lastRestored = recordOfLine(this.raw, this.#compiled, this.contentHash);
      lastHeld = this;
    }
    return lastRestored!;
  }

  toJSON() {
    return toCanonicalJson(this.restore());
  }
}

/** `record` held compactly ({@link HeldRecord}); a JSON record (or one of another layout) as it is. */
export function holdRecord(record: ScoreRecord, layout: Layout | undefined): ScoreRecord {
  if (record.format !== 'scorelink' || !layout || layout.name !== record.layout) return record;
  return new HeldRecord(record, compileLayout(layout));
}

/** The full record a held one stands for (read again from its line); any other as it is. */
export function restoreRecord(record: ScoreRecord): ScoreRecord {
  return record instanceof HeldRecord ? record.restore() : record;
}

/**
 * A fixed-length line read again into its record, with the layout that read it first: the
 * first of `layouts` of its length, as the parser chooses. Worker mode stages records as their
 * lines and reads them back here at delivery. The record is held by the line (`line`, a string of
 * its own): a delivery job's batch lives through several round trips to Redis, and a batch of
 * records in full lived long enough to reach the old generation. Throws when no layout has the
 * line's length (the worker reading it was started with other layouts than the one that staged
 * it).
 */
export function readLine(line: string, layouts: readonly Layout[]): ScoreRecord {
  const layout = layouts.find((l) => l.recordLength === line.length);
  if (!layout)
    throw new Error(
      `a staged record is ${line.length} characters and no layout of this worker has that length: start every worker with the same pipeline files and layouts`,
    );
  const compiled = compileLayout(layout);
  return new HeldRecord(recordOfLine(line, compiled), compiled, line);
}

/** A line that was read once without issues, read again: it reads the same. */
function recordOfLine(raw: string, compiled: CompiledLayout, knownHash?: string): ScoreRecord {
  const fields = readerOf(compiled)(
    raw,
    0,
    (_f, from, to) => raw.slice(from, to).trim(),
    blanksFor(raw),
  );
  return buildRecord(compiled, fields, raw, undefined, raw, knownHash).record;
}
