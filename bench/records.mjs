// Deterministic, realistic ScoreLink records for the benchmarks, from the sandbox's synthetic
// data: names in many scripts, addresses, e-mails, codes, dates, both score scales, MyBest,
// Essentials; the rest blank as in ETS's feed.
import { formatRecord } from '@scorebridge/core';
import { SandboxData, sandboxLayout1600 } from '@scorebridge/sandbox';

/**
 * `count` 1600-character lines as the sandbox serves them: written with its layout, so the iBT26
 * block holds the parts of every iBT26 record (the shipped layout reads the block as one raw field).
 */
export function benchLines(count, seed = 1) {
  const layout = sandboxLayout1600();
  const data = new SandboxData({
    seed,
    records: count,
    days: 365,
    now: new Date('2026-11-01T00:00:00Z'),
  });
  return Array.from({ length: count }, (_, i) => formatRecord(data.record(i).fields, layout));
}
