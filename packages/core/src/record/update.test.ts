import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { parseAll } from '../parse/parse.js';
import { LAYOUT_1600, sampleLine } from '../testing/records.test-helpers.js';
import { updateClass, versionDigest } from './update.js';

const digestOf = async (fields: Parameters<typeof sampleLine>[0] = {}) =>
  versionDigest((await parseAll(sampleLine(fields)))[0]!.record!, LAYOUT_1600);

describe('versionDigest', () => {
  it('is the digest earlier releases stored: state keeps it, and later versions are compared with it', async () => {
    // A changed digest would class every re-sent report after an upgrade as other-fields.
    expect(await digestOf()).toBe(GOLDEN);
  });

  it('tells a MyBest change, a score change and any other change apart', async () => {
    const before = await digestOf();
    expect(updateClass(before, await digestOf({ myBestReading: 29 }))).toBe('mybest-changed');
    expect(updateClass(before, await digestOf({ ibtSpeaking: 23, ibtTotal: 100 }))).toBe(
      'scores-changed',
    );
    expect(updateClass(before, await digestOf({ lastName: 'Other' }))).toBe('other-fields');
    expect(updateClass(before, await digestOf({ lastName: 'Other', ibtTotal: 100 }))).toBe(
      'other-fields',
    );
  });

  it('keeps nothing alive but itself: a run keeps one for every version it meets', async () => {
    // A digest cut from the hex of its hashes (`slice`, `+`) held both 64-character hashes, and
    // the pieces pointing into them: about 290 bytes a version, where its own 33 characters take
    // 56. Measured as the heap 20,000 kept digests leave after a full collection.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const record = (await parseAll(sampleLine()))[0]!.record!;
    const kept: string[] = [];
    const heapAfter = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    versionDigest(record, LAYOUT_1600);
    const before = heapAfter();
    for (let i = 0; i < 20_000; i++) kept.push(versionDigest(record, LAYOUT_1600));
    const perDigest = (heapAfter() - before) / kept.length;
    expect(new Set(kept).size).toBe(1);
    expect(perDigest).toBeLessThan(120);
  });
});

// Computed by the release before the compiled reader (and checked equal to it).
const GOLDEN = '538a5754f0e5fd03.796b584d8a4fa00e';
