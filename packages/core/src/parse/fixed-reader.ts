import type { LayoutField } from '../layout/layout.js';
import type { FieldValue } from '../record/values.js';
import { dateValue, isCalendarDate, scoreValue } from '../record/values.js';

/**
 * Reads one fixed-length record starting at offset `o` of `t` into its typed fields object.
 * `bad` is called for a date or score field whose characters are not valid; it records the
 * issue and returns the value to keep (the trimmed raw characters).
 */
export type FixedReader = (
  t: string,
  o: number,
  bad: (field: number, from: number, to: number) => string,
  blanks: Blanks,
) => Record<string, FieldValue>;

/**
 * Runs of spaces by length, stored as V8 stores `t` ({@link blanksFor}). A blank check compares a
 * slice of `t` with one of these in one native comparison; V8 compares two one-byte or two
 * two-byte strings as memory, but a one-byte string with a two-byte one character by character,
 * so a text holding one letter beyond Latin-1 (a two-byte string) compared with the one-byte
 * literals it used to be compared with: about 5% of the whole parse (docs/performance.md).
 */
export type Blanks = readonly string[];

/**
 * `String.prototype.charCodeAt`, called as `charCodeAt.call(t, i)`. Once any object in the process
 * has `String.prototype` as its prototype — ioredis defines `class VerbatimString extends String`,
 * so every worker process has one — V8 stops inlining `t.charCodeAt(i)` and it costs about six
 * times as much; the builtin held here and called with `.call` is inlined either way
 * (docs/performance.md). The same effect is reported for `Object.create(String.prototype)`
 * slowing parse5 (github.com/inikulin/parse5/issues/1348, from aws-sdk-js-v3#6182).
 */
const charCodeAt = String.prototype.charCodeAt;
/** `String.prototype.slice`, for the same reason. */
const slice = String.prototype.slice;

/** Consecutive fields checked for blankness together; see {@link compileFixedReader}. */
const GROUP_SIZE = 10;

let ONE_BYTE: Blanks = [];
let TWO_BYTE: Blanks = [];
widenBlanks(2048);

/** Makes the tables hold runs up to `longest` (each a slice of one string: small handles). */
function widenBlanks(longest: number): void {
  if (ONE_BYTE.length > longest) return;
  const runs = (spaces: string) =>
    Array.from({ length: longest + 1 }, (_, n) => spaces.slice(0, n));
  ONE_BYTE = runs(' '.repeat(longest));
  TWO_BYTE = runs(`\u0100${' '.repeat(longest)}`.slice(1));
}

/**
 * Characters beyond Latin-1, which V8 stores two bytes each (a whole string, once it holds one).
 * On a one-byte string irregexp fails this at once without scanning; a two-byte text usually
 * holds such a letter in its first records.
 */
const BEYOND_LATIN1 = /[\u0100-\uffff]/;

/** The blank runs stored as `text` is: pass one per decoded chunk (or line) to the reader. */
export function blanksFor(text: string): Blanks {
  return BEYOND_LATIN1.test(text) ? TWO_BYTE : ONE_BYTE;
}

/**
 * Compiles a reader for a layout's typed fields (in reading order). Performance matters here
 * (a backfill is hundreds of thousands of records) and it decides the design:
 * - fields are read by offset from the decoded chunk, never from a per-line substring:
 *   `charCodeAt` on a flat string is twice as fast as on a slice;
 * - `String.prototype.trim` is a runtime call (~30 ns), so padding is found with `charCodeAt`;
 * - most of a record is blank, so runs of up to ten fields are first compared, in one native
 *   string comparison, with a run of spaces stored as the text is ({@link Blanks});
 * - text is left-justified, so only its padding is scanned;
 * - a date is one concatenation of cached parts (`2025` + `-05-03`), not three slices joined;
 * - the result is one object literal with the layout's ids, so every record shares one
 *   hidden class.
 * The generated source contains only numbers and ids quoted by JSON.stringify (ids are
 * validated by the layout schema), never data.
 */
export function compileFixedReader(fields: readonly LayoutField[]): FixedReader {
  widenBlanks(fields.reduce((n, f) => Math.max(n, f.end), 0));
  const lines: string[] = [];
  lines.push(`let ${fields.map((_, i) => `v${i} = null`).join(', ')};`);
  for (let g = 0; g < fields.length; ) {
    let end = g + 1;
    // A sub-field starts inside the span before it: it opens a new run.
    while (
      end < fields.length &&
      end - g < GROUP_SIZE &&
      fields[end]!.start > fields[end - 1]!.end
    ) {
      end++;
    }
    const from = fields[g]!.start - 1;
    const to = fields[end - 1]!.end;
    lines.push(`if (!blank(t, o + ${from}, o + ${to}, s[${to - from}])) {`);
    for (let i = g; i < end; i++) {
      const f = fields[i]!;
      const a = `o + ${f.start - 1}`;
      const b = `o + ${f.end}`;
      const blanks = `s[${f.end - f.start + 1}]`;
      switch (f.type) {
        case 'date':
          lines.push(
            `  v${i} = readDate(t, ${a}, ${b}, ${blanks}); if (v${i} === undefined) v${i} = bad(${i}, ${a}, ${b});`,
          );
          break;
        case 'score':
          lines.push(
            `  v${i} = readScore(t, ${a}, ${b}); if (v${i} === undefined) v${i} = bad(${i}, ${a}, ${b});`,
          );
          break;
        case 'raw':
          lines.push(
            `  v${i} = blank(t, ${a}, ${b}, ${blanks}) ? null : slice.call(t, ${a}, ${b});`,
          );
          break;
        default:
          lines.push(`  v${i} = readText(t, ${a}, ${b}, ${blanks});`);
      }
    }
    lines.push('}');
    g = end;
  }
  lines.push(`return {${fields.map((f, i) => `${JSON.stringify(f.id)}: v${i}`).join(', ')}};`);
  const factory = new Function(
    'slice',
    'blank',
    'readText',
    'readDate',
    'readScore',
    `return function readFixedRecord(t, o, bad, s) {\n${lines.join('\n')}\n};`,
  );
  return factory(slice, blank, readText, readDate, readScore) as FixedReader;
}

/** True when `t[a..b)` is all spaces; `spaces` is a string of b − a spaces. */
function blank(t: string, a: number, b: number, spaces: string): boolean {
  return (
    charCodeAt.call(t, a) === 32 &&
    charCodeAt.call(t, b - 1) === 32 &&
    slice.call(t, a, b) === spaces
  );
}

/** Trimmed text of `t[a..b)`, or null when blank. */
function readText(t: string, a: number, b: number, spaces: string): string | null {
  if (charCodeAt.call(t, a) > 32) {
    // Left-justified, the usual case: the first character stops the padding scan.
    while (charCodeAt.call(t, b - 1) <= 32) b--;
    return slice.call(t, a, b);
  }
  if (slice.call(t, a, b) === spaces) return null;
  while (b > a && charCodeAt.call(t, b - 1) <= 32) b--;
  while (a < b && charCodeAt.call(t, a) <= 32) a++;
  return a === b ? null : slice.call(t, a, b);
}

/** `2025` for years seen so far, and `-MM-DD` for every month and day: dates are two parts. */
const YEARS: string[] = [];
const MONTH_DAYS: string[] = [];
for (let m = 1; m <= 12; m++) {
  for (let d = 1; d <= 31; d++) {
    MONTH_DAYS[m * 32 + d] = `-${String(m).padStart(2, '0')}-${String(d).padStart(2, '0')}`;
  }
}

/** `YYYYMMDD` → `YYYY-MM-DD`; null when blank or zeros; undefined when not a real date. */
function readDate(t: string, a: number, b: number, spaces: string): string | null | undefined {
  if (b - a !== 8) return dateValue(slice.call(t, a, b));
  let y = 0;
  let m = 0;
  let d = 0;
  for (let i = 0; i < 8; i++) {
    const c = charCodeAt.call(t, a + i) - 48;
    if (c < 0 || c > 9) return blank(t, a, b, spaces) ? null : undefined;
    if (i < 4) y = y * 10 + c;
    else if (i < 6) m = m * 10 + c;
    else d = d * 10 + c;
  }
  if (y === 0 && m === 0 && d === 0) return null;
  if (!isCalendarDate(y, m, d)) return undefined;
  return (YEARS[y] ??= String(y)) + MONTH_DAYS[m * 32 + d];
}

/** Whole numbers the fast way; anything with a point goes through `scoreValue`. */
function readScore(t: string, a: number, b: number): number | null | undefined {
  let v = 0;
  let digits = 0;
  let trailing = false;
  for (let i = a; i < b; i++) {
    const c = charCodeAt.call(t, i);
    if (c >= 48 && c <= 57 && !trailing) {
      v = v * 10 + (c - 48);
      digits++;
    } else if (c === 32) {
      if (digits > 0) trailing = true;
    } else return scoreValue(slice.call(t, a, b));
  }
  return digits === 0 ? null : v;
}
