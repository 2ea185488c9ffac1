import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError, ParseError } from '../errors.js';
import { LAYOUT_1600 } from '../testing/records.test-helpers.js';
import type { ParsedEntry } from './issues.js';
import { JsonRecordMapper } from './json.js';
import { parseAll, parseRecords } from './parse.js';

const record = (over: Record<string, unknown> = {}) => ({
  Institution_Code: '1234',
  'department-code': '02',
  APPOINTMENT_NUMBER: '1000000000000042',
  lastName: 'Nguyễn',
  test_date: '2026-02-10',
  dateOfBirth: '20010228',
  ibt_total: '5.5',
  TEST_TYPE: 'I',
  ibt26ReadingBand: 5.5,
  ...over,
});

describe('JSON responses', () => {
  it('maps keys to layout ids ignoring case and separators, and keeps unknown keys', async () => {
    const [entry] = await parseAll(JSON.stringify({ data: [record()] }), { format: 'json' });
    expect(entry!.issues).toEqual([]);
    const r = entry!.record!;
    expect(r.fields).toMatchObject({
      institutionCode: '1234',
      departmentCode: '02',
      lastName: 'Nguyễn',
      testDate: '2026-02-10',
      dateOfBirth: '2001-02-28',
      ibtTotal: 5.5,
      email: null,
    });
    expect(r.extra).toEqual({ ibt26ReadingBand: 5.5 });
    expect(r.scale).toBe('ibt26');
    expect(r.recordKey).toBe('1234|02|1000000000000042|2026-02-10|I');
  });

  it('takes explicit key names from a mapping first', async () => {
    const body = JSON.stringify({ data: [record({ surname: 'Okafor', lastName: undefined })] });
    const [entry] = await parseAll(body, {
      format: 'json',
      jsonMapping: { fields: { surname: 'lastName' } },
    });
    expect(entry!.record!.fields.lastName).toBe('Okafor');
    expect(() => new JsonRecordMapper(LAYOUT_1600, { fields: { surname: 'familyName' } })).toThrow(
      ConfigError,
    );
  });

  it('reports records without key fields, bad values and non-objects, and keeps the rest', async () => {
    const body = JSON.stringify({
      data: [
        record(),
        record({ Institution_Code: null }),
        record({ test_date: '2026-02-30' }),
        record({ ibt_total: 'high' }),
        record({ last_name: 'Twice' }),
        {
          nested: { city: 'x' },
          city: { not: 'text' },
          institutionCode: '1',
          appointmentNumber: '2',
          testDate: '2026-01-01',
        },
        42,
      ],
    });
    const entries = await parseAll(body, { format: 'json' });
    expect(entries.filter((e) => e.issues.length === 0).map((e) => e.line)).toEqual([1]);
    expect(entries.flatMap((e) => e.issues.map((i) => i.message))).toEqual([
      'data[1], field institutionCode: is missing or blank, so the record cannot be identified',
      'data[2], field testDate: not a valid YYYYMMDD date',
      'data[3], field ibtTotal: not a whole or half number',
      'data[4], field lastName: keys "lastName" and "last_name" both map to this field',
      'data[5], field city: holds a JSON object, not text',
      'data[6]: is not a JSON object',
    ]);
  });

  it('accepts a bare array and an empty result', async () => {
    expect(await parseAll(JSON.stringify([record()]), { format: 'json' })).toHaveLength(1);
    expect(await parseAll('{"data": []}', { format: 'json' })).toEqual([]);
  });

  it('fails clearly on a body without a data array, naming its keys (not its values)', async () => {
    await expect(
      parseAll('{"message": "Authcode validation failed", "status": 401}', { format: 'json' }),
    ).rejects.toThrow(
      new ParseError('the JSON response has no "data" array (its top-level keys: message, status)'),
    );
  });

  it('yields every record read before a truncated body, then fails', async () => {
    const full = JSON.stringify({
      data: [record(), record({ APPOINTMENT_NUMBER: '7' }), record()],
    });
    const cut = full.slice(0, full.lastIndexOf('{') + 20);
    const seen: ParsedEntry[] = [];
    await expect(
      (async () => {
        for await (const batch of parseRecords(cut, { format: 'json' })) seen.push(...batch);
      })(),
    ).rejects.toThrow(/ended inside its "data" array after 2 records/);
    expect(seen.map((e) => e.record!.fields.appointmentNumber)).toEqual(['1000000000000042', '7']);
  });

  it('splits the data array the same way whatever the chunk boundaries', async () => {
    const body = JSON.stringify({
      meta: { note: 'a "data" key inside a string, and brackets ] } [' },
      data: [
        record({ note: 'quote \\" and } ] inside' }),
        'text',
        12,
        null,
        record({ lastName: 'Søren' }),
      ],
      after: [1, 2],
    });
    const expected = (await parseAll(body, { format: 'json' })).map((e) => [
      e.line,
      e.record?.recordKey ?? null,
      e.issues.length,
    ]);
    expect(expected).toHaveLength(5);
    await fc.assert(
      fc.asyncProperty(
        fc.array(fc.integer({ min: 1, max: body.length - 1 }), { maxLength: 12 }),
        async (cuts) => {
          const points = [0, ...[...new Set(cuts)].sort((x, y) => x - y), body.length];
          const chunks = points.slice(1).map((p, i) => body.slice(points[i], p));
          const entries = await parseAll(chunks, { format: 'json' });
          expect(
            entries.map((e) => [e.line, e.record?.recordKey ?? null, e.issues.length]),
          ).toEqual(expected);
        },
      ),
      { numRuns: 100 },
    );
  });
});
