import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import { describe, expect, it } from 'vitest';
import { neutralizeFormula, recordsToCsv } from './csv.js';
import type { ScoreRecord } from './record/record.js';

/** A record whose fields hold these values (the writer reads fields, keys and hash only). */
const withFields = (fields: Record<string, unknown>, i: number): ScoreRecord =>
  ({
    recordKey: `K${i}`,
    contentHash: `h${i}`,
    scale: 'ibt',
    layout: 'test',
    fields,
  }) as unknown as ScoreRecord;

const HOSTILE = [
  'plain',
  'with, comma',
  'with "quotes"',
  '"starts with a quote',
  'line\nbreak',
  'carriage\rreturn',
  'crlf\r\nin it',
  'Zoë Ñúñez 李 😀',
  '=HYPERLINK("http://x","y")',
  '+1',
  '-2',
  '@SUM(A1)',
  '\tTAB',
  ' spaces ',
  '',
  ',',
  '""',
];

describe('recordsToCsv', () => {
  it('round-trips hostile values through csv-parse (RFC 4180), formulas neutralised with an apostrophe', () => {
    const records = HOSTILE.map((v, i) => withFields({ name: v, note: `${v}|${i}`, n: i }, i));
    const csv = recordsToCsv(records, {
      columns: { recordKey: 'Key', name: 'Name', note: 'Note, "quoted"', n: 'N' },
    });
    const rows = parse(csv, { relax_column_count: false }) as string[][];
    expect(rows[0]).toEqual(['Key', 'Name', 'Note, "quoted"', 'N']);
    expect(rows.slice(1)).toEqual(
      HOSTILE.map((v, i) => [
        `K${i}`,
        neutralizeFormula(v),
        neutralizeFormula(`${v}|${i}`),
        String(i),
      ]),
    );
    // A formula never reaches a spreadsheet as one.
    for (const row of rows.slice(1)) expect(row[1]).not.toMatch(/^[=+\-@\t\r]/);
  });

  it('writes what csv-stringify writes for the same cells, byte for byte', () => {
    const records = HOSTILE.map((v, i) =>
      withFields({ a: v, b: i % 3 ? null : i * 1.5, c: true }, i),
    );
    const expected = stringify([
      ['recordKey', 'a', 'b', 'c'],
      ...records.map((r) => [
        r.recordKey,
        neutralizeFormula(String(r.fields.a)),
        r.fields.b == null ? '' : String(r.fields.b),
        'true',
      ]),
    ]);
    expect(
      recordsToCsv(records, { columns: { recordKey: 'recordKey', a: 'a', b: 'b', c: 'c' } }),
    ).toBe(expected);
  });

  it('rewrites dates as the destination asks, and only dates', () => {
    const csv = recordsToCsv([withFields({ d: '2026-03-04', t: '2026-03-04x' }, 0)], {
      columns: { d: 'D', t: 'T' },
      dateFormat: 'MM/DD/YYYY',
    });
    expect(csv).toBe('D,T\n03/04/2026,2026-03-04x\n');
  });
});
