import type { ScoreRecord } from './record/record.js';
import { toCanonicalJson } from './record/record.js';

/**
 * Cells that start with `=`, `+`, `-`, `@`, a tab or a carriage return can be run as formulas by
 * spreadsheet programs (CSV injection). Such a cell gets a leading apostrophe, which spreadsheets
 * show as text and drop from display.
 */
export function neutralizeFormula(cell: string): string {
  return /^[=+\-@\t\r]/.test(cell) ? `'${cell}` : cell;
}

/** How records become CSV. */
export interface CsvOptions {
  /**
   * Columns as record field → header, in order; record fields are canonical JSON keys (layout
   * ids, `recordKey`, `contentHash`, `scale`). @default every key of the records, in order
   */
  columns?: Readonly<Record<string, string>>;
  /** How date fields are written. @default 'YYYY-MM-DD' */
  dateFormat?: 'YYYY-MM-DD' | 'MM/DD/YYYY' | 'YYYYMMDD';
}

const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})$/;

/**
 * Records as CSV: UTF-8, a header row, RFC 4180 quoting (a cell with a comma, a quote, a CR or an
 * LF is quoted, its quotes doubled; nothing else is), LF between rows, a stable column order, and
 * cells that could run as spreadsheet formulas neutralised. Written by hand, one join per row:
 * a general CSV library spent most of a large delivery's time on options these rows never need
 * (docs/performance.md); a test round-trips hostile values through csv-parse.
 */
export function recordsToCsv(records: readonly ScoreRecord[], options: CsvOptions = {}): string {
  const fields = options.columns ? Object.keys(options.columns) : columnsOf(records);
  const headers = options.columns ? fields.map((f) => options.columns![f]!) : fields;
  const rewrite =
    options.dateFormat && options.dateFormat !== 'YYYY-MM-DD' ? options.dateFormat : undefined;
  const cell = (value: unknown) => {
    if (value == null) return '';
    const text = typeof value === 'string' ? value : String(value);
    const date = rewrite ? ISO_DATE.exec(text) : null;
    if (date)
      return rewrite === 'MM/DD/YYYY'
        ? `${date[2]}/${date[3]}/${date[1]}`
        : `${date[1]}${date[2]}${date[3]}`;
    // Most cells need neither: one test decides.
    return SPECIAL.test(text) ? quoted(neutralizeFormula(text)) : text;
  };
  const row = rowRenderer(fields);
  const lines = new Array<string>(records.length + 1);
  lines[0] = headers.map(quoted).join(',');
  for (let i = 0; i < records.length; i++) lines[i + 1] = row(records[i]!, cell);
  return `${lines.join('\n')}\n`;
}

/** A cell that is quoted, or could run as a formula: see {@link quoted}, {@link neutralizeFormula}. */
const SPECIAL = /^[=+\-@\t\r]|[",\r\n]/;

type RowRenderer = (record: ScoreRecord, cell: (value: unknown) => string) => string;
const renderers = new Map<string, RowRenderer>();

/**
 * One CSV row of a record's canonical values for `fields`, compiled once per column list: each
 * field is read by its own name (records of one layout share a hidden class, so every read is a
 * monomorphic property load), and the row is one concatenation. A lookup by a variable name per
 * cell spent most of the writer's time. The source holds only names quoted by JSON.stringify,
 * never data.
 */
function rowRenderer(fields: readonly string[]): RowRenderer {
  const key = fields.join('\n');
  let render = renderers.get(key);
  if (render) return render;
  const read = (field: string) => {
    if (field === 'recordKey' || field === 'contentHash' || field === 'scale') return `r.${field}`;
    const id = JSON.stringify(field);
    return `(${id} in r.fields ? r.fields[${id}] : r.extra?.[${id}])`;
  };
  const cells = fields.map((f, i) => `a[${i}] = c(${read(f)});`).join('\n');
  render = new Function(
    'r',
    'c',
    `const a = new Array(${fields.length});\n${cells}\nreturn a.join(',');`,
  ) as RowRenderer;
  if (renderers.size >= 64) renderers.clear(); // a process writes a few column lists
  renderers.set(key, render);
  return render;
}

/** A cell as RFC 4180 writes it: quoted only when it holds a comma, a quote, a CR or an LF. */
function quoted(text: string): string {
  return NEEDS_QUOTES.test(text) ? `"${text.replace(/"/g, '""')}"` : text;
}
const NEEDS_QUOTES = /[",\r\n]/;

/** Every canonical key, in order; computed once per record shape (layout and JSON extras). */
function columnsOf(records: readonly ScoreRecord[]): string[] {
  const columns = new Set<string>();
  const shapes = new Set<string>();
  for (const record of records) {
    const shape = record.extra
      ? `${record.layout}|${Object.keys(record.extra).join(',')}`
      : record.layout;
    if (shapes.has(shape)) continue;
    shapes.add(shape);
    for (const key of Object.keys(toCanonicalJson(record))) columns.add(key);
  }
  return [...columns];
}
