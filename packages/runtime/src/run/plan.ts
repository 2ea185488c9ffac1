import type { ScoreRecord, Slice } from '@scorebridge/core';
import type { PipelineConfig } from '../config/schema.js';

/** Planning a run, the same in both executors: its window, its filters, how far a cursor moves. */

const DAY = 86_400_000;

/**
 * A destination asking to wait longer than this (Retry-After) is past routine: a run leaves it
 * for the next run, and it is worth an alert.
 */
export const MAX_ROUTINE_PAUSE_SECONDS = 300;

/**
 * The window to fetch: a backfill's range, or from the earliest cursor (less the overlap) to now;
 * a destination without a cursor starts at `firstRunStart` (or two years back).
 */
export function planWindow(
  config: PipelineConfig,
  cursors: readonly (Date | undefined)[],
  now: Date,
  from?: Date,
  to?: Date,
): Slice | undefined {
  const firstRun = config.source.firstRunStart
    ? new Date(config.source.firstRunStart)
    : new Date(now.getTime() - 730 * DAY);
  const overlap = config.source.overlapHours * 3_600_000;
  const start =
    from ??
    new Date(
      Math.min(
        ...cursors.map((c) => (c ? c.getTime() - overlap : firstRun.getTime())),
        now.getTime(),
      ),
    );
  const end = to ?? now;
  return start.getTime() < end.getTime() ? { from: start, to: end } : undefined;
}

/** Whether a record passes the pipeline's filters. */
export function passes(config: PipelineConfig, record: ScoreRecord): boolean {
  const f = config.filters;
  if (!f) return true;
  if (f.departmentCodes && !f.departmentCodes.includes(String(record.fields.departmentCode ?? '')))
    return false;
  if (f.testTypes && !f.testTypes.includes(String(record.fields.testType ?? ''))) return false;
  if (f.scales && !f.scales.includes(record.scale)) return false;
  return true;
}

/** The index of the last slice of an unbroken run of confirmed slices from the first (-1: none). */
export function confirmedThrough(slices: number, confirmed: (index: number) => boolean): number {
  let upTo = -1;
  while (upTo + 1 < slices && confirmed(upTo + 1)) upTo++;
  return upTo;
}
