import { describe, expect, it } from 'vitest';
import { formatRecord } from '../parse/format.js';
import type { FieldValue } from '../record/values.js';
import { discoverLayout } from './discover.js';
import type { Layout, LayoutField } from './layout.js';

/** A small layout: a key, two text fields, a date, a score, and a raw block of 20. */
const layout: Layout = {
  name: 'scorelink-1600',
  recordLength: 60,
  fields: [
    f('appointmentNumber', 1, 6, 'code'),
    f('lastName', 7, 16, 'text'),
    f('city', 17, 24, 'text'),
    f('testDate', 25, 32, 'date'),
    f('total', 33, 35, 'score'),
    f('block', 36, 55, 'raw'),
    f('filler', 56, 60, 'filler'),
  ],
};

function f(id: string, start: number, end: number, type: LayoutField['type']): LayoutField {
  return { id, start, end, name: id, type, certainty: 'test' };
}

const hiddenParts = [f('band', 38, 40, 'score'), f('cefr', 41, 42, 'code')];
const writer: Layout = { ...layout, fields: [...layout.fields, ...hiddenParts] };

const people: Record<string, FieldValue>[] = Array.from({ length: 12 }, (_, i) => ({
  appointmentNumber: String(100000 + i * 7919),
  lastName: ['Müller', 'Wang', 'García M', 'Ngozi'][i % 4]!,
  city: i % 3 === 0 ? null : ['Kraków', 'Lagos', 'Osaka'][i % 3]!,
  testDate: `2026-0${1 + (i % 9)}-1${i % 10}`,
  total: 60 + i * 5,
  band: [5, 5.5, 3, 4.5][i % 4]!,
  cefr: ['C1', 'C1', 'B1', 'B2'][i % 4]!,
}));

const json = (p: Record<string, FieldValue>) => ({
  appt: p.appointmentNumber,
  surname: p.lastName,
  ...(p.city ? { town: p.city } : {}),
  tdate: p.testDate,
  score_total: p.total,
  band_l: p.band,
  cefr_l: p.cefr,
});

describe('discoverLayout', () => {
  it('pairs by appointment number, maps keys to shipped fields and finds sub-fields in raw spans', () => {
    const lines = people.map((p) => formatRecord(p, writer));
    // The JSON body lists the reports in another order: pairing is by number, not by place.
    const d = discoverLayout({ layout, lines, objects: [...people].reverse().map(json) });
    expect(d.paired).toBe(12);
    expect(d.pairedBy).toBe('appointment number (JSON key "appt")');
    expect(d.mapping.fields).toEqual({
      appt: 'appointmentNumber',
      surname: 'lastName',
      town: 'city',
      tdate: 'testDate',
      score_total: 'total',
      band_l: 'bandL',
      cefr_l: 'cefrL',
    });
    expect(d.placed.filter((p) => !p.shipped)).toMatchObject([
      { key: 'band_l', start: 38, end: 40, type: 'score', within: 'block', agreed: 12 },
      { key: 'cefr_l', start: 41, end: 42, type: 'code', within: 'block' },
    ]);
    expect(d.unplaced).toEqual([]);
    expect(d.explainedBlocks).toEqual(['block']);
    expect(d.override?.fields).toContainEqual(
      expect.objectContaining({ id: 'block', type: 'filler' }),
    );
  });

  it('refuses a key that fits two places in every record, and reports both', () => {
    const copy = { ...writer, fields: [...writer.fields, f('bandCopy', 50, 52, 'score')] };
    const lines = people.map((p) => formatRecord({ ...p, bandCopy: p.band! }, copy));
    const d = discoverLayout({ layout, lines, objects: people.map(json) });
    expect(d.unplaced).toEqual([
      {
        key: 'band_l',
        reason: 'fits 38–40 and 50–52 alike in every paired record; discover does not choose',
      },
    ]);
    expect(d.mapping.fields).not.toHaveProperty('band_l');
    expect(d.unexplained.map((u) => [u.start, u.end])).toEqual([
      [38, 40],
      [50, 52],
    ]);
    expect(d.explainedBlocks).toEqual([]);
  });

  it('reports a key whose value sits where the shipped layout has another field', () => {
    // The writer puts the city where the shipped layout has lastName's second half.
    const moved = {
      ...layout,
      fields: [f('appointmentNumber', 1, 6, 'code'), f('city', 12, 19, 'text')],
    };
    const lines = people.map((p) => formatRecord({ ...p, city: p.city ?? 'Kraków' }, moved));
    const d = discoverLayout({
      layout,
      lines,
      objects: people.map((p) => ({ appt: p.appointmentNumber, town: p.city ?? 'Kraków' })),
    });
    expect(d.unplaced).toEqual([
      {
        key: 'town',
        reason:
          "sits at 12–17, which the shipped layout gives to lastName (7–16), city (17–24) — a conflict to check with ETS's layout",
      },
    ]);
  });

  it('refuses a key whose values do not sit at one place in every record', () => {
    const lines = people.map((p) => formatRecord(p, writer));
    const objects = people.map((p, i) => ({
      ...json(p),
      surname: i === 5 ? 'Nobody' : p.lastName,
    }));
    const d = discoverLayout({ layout, lines, objects });
    expect(d.unplaced).toContainEqual({
      key: 'surname',
      reason: 'no position of the line holds its value in every paired record',
    });
  });

  it('separates two numbers that touch, as the evidence allows (110|005)', () => {
    const touching = {
      ...layout,
      fields: [...layout.fields, f('comparable', 36, 38, 'score'), f('band', 39, 41, 'score')],
    };
    const rows: Record<string, FieldValue>[] = people.map((p, i) => ({
      ...p,
      comparable: 100 + (i % 2) * 10,
    }));
    const lines = rows.map((p) => formatRecord(p, touching));
    const d = discoverLayout({
      layout,
      lines,
      objects: rows.map((p) => ({ appt: p.appointmentNumber, cmp: p.comparable, b: p.band })),
    });
    expect(d.placed.filter((p) => !p.shipped).map((p) => [p.key, p.start, p.end])).toEqual([
      ['cmp', 36, 38],
      ['b', 39, 41],
    ]);
  });

  it('leaves out re-sent reports (one number twice) instead of pairing them by guess', () => {
    const rows = [...people, { ...people[0]!, band: 6, cefr: 'C2' }];
    const lines = rows.map((p) => formatRecord(p, writer));
    const d = discoverLayout({ layout, lines, objects: rows.map(json) });
    expect(d.paired).toBe(11);
    expect(d.leftOut).toEqual([
      { reason: 'their appointment number appears more than once (a re-sent report)', count: 2 },
    ]);
  });

  it('pairs by order when no key carries the appointment number and the counts agree', () => {
    const lines = people.map((p) => formatRecord(p, writer));
    const objects = people.map((p) => ({ surname: p.lastName, tdate: p.testDate }));
    const d = discoverLayout({ layout, lines, objects });
    expect(d.pairedBy).toBe('order');
    expect(d.mapping.fields).toEqual({ surname: 'lastName', tdate: 'testDate' });
    expect(() => discoverLayout({ layout, lines, objects: objects.slice(1) })).toThrow(
      /cannot pair the two bodies: no JSON key holds the lines' appointment numbers, and the counts differ \(12 lines, 11 JSON records\)/,
    );
  });
});
