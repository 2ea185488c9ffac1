import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { keep } from './files.js';
import type { RecordVersion } from './store.js';

describe('the file store in memory', () => {
  it('keeps a version of a key in little more than the version itself', () => {
    // A run keeps every version it meets, one per key mostly: a list begun as `[].push(v)` made
    // room for seventeen, 128 bytes more a key. Measured as the heap 20,000 kept versions leave
    // after a full collection, their keys and hashes made beforehand.
    setFlagsFromString('--expose-gc');
    const gc = runInNewContext('gc') as () => void;
    const heapAfter = () => {
      gc();
      return process.memoryUsage().heapUsed;
    };
    const keys = Array.from({ length: 20_000 }, (_, i) => `1234|02|${1e15 + i}|2026-05-03|IBT`);
    const map = new Map<string, RecordVersion[]>();
    const before = heapAfter();
    for (const recordKey of keys)
      keep(map, { recordKey, contentHash: 'h', digest: 'd', at: '2026-05-01T00:00:00.000Z' });
    const perVersion = (heapAfter() - before) / keys.length;
    keep(map, {
      recordKey: keys[0]!,
      contentHash: 'h2',
      digest: 'd',
      at: '2026-05-02T00:00:00.000Z',
    });
    keep(map, {
      recordKey: keys[0]!,
      contentHash: 'h',
      digest: 'd2',
      at: '2026-05-01T00:00:00.000Z',
    });
    expect(map.get(keys[0]!)!.map((v) => [v.contentHash, v.digest])).toEqual([
      ['h', 'd2'],
      ['h2', 'd'],
    ]);
    expect(perVersion).toBeLessThan(200);
  });
});
