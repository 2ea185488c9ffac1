/** A typed field value: text and codes are strings, dates `YYYY-MM-DD` strings, scores numbers. */
export type FieldValue = string | number | null;

/** Why a field's characters could not be typed; the raw value is kept in the record. */
export type ValueProblem = 'date' | 'score';

/** Human words for a {@link ValueProblem}; never includes the value (it may be personal data). */
export const VALUE_PROBLEM_TEXT: Record<ValueProblem, string> = {
  date: 'not a valid YYYYMMDD date',
  score: 'not a whole or half number',
};

/** Trimmed text, or null when blank. */
export function textValue(chars: string): string | null {
  const t = chars.trim();
  return t.length === 0 ? null : t;
}

/**
 * `YYYYMMDD` → `YYYY-MM-DD`; also accepts `YYYY-MM-DD` (JSON sources). Returns null for blank
 * or all-zero input, undefined when the characters are not a real calendar date.
 */
export function dateValue(chars: string): string | null | undefined {
  const t = chars.trim();
  if (t.length === 0 || t === '00000000') return null;
  let y: number;
  let m: number;
  let d: number;
  if (t.length === 8 && isDigits(t, 0, 8)) {
    y = num(t, 0, 4);
    m = num(t, 4, 6);
    d = num(t, 6, 8);
  } else if (
    t.length >= 10 &&
    t.charCodeAt(4) === 45 &&
    t.charCodeAt(7) === 45 &&
    isDigits(t, 0, 4) &&
    isDigits(t, 5, 7) &&
    isDigits(t, 8, 10) &&
    (t.length === 10 || t.charCodeAt(10) === 84)
  ) {
    y = num(t, 0, 4);
    m = num(t, 5, 7);
    d = num(t, 8, 10);
  } else return undefined;
  if (!isCalendarDate(y, m, d)) return undefined;
  return `${pad(y, 4)}-${pad(m, 2)}-${pad(d, 2)}`;
}

/** A whole or half number (`95`, `5.5`, `10.50`); null when blank, undefined when not a score. */
export function scoreValue(chars: string | number): number | null | undefined {
  if (typeof chars === 'number')
    return Number.isFinite(chars) && Number.isInteger(chars * 2) && chars >= 0 ? chars : undefined;
  const t = chars.trim();
  if (t.length === 0) return null;
  let dots = 0;
  for (let i = 0; i < t.length; i++) {
    const c = t.charCodeAt(i);
    if (c === 46) dots++;
    else if (c < 48 || c > 57) return undefined;
  }
  if (dots > 1 || t.charCodeAt(0) === 46 || t.charCodeAt(t.length - 1) === 46) return undefined;
  const value = Number(t);
  return Number.isInteger(value * 2) ? value : undefined;
}

/** The characters untouched, or null when they are all blank (spans whose parts are not known). */
export function rawValue(chars: string): string | null {
  return chars.trim().length === 0 ? null : chars;
}

function isDigits(s: string, from: number, to: number): boolean {
  for (let i = from; i < to; i++) {
    const c = s.charCodeAt(i);
    if (c < 48 || c > 57) return false;
  }
  return true;
}

function num(s: string, from: number, to: number): number {
  let n = 0;
  for (let i = from; i < to; i++) n = n * 10 + (s.charCodeAt(i) - 48);
  return n;
}

function pad(n: number, width: number): string {
  return String(n).padStart(width, '0');
}

/** A real date from 1900 on (ETS dates of birth and tests are never earlier). */
export function isCalendarDate(y: number, m: number, d: number): boolean {
  return y >= 1900 && m >= 1 && m <= 12 && d >= 1 && d <= daysInMonth(y, m);
}

function daysInMonth(y: number, m: number): number {
  if (m === 2) return (y % 4 === 0 && y % 100 !== 0) || y % 400 === 0 ? 29 : 28;
  return m === 4 || m === 6 || m === 9 || m === 11 ? 30 : 31;
}
