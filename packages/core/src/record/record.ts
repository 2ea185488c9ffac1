import { hash } from 'node:crypto';
import type { Layout, LayoutField } from '../layout/layout.js';
import type { ScoreLinkFields } from './fields.generated.js';
import type { FieldValue } from './values.js';

/** Which score scale a record carries. */
export type ScoreScale = 'ibt' | 'ibt26' | 'essentials' | 'unknown';

/**
 * A record's typed fields by layout id. The shipped 1600 layout's fields are typed precisely;
 * fields a site adds through a layout override are plain {@link FieldValue}s.
 */
export type RecordFields = Partial<ScoreLinkFields> & Readonly<Record<string, FieldValue>>;

/** One test taker's score report, typed, with its source text kept alongside. */
export interface ScoreRecord {
  /** The layout it was read with (`scorelink-1600`, `scorelink-legacy-900`, `…+site`). */
  readonly layout: string;
  /** Every non-filler layout field, typed. */
  readonly fields: RecordFields;
  /** JSON keys the mapping did not know, kept as received (JSON sources only). */
  readonly extra: Readonly<Record<string, unknown>> | undefined;
  /** The source text: the fixed-length line, or the JSON object's text. */
  readonly raw: string;
  /** Natural key: institution, department, appointment/registration number, test date, test type. */
  readonly recordKey: string;
  /**
   * SHA-256 (hex) of the content; changes when ETS re-sends a changed report. The key fields are
   * part of what is hashed, so equal hashes mean the same record with the same content.
   */
  readonly contentHash: string;
  /** The score scale: `ibt` 0–120, `ibt26` 1–6, `essentials`, or `unknown`. */
  readonly scale: ScoreScale;
  /** The body it came from: a fixed-length line (`raw` is the line) or a JSON object. */
  readonly format: 'scorelink' | 'json';
}

/** The fields that make a record key, in key order. */
export const RECORD_KEY_FIELDS = [
  'institutionCode',
  'departmentCode',
  'appointmentNumber',
  'testDate',
  'testType',
] as const;

/** Key fields without which a record cannot be identified (the others may be blank). */
export const REQUIRED_KEY_FIELDS = ['institutionCode', 'appointmentNumber', 'testDate'] as const;

/** The first day of iBT26 (1–6 band) reporting. */
export const IBT26_START_DATE = '2026-01-21';

/** A layout prepared for building records fast: field order, key and scale fields. */
export interface CompiledLayout {
  readonly layout: Layout;
  /** The typed (non-filler) fields in reading order; values arrays follow this order. */
  readonly fields: readonly LayoutField[];
  readonly ids: readonly string[];
  /**
   * The record key of a fields object (spaces inside the appointment number removed). Built by
   * `Array.prototype.join`, which writes one new flat string: field values are slices of the
   * decoded chunk, and a key made by concatenation would point into (and keep alive) the chunk
   * wherever it is kept — a ledger of a 100,000-record fetch held 470 MB that way.
   */
  readonly keyOf: (fields: Record<string, FieldValue>) => string;
  /** True when a required key field is blank (then {@link buildRecord} lists which). */
  readonly lacksKey: (fields: Record<string, FieldValue>) => boolean;
  readonly hasEssentials: (fields: Record<string, FieldValue>) => boolean;
  readonly hasIbt26: (fields: Record<string, FieldValue>) => boolean;
  readonly hasIbt: (fields: Record<string, FieldValue>) => boolean;
  /** Makes the fields object from a values array in one object literal (one hidden class, fast). */
  readonly fieldsOf: (values: readonly FieldValue[]) => Record<string, FieldValue>;
}

const compiled = new WeakMap<Layout, CompiledLayout>();

/** Prepares (once per layout object) what building a record needs. */
export function compileLayout(layout: Layout): CompiledLayout {
  let c = compiled.get(layout);
  if (c) return c;
  const fields = layout.fields.filter((f) => f.type !== 'filler');
  const ids = fields.map((f) => f.id);
  const idsWhere = (test: (f: LayoutField) => boolean) => fields.filter(test).map((f) => f.id);
  const block = layout.fields.find((f) => f.id === 'ibt26Block');
  c = {
    layout,
    fields,
    ids,
    keyOf: compiledAccess(
      `[${RECORD_KEY_FIELDS.map((id) => {
        if (!ids.includes(id)) return 'null';
        const value = `f[${JSON.stringify(id)}]`;
        return id === 'appointmentNumber' ? `squeeze(${value})` : value;
      }).join(', ')}].join('|')`,
    ),
    lacksKey: compiledAccess(
      REQUIRED_KEY_FIELDS.map((id) =>
        ids.includes(id) ? `f[${JSON.stringify(id)}] == null` : 'true',
      ).join(' || '),
    ),
    hasEssentials: anyPresent(idsWhere((f) => /^ess/.test(f.id) && f.type === 'score')),
    hasIbt26: anyPresent(
      idsWhere(
        (f) => /ibt26/i.test(f.id) || (!!block && f.start >= block.start && f.end <= block.end),
      ),
    ),
    hasIbt: anyPresent(
      idsWhere((f) => /^ibt(Listening|Reading|Speaking|Writing|Total)$/.test(f.id)),
    ),
    fieldsOf: objectBuilder(ids),
  };
  compiled.set(layout, c);
  return c;
}

/**
 * Compiles `values => ({ id0: values[0], id1: values[1], … })` for a layout's ids. Ids are
 * validated by the layout schema (letters, digits, `_`) and quoted with JSON.stringify, so the
 * generated source cannot contain anything but property names and indexes. (The same holds for
 * the accessors below: constant property names make fast, monomorphic loads.)
 */
function objectBuilder(ids: readonly string[]): CompiledLayout['fieldsOf'] {
  const body = ids.map((id, i) => `${JSON.stringify(id)}: v[${i}]`).join(',\n');
  return new Function('v', `return {\n${body}\n};`) as CompiledLayout['fieldsOf'];
}

// biome-ignore lint/suspicious/noExplicitAny: compiled accessors return what their source says.
function compiledAccess(expression: string): (fields: Record<string, FieldValue>) => any {
  return new Function('squeeze', `return (f) => ${expression};`)(squeeze);
}

/** Registration numbers are compared without spaces. */
function squeeze(value: FieldValue): FieldValue {
  return typeof value === 'string' && value.includes(' ') ? value.replace(/\s+/g, '') : value;
}

function anyPresent(ids: readonly string[]): (fields: Record<string, FieldValue>) => boolean {
  return compiledAccess(
    ids.map((id) => `f[${JSON.stringify(id)}] != null`).join(' || ') || 'false',
  );
}

/**
 * Makes a record from its typed fields. The content hash is taken over `hashSource` when given
 * (the exact fixed-length line: any change ETS makes shows), otherwise over the typed fields
 * and unknown keys (JSON sources). Returns the ids of required key fields that are blank; such a
 * record cannot be identified and is an issue.
 */
export function buildRecord(
  c: CompiledLayout,
  fields: Record<string, FieldValue>,
  raw: string,
  extra?: Record<string, unknown>,
  hashSource?: string,
  /** The content hash, when already known (a held record read again). */
  knownHash?: string,
): { record: ScoreRecord; missingKey: readonly string[] } {
  const recordKey = c.keyOf(fields);
  const missingKey = c.lacksKey(fields)
    ? REQUIRED_KEY_FIELDS.filter((id) => fields[id] == null)
    : NONE;
  return {
    record: new ParsedRecord(
      c.layout.name,
      fields,
      extra,
      raw,
      recordKey,
      hashSource,
      scaleOf(c, fields, extra),
      hashSource === undefined ? 'json' : 'scorelink',
      knownHash,
    ),
    missingKey,
  };
}

/**
 * The record implementation. The content hash is computed on first read and then kept: the
 * parser's hot path does not pay for SHA-256 until the ledger or a destination asks.
 */
class ParsedRecord implements ScoreRecord {
  #hash: string | undefined;
  #hashSource: string | undefined;

  constructor(
    readonly layout: string,
    readonly fields: RecordFields,
    readonly extra: Readonly<Record<string, unknown>> | undefined,
    readonly raw: string,
    readonly recordKey: string,
    hashSource: string | undefined,
    readonly scale: ScoreScale,
    readonly format: 'scorelink' | 'json',
    knownHash?: string,
  ) {
    this.#hash = knownHash;
    this.#hashSource = knownHash === undefined ? hashSource : undefined;
  }

  get contentHash(): string {
    if (this.#hash === undefined) {
      const content =
        this.#hashSource ??
        JSON.stringify(this.extra ? [this.fields, sortedEntries(this.extra)] : this.fields);
      this.#hash = hash('sha256', content, 'hex');
      this.#hashSource = undefined;
    }
    return this.#hash;
  }

  toJSON(): CanonicalRecord {
    return toCanonicalJson(this);
  }
}

const NONE: readonly string[] = [];

function scaleOf(
  c: CompiledLayout,
  fields: Record<string, FieldValue>,
  extra?: Record<string, unknown>,
): ScoreScale {
  if (c.hasEssentials(fields)) return 'essentials';
  if (c.hasIbt26(fields)) return 'ibt26';
  if (extra && Object.keys(extra).some((k) => /ibt26/i.test(k) && extra[k] != null)) return 'ibt26';
  if (c.hasIbt(fields)) {
    const total = fields.ibtTotal;
    const date = fields.testDate;
    // From 21 Jan 2026 a 1–6 band total may arrive in the legacy total field.
    if (
      typeof total === 'number' &&
      total <= 6 &&
      typeof date === 'string' &&
      date >= IBT26_START_DATE
    ) {
      return 'ibt26';
    }
    return 'ibt';
  }
  return 'unknown';
}

function sortedEntries(obj: Record<string, unknown>): [string, unknown][] {
  return Object.entries(obj).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
}

/** The canonical JSON form: one flat object — layout ids, unknown JSON keys, and the three derived values. */
export type CanonicalRecord = Record<string, unknown> & {
  recordKey: string;
  contentHash: string;
  scale: ScoreScale;
};

/** The canonical JSON form of a record, used by `parse`, webhook payloads and the file adapter. */
export function toCanonicalJson(record: ScoreRecord): CanonicalRecord {
  return {
    ...record.extra,
    ...record.fields,
    recordKey: record.recordKey,
    contentHash: record.contentHash,
    scale: record.scale,
  };
}
