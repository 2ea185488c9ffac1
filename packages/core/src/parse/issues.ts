import type { ScoreRecord } from '../record/record.js';

/** What went wrong with one record. */
export type ParseIssueCode =
  /** The line's length matches no known layout. */
  | 'length'
  /** The bytes were not valid in the declared encoding (U+FFFD appeared). */
  | 'encoding'
  /** A date field is not a real `YYYYMMDD` date. */
  | 'date'
  /** A score field is not a whole or half number. */
  | 'score'
  /** A field of the wrong JSON type (an object where text was expected, …). */
  | 'type'
  /** A required record-key field is blank, so the record cannot be identified. */
  | 'missing-key'
  /** The line is far longer than any record; it was skipped without being held in memory. */
  | 'too-long'
  /** A JSON element could not be parsed, or a key was mapped twice. */
  | 'json';

/**
 * One problem with one record. The message says where (line and field, with positions) and
 * why, and never contains the field's value: records carry personal data.
 */
export interface ParseIssue {
  /** 1-based line of a fixed-length body, or 1-based index in a JSON `data` array. */
  readonly line: number;
  /** `line 12` or `data[11]`. */
  readonly where: string;
  readonly code: ParseIssueCode;
  /** The layout id of the field, when the problem is in one field. */
  readonly field?: string;
  /** The reason, without the value. */
  readonly reason: string;
  /** `where, field (positions): reason` — what to print. */
  readonly message: string;
}

/** One record's outcome: the record (when one could be built) and its issues (empty when good). */
export interface ParsedEntry {
  readonly line: number;
  readonly record: ScoreRecord | undefined;
  readonly issues: readonly ParseIssue[];
  /**
   * SHA-256 (hex) of the source text, for entries without a record: the same unreadable line
   * met again (a re-run, another window) is recognised without keeping the text itself.
   */
  readonly fingerprint?: string;
}

/** Makes an issue with its message. */
export function parseIssue(
  line: number,
  where: string,
  code: ParseIssueCode,
  reason: string,
  field?: { id: string; start?: number; end?: number },
): ParseIssue {
  const fieldText = field
    ? `, field ${field.id}${field.start ? ` (${field.start}–${field.end})` : ''}`
    : '';
  return {
    line,
    where,
    code,
    field: field?.id,
    reason,
    message: `${where}${fieldText}: ${reason}`,
  };
}

/** Shared empty list for good records (most of them), to save an allocation each. */
export const NO_ISSUES: readonly ParseIssue[] = Object.freeze([]);
