import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../testing/run.test-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-layout-'));

describe('scorebridge layout', () => {
  it('shows the shipped layout with positions, types and certainty', async () => {
    const { code, stdout } = await run(['layout', 'show']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/^scorelink-1600: 1600 characters, 90 fields/);
    expect(stdout).toMatch(
      /\n\s+1\s+4\s+4\s+code\s+verbatim\s+institutionCode\s+Institution Code\n/,
    );
    expect(stdout).toMatch(/\n\s+832\s+937\s+106\s+raw\s+verbatim-range\s+ibt26Block/);
    expect((await run(['layout', 'show', '--builtin', 'scorelink-legacy-900'])).stdout).toMatch(
      /reportDate/,
    );
  });

  it('imports a spreadsheet CSV into an override, then shows it merged', async () => {
    const csv = join(dir, 'ibt26.csv');
    writeFileSync(
      csv,
      'Start,End,Size,Data Format,CL A,CL N,Field Name,Comments\n832,834,3,CH,,X,iBT26 Reading Band,\n835,836,2,CH,X,X,iBT26 Reading CEFR,\n',
    );
    const out = join(dir, 'ibt26.json');
    const imported = await run(['layout', 'import', csv, '--extends', 'scorelink-1600', '-o', out]);
    expect(imported.code).toBe(0);
    expect(imported.stderr).toContain(`wrote an override of scorelink-1600 (2 fields) to ${out}`);
    expect(JSON.parse(readFileSync(out, 'utf8'))).toMatchObject({ extends: 'scorelink-1600' });
    const shown = await run(['layout', 'show', '--layout', out]);
    expect(shown.stdout).toMatch(
      /ibt26Block[^\n]*\n\s+832\s+834\s+3\s+score\s+site-spreadsheet\s+ {2}ibt26ReadingBand/,
    );
  });

  it('refuses a sheet whose rows do not add up, and writes nothing', async () => {
    const csv = join(dir, 'bad.csv');
    writeFileSync(csv, 'Start,End,Size,Field Name\n1,4,3,Institution Code\n3,6,4,Overlap\n');
    const out = join(dir, 'never.json');
    const { code, stderr } = await run(['layout', 'import', csv, '-o', out]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      `scorebridge: error: ${csv}:2 (Institution Code): End − Start + 1 = 4, but Size is 3`,
    );
    expect(stderr).toContain(
      `scorebridge: error: ${csv}:3 (Overlap, 3–6) overlaps line 2 (Institution Code, 1–4)`,
    );
    expect(() => readFileSync(out)).toThrow();
  });
});
