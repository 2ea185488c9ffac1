import { builtinLayout, discoverLayout } from '@scorebridge/core';
import { startSandbox } from '@scorebridge/sandbox';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';

const NOW = new Date('2026-11-01T00:00:00Z');
const QUERY =
  'startdate=2025-11-01T00:00:00&enddate=2026-11-01T00:00:00&type=TOEFL&reportby=scorelinkbyreportdate';

describe('layout discover, for any hidden layout', () => {
  it('places every JSON key exactly where the sandbox hid it, or reports it — never at a wrong place', async () => {
    let placedSubFields = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.record({
          layoutSeed: fc.nat(100_000),
          dataSeed: fc.integer({ min: 1, max: 1000 }),
          records: fc.integer({ min: 30, max: 300 }),
          ambiguous: fc.boolean(),
        }),
        async ({ layoutSeed, dataSeed, records, ambiguous }) => {
          const s = await startSandbox({
            seed: dataSeed,
            records,
            now: NOW,
            hiddenLayout: { seed: layoutSeed, ambiguous },
          });
          try {
            const get = async (extra: string) =>
              (
                await fetch(`${s.scoresUrl}?${QUERY}${extra}`, {
                  headers: { authcode: s.authcode },
                })
              ).text();
            const lines = (await get('')).split('\r\n').filter(Boolean);
            const objects = (JSON.parse(await get('&format=json')) as { data: object[] }).data;
            const d = discoverLayout({
              layout: builtinLayout('scorelink-1600'),
              lines,
              objects: objects as Record<string, unknown>[],
            });
            const hidden = s.hidden!;
            const idOf = new Map(Object.entries(hidden.jsonNames).map(([id, name]) => [name, id]));
            const truth = new Map(hidden.subFields.map((f) => [f.id, f]));
            for (const p of d.placed) {
              const id = idOf.get(p.key)!;
              const sub = truth.get(id);
              if (sub)
                expect([p.key, p.shipped, p.start, p.end]).toEqual([
                  p.key,
                  false,
                  sub.start,
                  sub.end,
                ]);
              else expect([p.key, p.id]).toEqual([p.key, id]);
            }
            // Every key is either placed or reported, and the written copy is never placed.
            const served = new Set(objects.flatMap(Object.keys));
            const accounted = new Set([...d.placed, ...d.unplaced].map((p) => p.key));
            expect([...served].filter((k) => !accounted.has(k))).toEqual([]);
            if (hidden.copy)
              expect(d.placed.map((p) => idOf.get(p.key))).not.toContain(hidden.copy.of);
            placedSubFields += d.placed.filter((p) => !p.shipped).length;
          } finally {
            await s.close();
          }
        },
      ),
      {
        numRuns: 25,
        // Once found at 1 run in 400: a band after a comparable score (always ending in 0) whose
        // key fits two places; the band could reach into that 0.
        examples: [[{ layoutSeed: 90865, dataSeed: 1, records: 30, ambiguous: true }]],
      },
    );
    // Not vacuous: most hidden parts were found.
    expect(placedSubFields).toBeGreaterThan(25 * 5);
  });
});
