import { deflateRawSync } from 'node:zlib';
import {
  builtinLayout,
  formatRecord,
  type Layout,
  parseAll,
  restoreRecord,
  type ScoreRecord,
  toCanonicalJson,
} from '@scorebridge/core';
import { SandboxData, sandboxLayout1600 } from '@scorebridge/sandbox';
import { describe, expect, it } from 'vitest';
import { openRecords, sealRecords } from './payloads.js';
import { DATA_KEY_ENV, dataKeys, sealer } from './sealed.js';

const seal = sealer(dataKeys({ [DATA_KEY_ENV]: `k1:${Buffer.alloc(32, 1).toString('base64')}` }));
const CANARY = 'CANARYŁukasiewicz';

/** Sandbox records as a fetch stages them, one of them named with the canary. */
async function staged(layout: Layout): Promise<ScoreRecord[]> {
  const data = new SandboxData({ seed: 3, records: 200, days: 30, now: new Date('2026-11-01Z') });
  const lines = Array.from({ length: data.size }, (_, i) => {
    const fields = data.record(i).fields;
    return formatRecord(i === 7 ? { ...fields, lastName: CANARY } : fields, layout);
  });
  return (await parseAll(lines.join('\n'), { layouts: [layout] })).map((e) => e.record!);
}

/** A record as a destination sees it. */
const seen = (r: ScoreRecord) => ({ ...toCanonicalJson(r), raw: r.raw, format: r.format });

describe('staged records (delivery job payloads)', () => {
  it('carry ScoreLink records as their lines, sealed (v2), and read them back whole', async () => {
    const layout = sandboxLayout1600();
    const records = await staged(layout);
    const sealed = sealRecords(seal, records, 'job-1');
    expect(sealed).toMatch(/^v2\.k1\./);
    expect(sealed).not.toContain('CANARY');
    // The worker's layouts as a pipeline resolves them: the legacy 900 too, the site's 1600.
    const back = openRecords(seal, sealed, 'job-1', [
      builtinLayout('scorelink-legacy-900'),
      layout,
    ]);
    expect(back.map(seen)).toEqual(records.map(seen));
    expect(back[0]!.layout).toBe(layout.name);
    expect(back.some((r) => r.fields.lastName === CANARY)).toBe(true);
    // Each is held by its line and read in full when used: a job's batch lives through several
    // round trips to Redis, and records in full reached the old generation.
    expect(back.every((r) => restoreRecord(r) !== r)).toBe(true);
    expect(back.map((r) => r.fields)).toEqual(records.map((r) => r.fields));
    // A payload moved to another job, or relabelled as the older format, does not open.
    expect(() => openRecords(seal, sealed, 'job-2', [layout])).toThrow(/failed authentication/);
    expect(() => openRecords(seal, sealed.replace(/^v2/, 'v1'), 'job-1', [layout])).toThrow(
      /failed authentication/,
    );
  });

  it('are smaller than JSON of every field, as the previous release staged them', async () => {
    const layout = sandboxLayout1600();
    const records = await staged(layout);
    const v1 = previousRelease(records, 'job-1');
    expect(sealRecords(seal, records, 'job-1').length).toBeLessThan(v1.length / 2);
  });

  it("read a previous release's payload (v1, JSON of every record) during a rolling upgrade", async () => {
    const layout = sandboxLayout1600();
    const records = await staged(layout);
    const back = openRecords(seal, previousRelease(records, 'job-1'), 'job-1', [layout]);
    expect(back.map((r) => r.contentHash)).toEqual(records.map((r) => r.contentHash));
    expect(back.map((r) => r.fields)).toEqual(records.map((r) => r.fields));
  });

  it('carry a JSON source record as plain data, and refuse a line no layout of the worker fits', async () => {
    const layout = sandboxLayout1600();
    const json = {
      layout: 'scorelink-1600',
      fields: { institutionCode: '1234', lastName: CANARY },
      extra: { note: 'x' },
      raw: '{"institutionCode":"1234"}',
      recordKey: '1234||1|2026-01-01|I',
      contentHash: 'ab'.repeat(32),
      scale: 'unknown',
      format: 'json',
    } satisfies ScoreRecord;
    const [back] = openRecords(seal, sealRecords(seal, [json], 'j'), 'j', [layout]);
    expect(back).toEqual(json);
    const [line] = await staged(layout);
    const other = { ...layout, recordLength: 900 };
    expect(() => openRecords(seal, sealRecords(seal, [line!], 'j'), 'j', [other])).toThrow(
      /no layout of this worker has that length: start every worker with the same pipeline files/,
    );
  });
});

/** How the release before v2 staged records: JSON of each as plain data, deflated, base64, v1. */
function previousRelease(records: readonly ScoreRecord[], jobId: string): string {
  const plain = records.map((r) => ({
    layout: r.layout,
    fields: r.fields,
    extra: r.extra,
    raw: r.raw,
    recordKey: r.recordKey,
    contentHash: r.contentHash,
    scale: r.scale,
    format: r.format,
  }));
  return seal.seal(deflateRawSync(JSON.stringify(plain), { level: 1 }).toString('base64'), jobId);
}
