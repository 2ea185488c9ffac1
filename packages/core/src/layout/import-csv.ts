import { parse } from 'csv-parse/sync';
import { ConfigError } from '../errors.js';
import type { FieldType, Layout, LayoutField, LayoutOverride } from './layout.js';
import { type BuiltinLayoutName, builtinLayout, layoutFromJson } from './load.js';

/** Options of {@link layoutFromSpreadsheetCsv}. */
export interface SpreadsheetImportOptions {
  /** Names the CSV in error messages (usually its path). */
  source: string;
  /**
   * Write an override of this shipped layout instead of a complete layout: rows matching a
   * shipped field's positions keep its id; other rows become new fields (e.g. iBT26 sub-fields).
   */
  extends?: BuiltinLayoutName;
  /** The new layout's name. @default 'site-layout' */
  name?: string;
  /** The record length of a complete layout. @default the largest End in the file */
  recordLength?: number;
}

const CERTAINTY = 'site-spreadsheet';

interface Row {
  line: number;
  start: number;
  end: number;
  name: string;
  format: string;
  comment: string;
}

/**
 * Reads a CSV saved from ETS's ScoreLink layout spreadsheet (columns Start, End, Size, Data
 * Format, CL A, CL N, Field Name, Comments; a title row above the header is fine) and returns a
 * layout or override file's content. Rows that do not add up (End − Start + 1 ≠ Size, overlaps,
 * non-numbers) are all reported at once in a {@link ConfigError}, each with its CSV line.
 */
export function layoutFromSpreadsheetCsv(
  csv: string,
  options: SpreadsheetImportOptions,
): Layout | LayoutOverride {
  const { source } = options;
  const records = parse(csv, {
    info: true,
    relax_column_count: true,
    skip_empty_lines: true,
    bom: true,
  }) as unknown as { record: string[]; info: { lines: number } }[];
  const headerAt = records.findIndex(({ record }) => {
    const cells = record.map(normalizeHeader);
    return cells.includes('start') && cells.includes('end') && cells.includes('fieldname');
  });
  if (headerAt < 0) {
    throw new ConfigError(
      `${source}: no header row with the columns Start, End and Field Name (expected ETS's layout spreadsheet saved as CSV)`,
      { where: source },
    );
  }
  const header = records[headerAt]!.record.map(normalizeHeader);
  const col = (name: string) => header.indexOf(name);
  const at = {
    start: col('start'),
    end: col('end'),
    size: col('size'),
    format: col('dataformat'),
    name: col('fieldname'),
    comment: col('comments') >= 0 ? col('comments') : col('comment'),
  };

  const problems: string[] = [];
  const rows: Row[] = [];
  for (const { record, info } of records.slice(headerAt + 1)) {
    const cell = (i: number) => (i >= 0 ? (record[i] ?? '').trim() : '');
    const where = `${source}:${info.lines}`;
    const [startText, endText, sizeText, name] = [
      cell(at.start),
      cell(at.end),
      cell(at.size),
      cell(at.name),
    ];
    if (!startText && !endText) continue; // a section heading or note row
    const start = wholeNumber(startText);
    const end = wholeNumber(endText);
    if (start === undefined || end === undefined) {
      problems.push(
        `${where}: Start "${startText}" and End "${endText}" must both be whole numbers from 1`,
      );
      continue;
    }
    if (!name) problems.push(`${where}: the Field Name is empty`);
    if (end < start) problems.push(`${where} (${name}): End ${end} is before Start ${start}`);
    if (sizeText) {
      const size = wholeNumber(sizeText);
      if (size === undefined)
        problems.push(`${where} (${name}): Size "${sizeText}" is not a whole number`);
      else if (end - start + 1 !== size) {
        problems.push(
          `${where} (${name}): End − Start + 1 = ${end - start + 1}, but Size is ${size}`,
        );
      }
    }
    rows.push({
      line: info.lines,
      start,
      end,
      name: name || `field ${start}`,
      format: cell(at.format),
      comment: cell(at.comment),
    });
  }
  if (rows.length === 0 && problems.length === 0)
    problems.push(`${source}: no field rows below the header`);

  // A row that wholly contains later rows is a block (its parts are the rows inside it);
  // any other overlap is a mistake in the sheet.
  const sorted = [...rows].sort((a, b) => a.start - b.start || b.end - a.end);
  const containers = new Set<Row>();
  const open: Row[] = [];
  for (const row of sorted) {
    while (open.length > 0 && open[open.length - 1]!.end < row.start) open.pop();
    const outer = open[open.length - 1];
    if (outer) {
      if (row.end <= outer.end) containers.add(outer);
      else {
        problems.push(
          `${source}:${row.line} (${row.name}, ${row.start}–${row.end}) overlaps line ${outer.line} (${outer.name}, ${outer.start}–${outer.end})`,
        );
      }
    }
    open.push(row);
  }
  if (problems.length > 0) throw new ConfigError(problems, { where: source });

  const base = options.extends ? builtinLayout(options.extends) : undefined;
  const used = new Set<string>(base?.fields.map((f) => f.id));
  const fields: LayoutField[] = [];
  const changed: LayoutOverride['fields'] = [];
  for (const row of sorted) {
    const type: FieldType = containers.has(row) ? 'raw' : guessType(row);
    const same = base?.fields.find((f) => f.start === row.start && f.end === row.end);
    const id =
      same?.id ??
      uniqueId(type === 'filler' ? `filler_${row.start}_${row.end}` : camelId(row.name), used);
    used.add(id);
    const field: LayoutField = {
      id,
      start: row.start,
      end: row.end,
      name: row.name,
      type,
      certainty: CERTAINTY,
    };
    if (row.comment) field.comment = row.comment;
    if (same) {
      if (same.name !== field.name) changed.push({ id, name: field.name, certainty: CERTAINTY });
      continue;
    }
    fields.push(field);
    changed.push(field);
  }

  const description = `Imported from ${source.split('/').pop()} (ETS layout spreadsheet).`;
  const result: Layout | LayoutOverride = options.extends
    ? { extends: options.extends, description, fields: changed, remove: [] }
    : {
        name: options.name ?? 'site-layout',
        description,
        recordLength: options.recordLength ?? Math.max(...rows.map((r) => r.end)),
        fields,
      };
  // The file must load exactly as a site would load it: same validation, same messages.
  layoutFromJson(JSON.stringify(result), source);
  return result;
}

function guessType(row: Row): FieldType {
  const name = row.name.toLowerCase();
  if (/\b(filler|reserved|blank)\b/.test(name)) return 'filler';
  if (/\b(date|dob)\b|birth/.test(name)) return 'date';
  if (/^(n|nu|num|numeric)$/i.test(row.format) || /\b(score|band|total|percentile)\b/.test(name))
    return 'score';
  return 'text';
}

function normalizeHeader(cell: string): string {
  return cell.toLowerCase().replace(/[^a-z]/g, '');
}

function wholeNumber(text: string): number | undefined {
  return /^\d+$/.test(text) && Number(text) >= 1 ? Number(text) : undefined;
}

/** `iBT26 Reading (Band)` → `ibt26ReadingBand`. */
function camelId(name: string): string {
  const words = name.split(/[^A-Za-z0-9]+/).filter(Boolean);
  const id = words
    .map((w, i) => (i === 0 ? w.toLowerCase() : w[0]!.toUpperCase() + w.slice(1).toLowerCase()))
    .join('');
  return /^[A-Za-z]/.test(id) ? id : `f${id || 'ield'}`;
}

function uniqueId(id: string, used: Set<string>): string {
  if (!used.has(id)) return id;
  for (let n = 2; ; n++) if (!used.has(`${id}${n}`)) return `${id}${n}`;
}
