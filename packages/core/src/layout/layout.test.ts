import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { configProblems, LAYOUT_900, LAYOUT_1600 } from '../testing/records.test-helpers.js';
import { layoutProblems } from './layout.js';
import { layoutFromJson, loadLayoutFile, resolveLayouts } from './load.js';

function field(id: string, start: number, end: number, type = 'text') {
  return { id, start, end, name: id, type, certainty: 'site' };
}

describe('shipped layouts', () => {
  it('cover the 1600-character record exactly, field after field', () => {
    const top = LAYOUT_1600.fields;
    expect(top).toHaveLength(90);
    expect(top[0]!.start).toBe(1);
    for (let i = 1; i < top.length; i++) expect(top[i]!.start).toBe(top[i - 1]!.end + 1);
    expect(top.at(-1)!.end).toBe(1600);
  });

  it('keep the reference positions, ETS names and certainty', () => {
    const byId = Object.fromEntries(LAYOUT_1600.fields.map((f) => [f.id, f]));
    expect(byId.institutionCode).toMatchObject({
      start: 1,
      end: 4,
      name: 'Institution Code',
      certainty: 'verbatim',
    });
    expect(byId.appointmentNumber).toMatchObject({ start: 27, end: 42, certainty: 'verbatim' });
    expect(byId.dateOfBirth).toMatchObject({ start: 530, end: 537, type: 'date' });
    expect(byId.ibtTotal).toMatchObject({ start: 567, end: 569, type: 'score' });
    expect(byId.email).toMatchObject({ start: 591, end: 665, type: 'text' });
    expect(byId.ibt26Block).toMatchObject({
      start: 832,
      end: 937,
      type: 'raw',
      certainty: 'verbatim-range',
    });
    expect(byId.essTotal).toMatchObject({
      start: 1209,
      end: 1212,
      certainty: 'code-2025-dead-branch',
    });
    expect(byId.unknown_1279_1600).toMatchObject({ type: 'raw', certainty: 'unknown' });
  });

  it('legacy 900 layout shares ids with the current one where positions agree', () => {
    expect(LAYOUT_900.recordLength).toBe(900);
    const byId = Object.fromEntries(LAYOUT_900.fields.map((f) => [f.id, f]));
    expect(byId.testDate).toMatchObject({ start: 539, end: 546 });
    expect(byId.reportDate).toMatchObject({ start: 767, end: 774, type: 'date' });
    expect(layoutProblems(LAYOUT_900)).toEqual([]);
  });
});

describe('layout validation', () => {
  const layout = (fields: object[], recordLength = 20) =>
    JSON.stringify({ name: 't', recordLength, fields });

  it('reports every problem at once, naming the fields', () => {
    const problems = configProblems(() =>
      layoutFromJson(
        layout([
          field('a', 1, 5),
          field('b', 4, 8),
          field('a', 10, 12),
          field('c', 15, 25),
          field('d', 9, 8),
        ]),
        'site.json',
      ),
    );
    expect(problems).toEqual(
      expect.arrayContaining([
        'site.json: field a: the id is used twice',
        'site.json: field c (15–25): ends past the record length 20',
        'site.json: field d: start 9 is after end 8',
        expect.stringMatching(/^site\.json: fields a \(1–5\) and b \(4–8\) overlap$/),
      ]),
    );
  });

  it('allows sub-fields only inside raw or filler spans', () => {
    expect(() =>
      layoutFromJson(
        layout([field('block', 1, 10, 'raw'), field('part', 2, 4, 'score')]),
        's.json',
      ),
    ).not.toThrow();
    const problems = configProblems(() =>
      layoutFromJson(layout([field('name', 1, 10), field('part', 2, 4)]), 's.json'),
    );
    expect(problems[0]).toMatch(
      /name \(1–10\) and part \(2–4\) overlap \(only raw or filler spans may hold sub-fields\)/,
    );
  });

  it('names the JSON path and field id of schema errors', () => {
    const problems = configProblems(() =>
      layoutFromJson(
        layout([field('ok', 1, 2), { ...field('bad', 3, 4), type: 'number' }]),
        's.json',
      ),
    );
    expect(problems[0]).toMatch(/^s\.json: fields\[1\] \(bad\)\.type: /);
  });

  it('rejects reserved and malformed ids', () => {
    const problems = configProblems(() =>
      layoutFromJson(layout([field('recordKey', 1, 2), field('2x', 3, 4)]), 's.json'),
    );
    expect(problems.join('\n')).toMatch(/recordKey\)\.id: is reserved/);
    expect(problems.join('\n')).toMatch(/must start with a letter/);
  });

  it('locates JSON syntax errors by line and column', () => {
    // A missing comma: the parser stops at the start of line 3.
    const problems = configProblems(() =>
      layoutFromJson('{\n  "name": "x"\n  "recordLength": 5\n}', 'bad.json'),
    );
    expect(problems[0]).toMatch(/^bad\.json:3:3: not valid JSON/);
  });
});

describe('site overrides', () => {
  const write = (content: object) => {
    const path = join(tmpdir(), `sb-layout-${process.pid}-${Math.random()}.json`);
    writeFileSync(path, JSON.stringify(content));
    return path;
  };

  it('add iBT26 sub-fields inside the block and correct a field by id', () => {
    const path = write({
      extends: 'scorelink-1600',
      fields: [
        { id: 'ibt26Reading', start: 832, end: 834, name: 'iBT26 Reading', type: 'score' },
        { id: 'ibt26Cefr', start: 835, end: 836, name: 'iBT26 CEFR', type: 'code' },
        { id: 'testType', name: 'Test Type (corrected)', certainty: 'site' },
      ],
    });
    const merged = loadLayoutFile(path);
    expect(merged.name).toBe('scorelink-1600+site');
    const ids = merged.fields.map((f) => f.id);
    expect(ids.indexOf('ibt26Reading')).toBe(ids.indexOf('ibt26Block') + 1);
    expect(merged.fields.find((f) => f.id === 'ibt26Reading')).toMatchObject({
      type: 'score',
      certainty: 'site',
    });
    expect(merged.fields.find((f) => f.id === 'testType')).toMatchObject({
      start: 556,
      end: 556,
      name: 'Test Type (corrected)',
    });
    const layouts = resolveLayouts(path);
    expect(layouts.map((l) => l.name)).toEqual(['scorelink-1600+site', 'scorelink-legacy-900']);
  });

  it('refuses a new field that cuts across existing fields', () => {
    const path = write({
      extends: 'scorelink-1600',
      fields: [{ id: 'oops', start: 40, end: 50, name: 'Oops' }],
    });
    const problems = configProblems(() => loadLayoutFile(path));
    expect(problems.join('\n')).toMatch(/appointmentNumber \(27–42\) and oops \(40–50\) overlap/);
  });

  it('says what a new field is missing, and which base layouts exist', () => {
    expect(
      configProblems(() =>
        loadLayoutFile(
          write({ extends: 'scorelink-1600', fields: [{ id: 'newThing', start: 900 }] }),
        ),
      )[0],
    ).toMatch(
      /field newThing: scorelink-1600 has no such field, so a new one needs start, end and name/,
    );
    expect(
      configProblems(() => loadLayoutFile(write({ extends: 'scorelink-2000', fields: [] })))[0],
    ).toMatch(/extends "scorelink-2000", which is not a shipped layout/);
  });

  it('removes fields by id', () => {
    const merged = loadLayoutFile(write({ extends: 'scorelink-1600', remove: ['idNumber'] }));
    expect(merged.fields.some((f) => f.id === 'idNumber')).toBe(false);
  });
});
