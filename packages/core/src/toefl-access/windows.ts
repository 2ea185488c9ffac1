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
  const span = longestSlice(from, to, maxWindowDays);
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

/** The longest slice `maxWindowDays` allows, in whole seconds; throws on an empty window. */
function longestSlice(from: Date, to: Date, maxWindowDays: number): number {
  if (!(from.getTime() < to.getTime())) {
    throw new ConfigError(
      `the window must start before it ends (from ${from.toISOString()} to ${to.toISOString()})`,
    );
  }
  const span = Math.floor((maxWindowDays * DAY_MS) / 1000) * 1000;
  if (!(span > 2 * SLICE_OVERLAP_MS))
    throw new ConfigError(`maxWindowDays must be more than 0 (it is ${maxWindowDays})`);
  return span;
}

/** About how many reports a paced slice holds ({@link SlicePacer}). */
export const PACE_RECORDS = 5000;
/**
 * A paced window's first slice: its newest two days, so that a slice failing with HTTP 500 still
 * has a smaller window to try (ETS's advice; the client splits down to a day by default).
 */
const FIRST_PACE_MS = 2 * DAY_MS;
/** The shortest paced slice: a burst of reports is read in one request of an hour. */
const SHORTEST_PACE_MS = 3_600_000;

/**
 * The slices of [from, to] newest first, for a reader that takes one at a time and holds each
 * whole (the inline run: a later line of a response may be a newer version of a report met
 * earlier in it). Each slice is sized from the reports per second the one before it held, to
 * hold about `records` (between an hour and `maxWindowDays`), so what the reader holds at once
 * stays about the same however long the window and however busy the feed; ETS's own advice is
 * windows of 30 days or less, and a smaller window when a request fails. A window one request can
 * cover is that one request ({@link planSlices}); a longer one starts with its newest two days.
 * Adjacent slices share one second ({@link SLICE_OVERLAP_MS}); the first ends at `to`, the last
 * starts at `from`.
 */
export class SlicePacer {
  readonly #from: number;
  readonly #to: number;
  readonly #longest: number;
  /** Where the next slice ends; the length it is given. */
  #end: number;
  #span: number;
  #last: Slice | undefined;

  constructor(
    from: Date,
    to: Date,
    maxWindowDays = 30,
    private readonly records = PACE_RECORDS,
  ) {
    this.#longest = longestSlice(from, to, maxWindowDays);
    this.#from = from.getTime();
    this.#to = to.getTime();
    this.#end = this.#to;
    this.#span =
      this.#to - this.#from <= this.#longest
        ? this.#longest
        : Math.min(this.#longest, FIRST_PACE_MS);
  }

  /**
   * The next slice (older than the last), or undefined once the window is covered. `held`: how
   * many reports the last slice's response held.
   */
  next(held?: number): Slice | undefined {
    const last = this.#last;
    if (last && last.from.getTime() === this.#from) return undefined;
    if (last && held !== undefined) {
      const length = last.to.getTime() - last.from.getTime();
      const wanted = held > 0 ? (length * this.records) / held : this.#longest;
      this.#span = Math.min(this.#longest, Math.max(SHORTEST_PACE_MS, wanted));
    }
    const end = this.#end;
    let start = end - Math.floor(this.#span / 1000) * 1000;
    // What would be left is read with this slice when that keeps it within a quarter of its pace
    // (and within the limit): no request for a last few minutes.
    if (end - this.#from <= Math.min(this.#longest, this.#span * 1.25)) start = this.#from;
    const slice = { from: new Date(start), to: new Date(end) };
    this.#end = start + SLICE_OVERLAP_MS;
    this.#last = slice;
    return slice;
  }

  /** How much of the window the slices so far cover, 0 to 1. */
  get covered(): number {
    return this.#last ? (this.#to - this.#last.from.getTime()) / (this.#to - this.#from) : 0;
  }
}
