import { describe, expect, it } from 'vitest';
import { toCanonicalJson } from '../record/record.js';
import { versionDigest } from '../record/update.js';
import { LAYOUT_1600, sampleLine } from '../testing/records.test-helpers.js';
import { holdRecord, restoreRecord } from './held.js';
import { parseAll } from './parse.js';

const parsed = async (text: string, encoding?: 'latin1') =>
  (await parseAll(encoding ? Buffer.from(text, 'latin1') : text, { encoding }))[0]!.record!;

describe('held records', () => {
  it.each([
    ['ASCII', sampleLine()],
    ['letters beyond Latin-1', sampleLine({ lastName: 'Nguyễn', firstName: 'Иван' })],
    ['a score, dates and blanks', sampleLine({ ibtSpeaking: 23, myBestReading: 29 })],
  ])('read as the record they hold (%s), and restore to it', async (_, line) => {
    const record = await parsed(line);
    const digest = versionDigest(record, LAYOUT_1600);
    const held = holdRecord(record, LAYOUT_1600);
    expect(held).not.toBe(record);
    for (const r of [held, restoreRecord(held)]) {
      expect(r.fields).toEqual(record.fields);
      expect(r.raw).toBe(record.raw);
      expect([r.recordKey, r.contentHash, r.scale, r.layout, r.format]).toEqual([
        record.recordKey,
        record.contentHash,
        record.scale,
        record.layout,
        record.format,
      ]);
      expect(JSON.stringify(r)).toBe(JSON.stringify(toCanonicalJson(record)));
    }
    // The digest taken while holding, and the digest of the record read again: the same.
    expect(versionDigest(held, LAYOUT_1600)).toBe(digest);
    expect(versionDigest(restoreRecord(held), LAYOUT_1600)).toBe(digest);
  });

  it('are read in full one at a time: the last one read is kept, and each reads as its own', async () => {
    // A destination goes through a batch of held records a record at a time, reading each one's
    // fields many times: one is kept in full, so a batch never is.
    const a = await parsed(sampleLine({ appointmentNumber: '1000000000000011' }));
    const b = await parsed(sampleLine({ appointmentNumber: '1000000000000012', lastName: 'Иван' }));
    const [heldA, heldB] = [holdRecord(a, LAYOUT_1600), holdRecord(b, LAYOUT_1600)];
    const fullA = restoreRecord(heldA);
    expect(restoreRecord(heldA)).toBe(fullA);
    expect(heldA.fields).toBe(fullA.fields);
    expect(heldB.fields).toEqual(b.fields);
    const againA = restoreRecord(heldA);
    expect(againA).not.toBe(fullA);
    expect(againA.fields).toEqual(a.fields);
    expect(heldB.fields.lastName).toBe('Иван');
  });

  it('keep a Latin-1 body as it was decoded', async () => {
    const line = sampleLine({ lastName: 'Müller', firstName: 'José' });
    const record = await parsed(line, 'latin1');
    expect(restoreRecord(holdRecord(record, LAYOUT_1600)).fields).toEqual(record.fields);
  });

  it('leave a record of another layout, or a JSON record, as it is', async () => {
    const record = await parsed(sampleLine());
    expect(holdRecord(record, undefined)).toBe(record);
    expect(holdRecord(record, { ...LAYOUT_1600, name: 'other' })).toBe(record);
    const body = {
      data: [
        {
          institutionCode: '1234',
          appointmentNumber: '1000000000000042',
          testDate: '20250503',
          testType: 'I',
        },
      ],
    };
    const json = (await parseAll(JSON.stringify(body), { format: 'json' }))[0]!.record!;
    expect(json.format).toBe('json');
    expect(holdRecord(json, LAYOUT_1600)).toBe(json);
    expect(restoreRecord(record)).toBe(record);
  });
});
