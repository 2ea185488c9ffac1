/**
 * The time ScoreBridge reasons with: report-date windows, run records, alert ages and cool-downs,
 * cursor ages. Tests fix it; BullMQ's own timers and network deadlines keep the real clock.
 */
export type Clock = () => Date;

/** The machine's clock. */
export const systemClock: Clock = () => new Date();

/**
 * A clock that reads `start` now and moves on with real elapsed time (monotonic), so that
 * durations stay true when a test or a backfill fixes the start; the system clock without one.
 */
export function clockFrom(start: Date | undefined): Clock {
  if (!start) return systemClock;
  const origin = performance.now();
  return () => new Date(start.getTime() + (performance.now() - origin));
}
