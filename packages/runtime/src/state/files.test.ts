import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, describe, expect, it } from 'vitest';
import { createFileStateStore } from './file-store.js';
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

  describe('logs that hold what is open, not all history', () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-file-store-'));
    afterAll(() => rmSync(dir, { recursive: true, force: true }));
    const store = createFileStateStore(dir);
    const log = (name: string) => join(dir, 'p', name);

    it('starts the intents log afresh once every batch it announced is cleared', async () => {
      for (let i = 0; i < 50; i++) {
        await store.addIntent('p', 'a', { batchId: `b${i}`, entries: [['k', `h${i}`]] });
        await store.clearIntent('p', 'a', `b${i}`);
      }
      expect(statSync(log('intents.a.log')).size).toBe(0);
      await store.addIntent('p', 'a', { batchId: 'x', entries: [] });
      await store.addIntent('p', 'a', { batchId: 'y', entries: [] });
      await store.clearIntent('p', 'a', 'x');
      // One still open: the clearing is appended, and the open one survives.
      expect(await store.intents('p', 'a')).toEqual([{ batchId: 'y', entries: [] }]);
      await store.clearIntent('p', 'a', 'y');
      expect(statSync(log('intents.a.log')).size).toBe(0);
      expect(await store.intents('p', 'a')).toEqual([]);
    });

    it('writes a resolution only for a dead letter that is open', async () => {
      const letter = {
        id: 'open-one',
        kind: 'rejected' as const,
        destination: 'a',
        window: { from: '2026-01-01T00:00:00.000Z', to: '2026-01-31T00:00:00.000Z' },
        at: '2026-01-01T00:00:00Z',
        reason: 'refused',
      };
      await store.addDeadLetters('p', [letter]);
      const filed = readFileSync(log('dead-letters.log'), 'utf8');
      await store.resolveDeadLetters('p', ['never-filed', 'nor-this']);
      expect(readFileSync(log('dead-letters.log'), 'utf8')).toBe(filed);
      await store.resolveDeadLetters('p', ['open-one', 'never-filed', 'open-one']);
      const lines = readFileSync(log('dead-letters.log'), 'utf8').trim().split('\n');
      expect(lines.slice(1)).toEqual([JSON.stringify({ resolve: 'open-one' })]);
      expect(await store.deadLetters('p')).toEqual([]);
      // What another process files is seen (the log is read again when it changed).
      await createFileStateStore(dir).addDeadLetters('p', [{ ...letter, id: 'from-elsewhere' }]);
      expect((await store.deadLetters('p')).map((l) => l.id)).toEqual(['from-elsewhere']);
      await store.resolveDeadLetters('p', ['from-elsewhere']);
      expect(await createFileStateStore(dir).deadLetters('p')).toEqual([]);
    });
  });
});
