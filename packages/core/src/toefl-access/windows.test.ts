import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { formatEtsDate, parseIsoInput } from './dates.js';
import { PACE_RECORDS, planSlices, SLICE_OVERLAP_MS, type Slice, SlicePacer } from './windows.js';

const DAY = 86_400_000;
type Rule = (t: number, from: number, to: number) => boolean;
// ETS does not say which ends are inclusive; every rule must still see every record.
const RULES: Record<string, Rule> = {
  '[from, to]': (t, f, e) => t >= f && t <= e,
  '[from, to)': (t, f, e) => t >= f && t < e,
  '(from, to]': (t, f, e) => t > f && t <= e,
  '(from, to)': (t, f, e) => t > f && t < e,
};

describe('window slicing', () => {
  it('cuts 95 days into 4 requests of at most 30 days', () => {
    const from = new Date('2026-01-01T00:00:00Z');
    const slices = planSlices(from, new Date(from.getTime() + 95 * DAY));
    expect(slices).toHaveLength(4);
    for (const s of slices) expect(s.to.getTime() - s.from.getTime()).toBeLessThanOrEqual(30 * DAY);
    expect(formatEtsDate(slices[1]!.from)).toBe('2026-01-24T17:59:59');
  });

  it('leaves no second of the range outside a slice, whatever the inclusivity rule', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_700_000_000, max: 1_800_000_000 }),
        fc.integer({ min: 2, max: 400 * 86_400 }),
        fc.integer({ min: 1, max: 45 }),
        fc.integer({ min: 0, max: 1000 }),
        (startSeconds, lengthSeconds, maxDays, probe) => {
          const from = startSeconds * 1000;
          const to = from + lengthSeconds * 1000;
          const slices = planSlices(new Date(from), new Date(to), maxDays);
          // Slices are within the limit, start at `from`, end at `to`, and overlap by one second.
          expect(slices[0]!.from.getTime()).toBe(from);
          expect(slices.at(-1)!.to.getTime()).toBe(to);
          slices.forEach((s, i) => {
            expect(s.to.getTime() - s.from.getTime()).toBeLessThanOrEqual(maxDays * DAY);
            if (i > 0)
              expect(s.from.getTime()).toBe(slices[i - 1]!.to.getTime() - SLICE_OVERLAP_MS);
          });
          // Records strictly inside (from, to) are seen under every rule (the range ends are the caller's).
          const interior = [
            from + 1000,
            to - 1000,
            ...slices.map((s) => s.from.getTime()),
            ...slices.map((s) => s.to.getTime() - 1000),
          ];
          interior.push(from + 1000 * Math.floor(((to - from) / 1000) * (probe / 1000)));
          for (const t of interior.filter((x) => x > from && x < to)) {
            for (const [name, rule] of Object.entries(RULES)) {
              expect(
                slices.some((s) => rule(t, s.from.getTime(), s.to.getTime())),
                `${name} at ${t}`,
              ).toBe(true);
            }
          }
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses an empty or reversed window', () => {
    const d = new Date('2026-01-01T00:00:00Z');
    expect(() => planSlices(d, d)).toThrow(ConfigError);
    expect(() => planSlices(new Date(d.getTime() + 1), d)).toThrow(/must start before it ends/);
  });
});

/** Every slice a pacer gives, each answered with `held(slice)` reports. */
function paced(pacer: SlicePacer, held: (s: Slice) => number): Slice[] {
  const out: Slice[] = [];
  for (let s = pacer.next(); s; s = pacer.next(held(s))) {
    out.push(s);
    if (out.length > 100_000) throw new Error('the pacer does not end');
  }
  return out;
}

describe('paced slices (the inline run)', () => {
  const to = new Date('2026-11-01T00:00:00Z');
  const daysBefore = (days: number) => new Date(to.getTime() - days * DAY);

  it('are one request when one can cover the window, as planned', () => {
    const from = daysBefore(30);
    expect(paced(new SlicePacer(from, to), () => 1e6)).toEqual([{ from, to }]);
  });

  it('start with the newest two days, and size each slice from the reports the one before held', () => {
    const pacer = new SlicePacer(daysBefore(90), to);
    const first = pacer.next()!;
    expect(first).toEqual({ from: daysBefore(2), to });
    // Four times the pace in two days: the next slice is half a day, ending a second after this began.
    const second = pacer.next(4 * PACE_RECORDS)!;
    expect(second.to.getTime()).toBe(first.from.getTime() + SLICE_OVERLAP_MS);
    expect(second.to.getTime() - second.from.getTime()).toBe(DAY / 2);
    // An empty half day: the longest slice ETS is asked for.
    const third = pacer.next(0)!;
    expect(third.to.getTime() - third.from.getTime()).toBe(30 * DAY);
    expect(pacer.covered).toBeCloseTo((2.5 * DAY + 30 * DAY - 2000) / (90 * DAY), 6);
    // A burst: never shorter than an hour.
    const burst = pacer.next(1e9)!;
    expect(burst.to.getTime() - burst.from.getTime()).toBe(3_600_000);
  });

  it('cover the window newest first, within the limit, whatever each response held', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1_700_000_000, max: 1_800_000_000 }),
        fc.integer({ min: 2, max: 400 * 86_400 }),
        fc.integer({ min: 1, max: 45 }),
        fc.array(fc.integer({ min: 0, max: 4 * PACE_RECORDS }), { minLength: 1, maxLength: 20 }),
        (endSeconds, lengthSeconds, maxDays, answers) => {
          const end = endSeconds * 1000 + 250;
          const from = end - lengthSeconds * 1000;
          let n = 0;
          const slices = paced(
            new SlicePacer(new Date(from), new Date(end), maxDays),
            () => answers[n++ % answers.length]!,
          );
          expect(slices[0]!.to.getTime()).toBe(end);
          expect(slices.at(-1)!.from.getTime()).toBe(from);
          // (Plain checks, collected: a window can be thousands of hour-long slices.)
          const problems: string[] = [];
          slices.forEach((s, i) => {
            const length = s.to.getTime() - s.from.getTime();
            if (length > maxDays * DAY) problems.push(`slice ${i} is over the limit`);
            if (slices.length > 1 && length <= 2 * SLICE_OVERLAP_MS)
              problems.push(`slice ${i} is ${length} ms`);
            if (i > 0 && s.to.getTime() !== slices[i - 1]!.from.getTime() + SLICE_OVERLAP_MS)
              problems.push(`slice ${i} does not overlap the one before by a second`);
            // Every second strictly inside the window is in a slice, under every inclusivity
            // rule: the seconds at each boundary, in this slice or one beside it.
            const near = slices.slice(Math.max(0, i - 1), i + 2);
            for (const t of [s.from.getTime(), s.from.getTime() + 1000, s.to.getTime() - 1000])
              if (t > from && t < end)
                for (const [name, rule] of Object.entries(RULES))
                  if (!near.some((n) => rule(t, n.from.getTime(), n.to.getTime())))
                    problems.push(`${name} misses ${t}`);
          });
          expect(problems).toEqual([]);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuse an empty window as planning does', () => {
    expect(() => new SlicePacer(to, to)).toThrow(/must start before it ends/);
  });
});

describe('dates', () => {
  it('formats as ETS wants: UTC, seconds, no zone', () => {
    expect(formatEtsDate(new Date('2025-04-21T16:45:03.999Z'))).toBe('2025-04-21T16:45:03');
  });

  it('reads dates as people write them, UTC unless a zone is given', () => {
    expect(parseIsoInput('2025-04-01', '--from').toISOString()).toBe('2025-04-01T00:00:00.000Z');
    expect(parseIsoInput('2025-04-01T08:30', '--from').toISOString()).toBe(
      '2025-04-01T08:30:00.000Z',
    );
    expect(parseIsoInput('2025-04-01T08:30:00+0200', '--from').toISOString()).toBe(
      '2025-04-01T06:30:00.000Z',
    );
    expect(() => parseIsoInput('2025-02-30', '--to')).toThrow(/--to: "2025-02-30" is not a date/);
    expect(() => parseIsoInput('yesterday', '--to')).toThrow(ConfigError);
  });
});
