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
import { carryDigest } from '../record/update.js';
import { readerOf } from './scorelink.js';

/**
 * A fixed-length record held while a run keeps a slice whole (a run delivers one version per
 * key, the newest: docs/performance.md): its key, hash and scale, and its line as UTF-8 bytes,
 * about 1.6 KB. A parsed record's fields are slices of the decoded response, so every record
 * kept holds its 64 KiB piece of the response alive — at two bytes a character once the piece
 * has one letter beyond Latin-1 — and its 86 fields besides. {@link restoreRecord} reads the
 * line again (same layout, same reader) when a batch is formed; `fields` does the same for any
 * other reader, so a held record reads as the record it holds.
 */
class HeldRecord implements ScoreRecord {
  readonly format = 'scorelink';
  readonly extra = undefined;
  readonly #bytes: Buffer;
  readonly #compiled: CompiledLayout;

  constructor(
    record: ScoreRecord,
    compiled: CompiledLayout,
    readonly recordKey = record.recordKey,
    readonly contentHash = record.contentHash,
    readonly scale: ScoreScale = record.scale,
    readonly layout = record.layout,
  ) {
    this.#bytes = Buffer.from(record.raw, 'utf8');
    this.#compiled = compiled;
  }

  get raw(): string {
    return this.#bytes.toString('utf8');
  }

  get fields(): RecordFields {
    return this.restore().fields;
  }

  restore(): ScoreRecord {
    const raw = this.raw;
    // The line was read once without issues: it reads the same again.
    const fields = readerOf(this.#compiled)(raw, 0, (_f, from, to) => raw.slice(from, to).trim());
    return buildRecord(this.#compiled, fields, raw, undefined, raw, this.contentHash).record;
  }

  toJSON() {
    return toCanonicalJson(this.restore());
  }
}

/** `record` held compactly ({@link HeldRecord}); a JSON record (or one of another layout) as it is. */
export function holdRecord(record: ScoreRecord, layout: Layout | undefined): ScoreRecord {
  if (record.format !== 'scorelink' || !layout || layout.name !== record.layout) return record;
  const held = new HeldRecord(record, compileLayout(layout));
  // The run classifies what it holds: the digest is taken while the fields are here.
  carryDigest(record, held, layout);
  return held;
}

/** The full record a held one stands for (read again from its line); any other as it is. */
export function restoreRecord(record: ScoreRecord): ScoreRecord {
  return record instanceof HeldRecord ? record.restore() : record;
}
