import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../errors.js';
import { formatEtsDate, parseIsoInput } from './dates.js';
import { planSlices, SLICE_OVERLAP_MS } from './windows.js';

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
