import { type FieldValue, IBT26_START_DATE } from '@scorebridge/core';
import { asciiName, FIRST_NAMES, LAST_NAMES, PLACES, STREETS } from './people.js';

/** Options of {@link SandboxData}. */
export interface SandboxDataOptions {
  /** Same seed, same data, byte for byte. @default 1 */
  seed?: number;
  /** How many score reports. @default 500 */
  records?: number;
  /** Report dates are spread over the last this many days before `now`. @default 365 */
  days?: number;
  /** The end of the report-date spread. @default the current time */
  now?: Date;
  /** The receiving institution's DI code. @default '1234' */
  institutionCode?: string;
}

/** One report in the feed: which person, which of their tests, sent when. */
export interface SandboxRecord {
  /** Index in the dataset, ordered by report time. */
  readonly index: number;
  /** When ETS reported it (millisecond timestamps, second resolution). */
  readonly reportedAt: Date;
  /** True for a re-sent, changed report of an earlier one (same record key). */
  readonly resent: boolean;
  /** For a re-sent report, what it changed. */
  readonly resendKind?: ResendKind;
  /** The typed fields, with the iBT26 block's parts under the sandbox's own ids (see layouts/ibt26-sandbox.json). */
  readonly fields: Record<string, FieldValue>;
}

const DAY = 86_400_000;
const SECTIONS = ['Listening', 'Reading', 'Speaking', 'Writing'] as const;

interface Test {
  testDate: string;
  reportedAt: number;
  scale: 'ibt' | 'ibt26' | 'essentials';
  sections: number[];
  appointment: string;
}

interface Person {
  first: string;
  last: string;
  middle: string | null;
  dob: string;
  gender: string;
  department: string;
  place: (typeof PLACES)[number];
  street: string;
  email: string;
  tests: Test[];
  /** A later, changed copy of the last test's report, and what it changed. */
  resend: { reportedAt: number; speakingDelta: number; kind?: ResendKind } | undefined;
  /** Born elsewhere than they live (native country and language); else where they live. */
  native: (typeof PLACES)[number] | undefined;
  /** Tested abroad; else in the country they live in. */
  testCenterCountry: string | undefined;
}

/**
 * Deterministic synthetic TOEFL score reports. People are generated from (seed, person index)
 * when needed, so a dataset of any size costs a few bytes per record: an index sorted by report
 * time. Properties the tests and the demo rely on:
 * - names in many scripts; e-mails, dates of birth, addresses;
 * - both score scales: 0–120 for tests before 21 January 2026, 1–6 bands from then (total = mean
 *   of the sections rounded to the nearest half band, CEFR levels, a comparable 0–120 total);
 * - MyBest scores consistent with the person's earlier tests in the two years before;
 * - TOEFL Essentials reports;
 * - re-sent reports (same record key) on later report dates: most with new MyBest scores after a
 *   later test, some with a rescored speaking section, a few with a changed e-mail;
 * - reports up to ~20 months after the test (scores sent to an institution later), so both
 *   scales appear in any window;
 * - some reports sharing one report timestamp, to exercise window edges.
 */
export class SandboxData {
  readonly seed: number;
  readonly institutionCode: string;
  readonly #person: Int32Array;
  readonly #test: Int16Array;
  readonly #at: Float64Array;
  readonly #cache = new Map<number, Person>();
  readonly #window: { from: number; to: number };

  constructor(options: SandboxDataOptions = {}) {
    this.seed = options.seed ?? 1;
    this.institutionCode = options.institutionCode ?? '1234';
    const count = options.records ?? 500;
    const to = Math.floor((options.now ?? new Date()).getTime() / 1000) * 1000;
    this.#window = { from: to - (options.days ?? 365) * DAY, to };
    const rows: { p: number; t: number; at: number }[] = [];
    for (let p = 0; rows.length < count; p++) {
      const person = this.#makePerson(p);
      person.tests.forEach((test, t) => {
        rows.push({ p, t, at: test.reportedAt });
      });
      if (person.resend) rows.push({ p, t: -1, at: person.resend.reportedAt });
    }
    rows.length = count;
    rows.sort((a, b) => a.at - b.at || a.p - b.p || a.t - b.t);
    // Every 40th report shares its predecessor's timestamp: boundaries must not lose either.
    for (let i = 40; i < rows.length; i += 40) rows[i]!.at = rows[i - 1]!.at;
    this.#person = Int32Array.from(rows, (r) => r.p);
    this.#test = Int16Array.from(rows, (r) => r.t);
    this.#at = Float64Array.from(rows, (r) => r.at);
  }

  /** How many reports. */
  get size(): number {
    return this.#at.length;
  }

  /** Report `index` (0-based, by report time). */
  record(index: number): SandboxRecord {
    const person = this.#personAt(this.#person[index]!);
    const t = this.#test[index]!;
    const resent = t < 0;
    const testIndex = resent ? person.tests.length - 1 : t;
    return {
      index,
      reportedAt: new Date(this.#at[index]!),
      resent,
      ...(resent ? { resendKind: person.resend?.kind ?? 'scores' } : {}),
      fields: this.#fields(person, testIndex, resent),
    };
  }

  /** Indexes of the reports with report times in [from, to], both ends included. */
  select(from: Date, to: Date): { start: number; end: number } {
    return { start: this.#lowerBound(from.getTime()), end: this.#lowerBound(to.getTime() + 1) };
  }

  #lowerBound(time: number): number {
    let lo = 0;
    let hi = this.#at.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.#at[mid]! < time) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  #personAt(p: number): Person {
    let person = this.#cache.get(p);
    if (!person) {
      person = this.#makePerson(p);
      if (this.#cache.size > 256) this.#cache.clear();
      this.#cache.set(p, person);
    }
    return person;
  }

  #makePerson(p: number): Person {
    const rand = prng(this.seed * 1_000_003 + p * 7919 + 17);
    const pick = <T>(list: readonly T[]): T => list[Math.floor(rand() * list.length)]!;
    const first = pick(FIRST_NAMES);
    const last = pick(LAST_NAMES);
    const essentials = rand() < 0.05;
    const testCount = 1 + (rand() < 0.3 ? 1 : 0) + (rand() < 0.1 ? 1 : 0);
    const { from, to } = this.#window;
    const tests: Test[] = [];
    for (let t = 0; t < testCount; t++) {
      const reportedAt = from + Math.floor((rand() * (to - from)) / 1000) * 1000;
      const delay = rand() < 0.7 ? 6 + Math.floor(rand() * 7) : 13 + Math.floor(rand() * 590);
      const testDate = isoDate(reportedAt - delay * DAY);
      const scale = essentials ? 'essentials' : testDate >= IBT26_START_DATE ? 'ibt26' : 'ibt';
      tests.push({
        testDate,
        reportedAt,
        scale,
        sections: sectionScores(scale, rand),
        appointment: '',
      });
    }
    tests.sort((a, b) => (a.testDate < b.testDate ? -1 : 1));
    tests.forEach((test, t) => {
      test.appointment = `${10 + (this.seed % 90)}${String(p).padStart(12, '0')}${String(t).padStart(2, '0')}`;
    });
    const lastTest = tests[tests.length - 1]!;
    const resend =
      rand() < 0.04 && lastTest.reportedAt + 20 * DAY < to
        ? {
            reportedAt: lastTest.reportedAt + (5 + Math.floor(rand() * 15)) * DAY,
            speakingDelta: 1,
          }
        : undefined;
    const dobYear = 1985 + Math.floor(rand() * 22);
    const person: Person = {
      first,
      last,
      middle: rand() < 0.25 ? pick(FIRST_NAMES) : null,
      dob: `${dobYear}-${pad(1 + Math.floor(rand() * 12))}-${pad(1 + Math.floor(rand() * 28))}`,
      gender: pick(['0', '1', '2']),
      department: pick(['00', '02', '03', '99']),
      place: pick(PLACES),
      street: `${1 + Math.floor(rand() * 300)} ${pick(STREETS)}`,
      email: `${asciiName(first)}.${asciiName(last)}${p}@example.${pick(['edu', 'com', 'org'])}`,
      tests,
      resend,
      native: undefined,
      testCenterCountry: undefined,
    };
    // Drawn last, so that every other value stays what earlier releases generated.
    const elsewhere = rand() < 0.2 ? pick(PLACES) : undefined;
    const abroad = rand() < 0.3 ? pick(PLACES)[3] : undefined;
    // As at ETS: most re-sends carry new MyBest scores (a later test); a few, rescored sections.
    const k = rand();
    const kind: ResendKind =
      k < 0.8 && lastTest.scale !== 'essentials' ? 'mybest' : k < 0.93 ? 'scores' : 'other';
    return {
      ...person,
      resend: resend && { ...resend, kind },
      native: elsewhere,
      testCenterCountry: abroad,
    };
  }

  #fields(person: Person, t: number, resent: boolean): Record<string, FieldValue> {
    const test = person.tests[t]!;
    const sections = [...test.sections];
    const kind = resent ? (person.resend?.kind ?? 'scores') : undefined;
    if (kind === 'scores') {
      // A rescored speaking section, within the scale.
      const max = test.scale === 'ibt' ? 30 : test.scale === 'ibt26' ? 6 : 12;
      const step = test.scale === 'ibt26' ? 0.5 : 1;
      sections[2] = sections[2]! + step <= max ? sections[2]! + step : sections[2]! - step;
    }
    const [city, state, countryCode, countryName] = person.place;
    const [, , nativeCode, nativeName, languageCode, languageName] = person.native ?? person.place;
    const fields: Record<string, FieldValue> = {
      institutionCode: this.institutionCode,
      departmentCode: person.department,
      appointmentNumber: test.appointment,
      lastName: person.last,
      firstName: person.first,
      middleName: person.middle,
      addressLine1: person.street,
      city,
      state: state || null,
      addressCountryCode: countryCode,
      addressCountryName: countryName,
      postalCode: '30-001',
      nativeCountryCode: nativeCode,
      nativeCountryName: nativeName,
      nativeLanguageCode: languageCode,
      nativeLanguageName: languageName,
      dateOfBirth: person.dob,
      gender: person.gender,
      testDate: test.testDate,
      testType: test.scale === 'essentials' ? 'E' : 'I',
      email: kind === 'other' ? person.email.replace('@', '.new@') : person.email,
      testCenterCodeLong: `STN${(this.seed * 31 + t) % 90000}`,
      testCenterCountry: person.testCenterCountry ?? countryName,
    };
    if (test.scale === 'ibt') {
      Object.assign(fields, legacyScores(sections), this.#myBest(person, t, sections));
      if (kind === 'mybest') Object.assign(fields, laterBest(fields, person.resend!.reportedAt));
    } else if (test.scale === 'ibt26') {
      Object.assign(fields, ibt26Scores(sections), this.#myBest26(person, t));
      if (kind === 'mybest') Object.assign(fields, laterBest26(fields, person.resend!.reportedAt));
    } else Object.assign(fields, essentialsScores(sections, test.appointment));
    return fields;
  }

  /** MyBest on the 1–6 scale (the sandbox's own stand-in): the best total band of the person's iBT26 tests up to this one, and its date. */
  #myBest26(person: Person, t: number): Record<string, FieldValue> {
    let best = halfBandTotal(person.tests[t]!.sections);
    let date = person.tests[t]!.testDate;
    for (let k = 0; k < t; k++) {
      const earlier = person.tests[k]!;
      if (earlier.scale !== 'ibt26') continue;
      const total = halfBandTotal(earlier.sections);
      if (total > best) {
        best = total;
        date = earlier.testDate;
      }
    }
    return { ibt26MyBestTotal: best, ibt26MyBestDate: date };
  }

  /** MyBest: the best of each section over the person's iBT tests in the two years up to this one. */
  #myBest(person: Person, t: number, own: number[]): Record<string, FieldValue> {
    const test = person.tests[t]!;
    const since = isoDate(Date.parse(`${test.testDate}T00:00:00Z`) - 730 * DAY);
    const out: Record<string, FieldValue> = {};
    let total = 0;
    SECTIONS.forEach((section, s) => {
      let best = own[s]!;
      let date = test.testDate;
      for (let k = 0; k < t; k++) {
        const earlier = person.tests[k]!;
        if (earlier.scale === 'ibt' && earlier.testDate >= since && earlier.sections[s]! > best) {
          best = earlier.sections[s]!;
          date = earlier.testDate;
        }
      }
      out[`myBest${section}`] = best;
      out[`myBest${section}Date`] = date;
      total += best;
    });
    out.myBestTotal = total;
    out.myBestAsOfDate = test.testDate;
    return out;
  }
}

/** What a re-sent report changes: MyBest (after a later test), a rescored section, or the e-mail. */
export type ResendKind = 'mybest' | 'scores' | 'other';

/** MyBest after a later test that raised one section (the report itself is unchanged). */
function laterBest(
  fields: Record<string, FieldValue>,
  resentAt: number,
): Record<string, FieldValue> {
  const section = SECTIONS.find((s) => (fields[`myBest${s}`] as number) < 30) ?? 'Speaking';
  const date = isoDate(resentAt - 3 * DAY);
  const raised = Math.min(30, (fields[`myBest${section}`] as number) + 1);
  return {
    [`myBest${section}`]: raised,
    [`myBest${section}Date`]: date,
    myBestTotal: (fields.myBestTotal as number) - (fields[`myBest${section}`] as number) + raised,
    myBestAsOfDate: date,
  };
}

/** The 1–6 MyBest after a later test that raised it (the report itself is unchanged). */
function laterBest26(
  fields: Record<string, FieldValue>,
  resentAt: number,
): Record<string, FieldValue> {
  const best = fields.ibt26MyBestTotal as number;
  return {
    ibt26MyBestTotal: best < 6 ? best + 0.5 : best - 0.5,
    ibt26MyBestDate: isoDate(resentAt - 3 * DAY),
  };
}

function sectionScores(scale: Test['scale'], rand: () => number): number[] {
  return SECTIONS.map(() => {
    if (scale === 'ibt') return 12 + Math.floor(rand() * 19);
    if (scale === 'ibt26') return 2.5 + 0.5 * Math.floor(rand() * 8);
    return 3 + Math.floor(rand() * 10);
  });
}

function legacyScores([l, r, s, w]: number[]): Record<string, FieldValue> {
  return {
    ibtListening: l!,
    ibtReading: r!,
    ibtSpeaking: s!,
    ibtWriting: w!,
    ibtTotal: l! + r! + s! + w!,
  };
}

/** The mean of the sections, rounded to the nearest half band (5.125 → 5.0, 5.25 → 5.5). */
export function halfBandTotal(sections: readonly number[]): number {
  const mean = sections.reduce((a, b) => a + b, 0) / sections.length;
  return Math.floor(mean * 2 + 0.5) / 2;
}

/** ETS's CEFR levels for iBT26 bands: 6 → C2; 5–5.5 → C1; 4–4.5 → B2; 3–3.5 → B1; 2–2.5 → A2; 1–1.5 → A1. */
export function cefrForBand(band: number): string {
  return ['A1', 'A1', 'A2', 'B1', 'B2', 'C1', 'C2'][Math.floor(band)]!;
}

function ibt26Scores(sections: number[]): Record<string, FieldValue> {
  const total = halfBandTotal(sections);
  const out: Record<string, FieldValue> = {};
  SECTIONS.forEach((section, s) => {
    out[`ibt26${section}`] = sections[s]!;
    out[`ibt26Cefr${section}`] = cefrForBand(sections[s]!);
  });
  out.ibt26Total = total;
  out.ibt26CefrTotal = cefrForBand(total);
  // The sandbox's own stand-in for ETS's comparable 0–120 score.
  out.ibt26Comparable = Math.min(120, Math.round(total * 20));
  return out;
}

function essentialsScores(sections: number[], appointment: string): Record<string, FieldValue> {
  const cefr = (band: number) =>
    ['A1', 'A1', 'A2', 'A2', 'B1', 'B1', 'B2', 'B2', 'C1', 'C1', 'C2', 'C2'][band - 1]!;
  const total = halfBandTotal(sections);
  const out: Record<string, FieldValue> = {
    essTotal: total,
    essCefrTotal: cefr(Math.floor(total)),
  };
  SECTIONS.forEach((section, s) => {
    out[`ess${section}`] = sections[s]!;
    out[`essCefr${section}`] = cefr(sections[s]!);
  });
  const n = Number(appointment.slice(-4));
  out.essSentenceConstruction = 5 + (n % 91);
  out.essVocabularyKnowledge = 5 + ((n * 7) % 91);
  return out;
}

/** A small deterministic PRNG (mulberry32). */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function isoDate(ms: number): string {
  return new Date(ms).toISOString().slice(0, 10);
}

function pad(n: number): string {
  return String(n).padStart(2, '0');
}
