import { describe, expect, it } from 'vitest';
import { configProblems } from '../testing/records.test-helpers.js';
import { layoutFromSpreadsheetCsv } from './import-csv.js';
import type { Layout, LayoutOverride } from './layout.js';
import { layoutFromJson } from './load.js';

// Shaped like ETS's ScoreLink layout spreadsheet saved as CSV: a title row, the header,
// section rows without positions, quoted names with commas.
const SHEET = `TOEFL ScoreLink Layout,,,,,,,
Start,End,Size,Data Format,CL A,CL N,Field Name,Comments
1,4,4,CH,X,X,Institution Code,DI code
5,9,5,CH,X,X,Filler,
10,11,2,CH,X,X,Department Code,
,,,,,,Test taker,
12,41,30,CH,X,X,"Last (Family) Name, as on ID",
42,49,8,CH,,X,Date of Birth,YYYYMMDD
50,52,3,CH,,X,iBT Total Score,
53,60,8,CH,,X,Administration Date,
`;

const IBT26_SHEET = `Start,End,Size,Data Format,CL A,CL N,Field Name,Comments
832,834,3,CH,,X,iBT26 Reading Band,1-6 in half steps
835,837,3,CH,,X,iBT26 Listening Band,
838,839,2,CH,X,X,iBT26 CEFR Reading,
`;

const problems = (csv: string) =>
  configProblems(() => layoutFromSpreadsheetCsv(csv, { source: 'sheet.csv' }));

describe('layout import from ETS spreadsheet CSV', () => {
  it('writes a complete layout with ids, types and certainty', () => {
    const layout = layoutFromSpreadsheetCsv(SHEET, {
      source: 'sheet.csv',
      name: 'ets-2026',
    }) as Layout;
    expect(layout).toMatchObject({ name: 'ets-2026', recordLength: 60 });
    expect(layout.fields.map((f) => [f.id, f.type])).toEqual([
      ['institutionCode', 'text'],
      ['filler_5_9', 'filler'],
      ['departmentCode', 'text'],
      ['lastFamilyNameAsOnId', 'text'],
      ['dateOfBirth', 'date'],
      ['ibtTotalScore', 'score'],
      ['administrationDate', 'date'],
    ]);
    expect(layout.fields[0]).toMatchObject({ certainty: 'site-spreadsheet', comment: 'DI code' });
    // The output loads as a site would load it.
    expect(layoutFromJson(JSON.stringify(layout), 'out.json').fields).toHaveLength(7);
  });

  it('writes an override of a shipped layout for iBT26 sub-fields', () => {
    const override = layoutFromSpreadsheetCsv(IBT26_SHEET, {
      source: 'ibt26.csv',
      extends: 'scorelink-1600',
    }) as LayoutOverride;
    expect(override.extends).toBe('scorelink-1600');
    expect(override.fields.map((f) => f.id)).toEqual([
      'ibt26ReadingBand',
      'ibt26ListeningBand',
      'ibt26CefrReading',
    ]);
    const merged = layoutFromJson(JSON.stringify(override), 'o.json');
    expect(merged.fields.find((f) => f.id === 'ibt26ReadingBand')).toMatchObject({
      start: 832,
      type: 'score',
    });
  });

  it('reuses shipped ids for rows at shipped positions', () => {
    const csv = 'Start,End,Size,Field Name\n1,4,4,DI Code\n832,834,3,Band\n';
    const override = layoutFromSpreadsheetCsv(csv, {
      source: 's.csv',
      extends: 'scorelink-1600',
    }) as LayoutOverride;
    expect(override.fields).toEqual([
      { id: 'institutionCode', name: 'DI Code', certainty: 'site-spreadsheet' },
      expect.objectContaining({ id: 'band', start: 832 }),
    ]);
  });

  it('reports every row that does not add up, with its CSV line', () => {
    const bad = `Start,End,Size,Field Name
1,4,5,Institution Code
5,9,5,Filler
8,12,5,Overlapping
x,14,1,Not a number
20,18,,Backwards
`;
    expect(problems(bad)).toEqual([
      'sheet.csv:2 (Institution Code): End − Start + 1 = 4, but Size is 5',
      'sheet.csv:5: Start "x" and End "14" must both be whole numbers from 1',
      'sheet.csv:6 (Backwards): End 18 is before Start 20',
      'sheet.csv:4 (Overlapping, 8–12) overlaps line 3 (Filler, 5–9)',
    ]);
  });

  it('explains a file that is not the spreadsheet', () => {
    expect(problems('a,b,c\n1,2,3\n')[0]).toMatch(
      /no header row with the columns Start, End and Field Name/,
    );
  });

  it('treats a row holding other rows as a raw block', () => {
    const csv = 'Start,End,Size,Field Name\n1,10,10,Block\n1,3,3,Part One\n4,6,3,Part Two\n';
    const layout = layoutFromSpreadsheetCsv(csv, { source: 's.csv' }) as Layout;
    expect(layout.fields.map((f) => [f.id, f.type])).toEqual([
      ['block', 'raw'],
      ['partOne', 'text'],
      ['partTwo', 'text'],
    ]);
  });
});
