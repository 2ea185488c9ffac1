import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { parseAll } from '../parse/parse.js';
import { sampleLine, splice } from '../testing/records.test-helpers.js';
import { toCanonicalJson } from './record.js';

const recordOf = async (line: string) => (await parseAll(line))[0]!.record!;

describe('records', () => {
  it('hash changes when ETS re-sends a changed report, not otherwise', async () => {
    const a = await recordOf(sampleLine());
    const again = await recordOf(sampleLine());
    const rescored = await recordOf(sampleLine({ ibtSpeaking: 23, ibtTotal: 100 }));
    expect(again.contentHash).toBe(a.contentHash);
    expect(rescored.recordKey).toBe(a.recordKey);
    expect(rescored.contentHash).not.toBe(a.contentHash);
  });

  it('normalises spaces inside the appointment number in the key', async () => {
    const r = await recordOf(sampleLine({ appointmentNumber: '1234 5678' }));
    expect(r.recordKey).toBe('1234|02|12345678|2025-05-03|I');
  });

  it.each([
    ['ibt', {}],
    [
      'ibt26',
      {
        testDate: '2026-03-01',
        ibtListening: 5,
        ibtReading: 4,
        ibtSpeaking: 4,
        ibtWriting: 5,
        ibtTotal: 4.5,
      },
    ],
    [
      'essentials',
      {
        ibtListening: null,
        ibtReading: null,
        ibtSpeaking: null,
        ibtWriting: null,
        ibtTotal: null,
        essListening: 10,
        essTotal: 10.5,
      },
    ],
    [
      'unknown',
      { ibtListening: null, ibtReading: null, ibtSpeaking: null, ibtWriting: null, ibtTotal: null },
    ],
  ])('detects the %s scale', async (scale, fields) => {
    expect((await recordOf(sampleLine(fields))).scale).toBe(scale);
  });

  it('detects iBT26 from data in the iBT26 block', async () => {
    expect(
      (await recordOf(splice(sampleLine({ testDate: '2026-02-02' }), 832, 834, '5.5'))).scale,
    ).toBe('ibt26');
  });

  it('has one flat canonical JSON form: layout ids plus recordKey, contentHash, scale', async () => {
    const r = await recordOf(sampleLine());
    const json = toCanonicalJson(r);
    expect(json).toMatchObject({
      lastName: 'Łukasiewicz',
      ibtTotal: 99,
      recordKey: r.recordKey,
      contentHash: r.contentHash,
      scale: 'ibt',
    });
    expect(Object.values(json).every((v) => v === null || typeof v !== 'object')).toBe(true);
    expect(JSON.parse(JSON.stringify(r))).toEqual(json);
  });

  it('keeps the generated field types in step with the shipped layout', async () => {
    const { render } = await import('../../scripts/generate-fields.mjs');
    const onDisk = readFileSync(new URL('./fields.generated.ts', import.meta.url), 'utf8');
    expect(onDisk, 'run: npm run generate -w @scorebridge/core').toBe(render());
  });
});
