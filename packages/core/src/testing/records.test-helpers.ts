// Helpers shared by the core test files (not part of the build).
import fc from 'fast-check';
import { expect } from 'vitest';
import { ConfigError } from '../errors.js';
import type { Layout, LayoutField } from '../layout/layout.js';
import { builtinLayout } from '../layout/load.js';
import { formatRecord } from '../parse/format.js';
import type { FieldValue } from '../record/values.js';

export const LAYOUT_1600 = builtinLayout('scorelink-1600');
export const LAYOUT_900 = builtinLayout('scorelink-legacy-900');

/** A plausible, complete set of fields for one test taker. */
export function sampleFields(
  overrides: Record<string, FieldValue> = {},
): Record<string, FieldValue> {
  return {
    institutionCode: '1234',
    departmentCode: '02',
    appointmentNumber: '1000000000000042',
    lastName: 'Łukasiewicz',
    firstName: 'Zoë',
    middleName: 'Ana María',
    addressLine1: 'ul. Długa 5',
    city: 'Kraków',
    addressCountryCode: 'POL',
    addressCountryName: 'Poland',
    dateOfBirth: '2001-02-28',
    gender: '2',
    testDate: '2025-05-03',
    testType: 'I',
    ibtListening: 25,
    ibtReading: 28,
    ibtSpeaking: 22,
    ibtWriting: 24,
    ibtTotal: 99,
    email: 'zoe@example.org',
    ...overrides,
  };
}

/** One formatted line of the 1600 layout. */
export function sampleLine(
  overrides: Record<string, FieldValue> = {},
  layout: Layout = LAYOUT_1600,
): string {
  return formatRecord(sampleFields(overrides), layout);
}

/** Replaces positions start..end (1-based, inclusive) of a line. */
export function splice(line: string, start: number, end: number, chars: string): string {
  return (
    line.slice(0, start - 1) +
    chars.padEnd(end - start + 1).slice(0, end - start + 1) +
    line.slice(end)
  );
}

// Letters from many scripts, all in the Basic Multilingual Plane (one UTF-16 unit each).
const LETTERS = [..."abcxyzABCXYZéèñüÿçÇŁłØøßğİıŞşЖжДдΩωλאבعربي中文李张고김ひらがなカタカナ-'"];
const letter = fc.constantFrom(...LETTERS);

function textArbitrary(width: number): fc.Arbitrary<string | null> {
  const word = fc
    .array(letter, { minLength: 1, maxLength: Math.max(1, Math.min(width, 12)) })
    .map((a) => a.join(''));
  const text = fc
    .array(word, { minLength: 1, maxLength: 4 })
    .map((words) => words.join(' ').slice(0, width).trim())
    .filter((t) => t.length > 0);
  return fc.option(text, { nil: null });
}

function valueArbitrary(f: LayoutField): fc.Arbitrary<FieldValue> {
  const width = f.end - f.start + 1;
  switch (f.type) {
    case 'date':
      return fc.option(
        fc
          .date({
            min: new Date('1950-01-01T00:00:00Z'),
            max: new Date('2030-12-31T00:00:00Z'),
            noInvalidDate: true,
          })
          .map((d) => d.toISOString().slice(0, 10)),
        { nil: null },
      );
    case 'score': {
      const max = 10 ** width - 1;
      const whole = fc.integer({ min: 0, max: Math.min(max, 9999) });
      const half =
        width >= 3 ? fc.integer({ min: 0, max: 10 ** (width - 2) - 1 }).map((n) => n + 0.5) : whole;
      return fc.option(fc.oneof(whole, half), { nil: null });
    }
    case 'raw':
      return fc.option(
        fc
          .array(fc.constantFrom(...'ABC 123'), { minLength: width, maxLength: width })
          .map((a) => a.join(''))
          .filter((s) => s.trim().length > 0),
        { nil: null },
      );
    default:
      return textArbitrary(width);
  }
}

/** Arbitrary typed field sets for a layout: every non-filler field, key fields always present. */
export function fieldsArbitrary(
  layout: Layout = LAYOUT_1600,
): fc.Arbitrary<Record<string, FieldValue>> {
  const typed = layout.fields.filter((f) => f.type !== 'filler');
  const shape: Record<string, fc.Arbitrary<FieldValue>> = {};
  for (const f of typed) shape[f.id] = valueArbitrary(f);
  shape.institutionCode = fc.stringMatching(/^[0-9A-Z]{4}$/);
  shape.appointmentNumber = fc.stringMatching(/^[0-9]{7,16}$/);
  shape.testDate = fc
    .date({
      min: new Date('2000-01-01T00:00:00Z'),
      max: new Date('2030-12-31T00:00:00Z'),
      noInvalidDate: true,
    })
    .map((d) => d.toISOString().slice(0, 10));
  return fc.record(shape);
}

/** Runs `fn`, expects a ConfigError, and returns its problems (each a located message). */
export function configProblems(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}
