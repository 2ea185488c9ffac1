/** Name and place pools: many scripts and diacritics, so every consumer meets non-ASCII text. */
export const FIRST_NAMES = [
  'Zoë',
  'Łukasz',
  'Mei',
  'José',
  'Aarav',
  'Thị Ánh',
  'Olumide',
  'Søren',
  'Fatima',
  'Иван',
  'Ana María',
  'Chen',
  'Björk',
  'Nuñez',
  'Ayşe',
  'Kwame',
  'Yuki',
  'Ngozi',
  'François',
  'Priya',
  'Dmitrii',
  'Hae-won',
  'Mohammed',
  'Ελένη',
  'محمد',
  'Jürgen',
  'Camille',
  'Tomás',
  'Ahmad',
  'Lucía',
] as const;

export const LAST_NAMES = [
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
  'Nguyễn',
  "O'Connor",
  'Østergaard',
  'Yılmaz',
  'Mensah',
  '李',
  'Dvořák',
  'Papadopoulou',
  'Sharma',
  'Al-Farsi',
  'Jiménez',
  'Kowalczyk',
  'Fernández-Díaz',
  'Ødegård',
  'Şahin',
  'Björnsson',
  'Park',
  'Abiodun',
] as const;

/** [city, state/province, ETS-style country code, country name, native language code, language name] */
export const PLACES = [
  ['Kraków', '', 'POL', 'Poland', 'POL', 'Polish'],
  ['São Paulo', 'SP', 'BRA', 'Brazil', 'POR', 'Portuguese'],
  ['Beijing', '', 'CHN', 'China', 'CHI', 'Chinese'],
  ['Lagos', 'LA', 'NGA', 'Nigeria', 'YOR', 'Yoruba'],
  ['München', 'BY', 'DEU', 'Germany', 'GER', 'German'],
  ['Osaka', '', 'JPN', 'Japan', 'JPN', 'Japanese'],
  ['Beirut', '', 'LBN', 'Lebanon', 'ARA', 'Arabic'],
  ['Москва', '', 'RUS', 'Russia', 'RUS', 'Russian'],
  ['Hà Nội', '', 'VNM', 'Vietnam', 'VIE', 'Vietnamese'],
  ['İstanbul', '', 'TUR', 'Türkiye', 'TUR', 'Turkish'],
  ['Seoul', '', 'KOR', 'Korea, Republic of', 'KOR', 'Korean'],
  ['Αθήνα', '', 'GRC', 'Greece', 'GRE', 'Greek'],
  ['Bogotá', 'DC', 'COL', 'Colombia', 'SPA', 'Spanish'],
  ['Mumbai', 'MH', 'IND', 'India', 'HIN', 'Hindi'],
] as const;

export const STREETS = [
  'ul. Długa',
  'Rua Augusta',
  'Main Street',
  'Hauptstraße',
  'Chemin des Écoliers',
  'Calle Mayor',
] as const;

/** ASCII for an e-mail local part: diacritics dropped, other scripts replaced. */
export function asciiName(name: string): string {
  const plain = name
    .normalize('NFD')
    .replace(/[\u0300-\u036f]/g, '')
    .replace(/[łŁ]/g, 'l')
    .replace(/[øØ]/g, 'o')
    .replace(/ß/g, 'ss')
    .replace(/ı/g, 'i')
    .toLowerCase()
    .replace(/[^a-z]+/g, '');
  return plain || 'applicant';
}
