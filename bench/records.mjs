// Deterministic, realistic ScoreLink records for the benchmarks, from the sandbox's synthetic
// data: names in many scripts, addresses, e-mails, codes, dates, both score scales, MyBest,
// Essentials; the rest blank as in ETS's feed.
import { builtinLayout, formatRecord } from '@scorebridge/core';
import { SandboxData } from '@scorebridge/sandbox';

/** `count` formatted 1600-character lines (the shipped layout: the iBT26 block stays raw). */
export function benchLines(count, seed = 1) {
  const layout = builtinLayout('scorelink-1600');
  const data = new SandboxData({
    seed,
    records: count,
    days: 365,
    now: new Date('2026-11-01T00:00:00Z'),
  });
  return Array.from({ length: count }, (_, i) => formatRecord(data.record(i).fields, layout));
}
