// Deterministic, realistic ScoreLink records for the benchmarks: the fields a real report fills
// (names with non-ASCII letters, address, e-mail, codes, dates, section scores, MyBest), the
// rest blank as in ETS's feed.
import { builtinLayout, formatRecord } from '@scorebridge/core';

const FIRST = [
  'Zoë',
  'Łukasz',
  'Mei',
  'José',
  'Aarav',
  'Nguyễn',
  'Olumide',
  'Søren',
  'Fatima',
  'Иван',
  'Ana',
  'Chen',
];
const LAST = [
  'Łukasiewicz',
  'García Márquez',
  'Wang',
  'Okafor',
  'Müller',
  'Tanaka',
  'Haddad',
  'Ivanova',
  'Silva',
  'Kim',
];
const CITY = [
  'Kraków',
  'São Paulo',
  'Beijing',
  'Lagos',
  'München',
  'Osaka',
  'Beirut',
  'Moskva',
  'Lisboa',
  'Seoul',
];

/** A small deterministic PRNG (mulberry32), so every run measures the same records. */
export function prng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** The typed fields of record `i`. */
export function benchFields(i, rand) {
  const pick = (list) => list[Math.floor(rand() * list.length)];
  const section = () => 10 + Math.floor(rand() * 21);
  const [l, r, s, w] = [section(), section(), section(), section()];
  const day = String(1 + Math.floor(rand() * 28)).padStart(2, '0');
  return {
    institutionCode: '1234',
    departmentCode: pick(['00', '02', '99']),
    appointmentNumber: String(1_000_000_000_000_000 + i),
    lastName: pick(LAST),
    firstName: pick(FIRST),
    middleName: rand() < 0.3 ? pick(FIRST) : null,
    addressLine1: `${1 + Math.floor(rand() * 999)} ${pick(['Main Street', 'ul. Długa', 'Rua Augusta'])}`,
    city: pick(CITY),
    state: rand() < 0.3 ? 'MA' : null,
    addressCountryCode: 'POL',
    addressCountryName: 'Poland',
    postalCode: '30-001',
    nativeCountryCode: 'POL',
    nativeCountryName: 'Poland',
    nativeLanguageCode: 'POL',
    nativeLanguageName: 'Polish',
    dateOfBirth: `${1995 + Math.floor(rand() * 10)}-0${1 + Math.floor(rand() * 9)}-${day}`,
    gender: pick(['0', '1', '2']),
    testDate: `2025-0${1 + Math.floor(rand() * 9)}-${day}`,
    testType: 'I',
    ibtListening: l,
    ibtReading: r,
    ibtSpeaking: s,
    ibtWriting: w,
    ibtTotal: l + r + s + w,
    email: `candidate${i}@example.org`,
    testCenterCodeLong: 'STN80012A',
    testCenterCountry: 'Poland',
    idType: 'Passport',
    idNumber: `AB${100000 + i}`,
    idCountry: 'POL',
    myBestListening: l,
    myBestListeningDate: '2025-01-15',
    myBestReading: r,
    myBestReadingDate: '2025-01-15',
    myBestTotal: l + r + s + w,
    myBestAsOfDate: '2025-03-01',
  };
}

/** `count` formatted 1600-character lines. */
export function benchLines(count, seed = 1) {
  const layout = builtinLayout('scorelink-1600');
  const rand = prng(seed);
  return Array.from({ length: count }, (_, i) => formatRecord(benchFields(i, rand), layout));
}
