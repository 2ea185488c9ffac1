import { ConfigError } from '../errors.js';

/** One request's report-date window, both ends sent to ETS as they are. */
export interface Slice {
  readonly from: Date;
  readonly to: Date;
}

const DAY_MS = 86_400_000;

/**
 * Overlap between adjacent slices. ETS does not say whether `startdate` and `enddate` are
 * inclusive; report times have one-second resolution. With adjacent slices sharing one second, a
 * record on a boundary is in at least one slice whatever ETS's rule is, and the client drops the
 * copy when it is in both.
 */
export const SLICE_OVERLAP_MS = 1000;

/**
 * Splits [from, to] into the fewest slices of at most `maxWindowDays` days (ETS asks for 30 or
 * less), all about the same length. Each slice after the first starts one second before the
 * previous one ends (see {@link SLICE_OVERLAP_MS}), so no record can fall between two slices;
 * the first starts at `from` and the last ends at `to`.
 */
export function planSlices(from: Date, to: Date, maxWindowDays = 30): Slice[] {
  const start = from.getTime();
  const end = to.getTime();
  if (!(start < end)) {
    throw new ConfigError(
      `the window must start before it ends (from ${from.toISOString()} to ${to.toISOString()})`,
    );
  }
  const span = Math.floor((maxWindowDays * DAY_MS) / 1000) * 1000;
  if (!(span > 2 * SLICE_OVERLAP_MS))
    throw new ConfigError(`maxWindowDays must be more than 0 (it is ${maxWindowDays})`);
  if (end - start <= span) return [{ from, to }];
  // k slices of (step + overlap) cover (end − start) when step = (end − start − overlap) / k.
  // Each boundary is floored to a whole second on its own (so rounding never accumulates),
  // which can lengthen a slice by up to two seconds: the count leaves room for that.
  const count = Math.ceil((end - start - SLICE_OVERLAP_MS) / (span - 3000));
  const exact = (end - start - SLICE_OVERLAP_MS) / count;
  const boundary = (i: number) => start + Math.floor((i * exact) / 1000) * 1000;
  return Array.from({ length: count }, (_, i) => ({
    from: new Date(boundary(i)),
    to: new Date(i === count - 1 ? end : boundary(i + 1) + SLICE_OVERLAP_MS),
  }));
}
