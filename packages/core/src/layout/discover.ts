import type { JsonMapping } from '../parse/json.js';
import {
  type FieldType,
  type Layout,
  type LayoutField,
  type LayoutOverride,
  RESERVED_FIELD_IDS,
} from './layout.js';

/**
 * Learns where a JSON body's fields sit in the fixed-length lines of the same reports: ETS serves
 * one window in both formats, and its JSON names and iBT26 sub-positions are not published.
 *
 * The rules, so that it never guesses:
 * - A JSON value sits at a span when the span reads back as that value: text exactly, left-aligned
 *   and padded with spaces; a number right-aligned, with or without zero-padding or a decimal
 *   point; a date as `YYYYMMDD`; a missing or null value needs a blank span. Only spans on which
 *   every paired record agrees are kept.
 * - A span's edges count only where some record has a character: a field is as wide as the
 *   widest value seen. (A field never filled to its width in the sample is found narrower than
 *   ETS defines it — use a window with enough reports.)
 * - Two unrelated places that both fit every record are reported, not chosen between.
 * - A span that matches a shipped field maps the key to it; a span inside a block the shipped
 *   layout keeps raw (the iBT26 block, 824–831, …) becomes a sub-field; anything else is a
 *   conflict with the shipped layout, reported.
 */

/** The two bodies of one window, and the layout that reads the lines. */
export interface DiscoverInput {
  /** The shipped layout of the lines (its raw spans are where sub-fields are looked for). */
  readonly layout: Layout;
  /** The fixed-length lines, one per report. */
  readonly lines: readonly string[];
  /** The JSON body's `data` elements, one per report. */
  readonly objects: readonly Readonly<Record<string, unknown>>[];
}

/** A JSON key placed in the line. */
export interface PlacedField {
  readonly key: string;
  /** The layout id it maps to: a shipped field, or a new sub-field. */
  readonly id: string;
  readonly start: number;
  readonly end: number;
  readonly type: FieldType;
  /** True when the shipped layout has the field; false for a sub-field found inside a raw span. */
  readonly shipped: boolean;
  /** The raw span a new sub-field lies in. */
  readonly within?: string;
  /** Paired records that agree (all of them, or the key would not be placed). */
  readonly agreed: number;
  /** Of those, how many carry a value (the rest are blank on both sides). */
  readonly withValue: number;
}

/** A JSON key that was not placed, and why. */
export interface UnplacedKey {
  readonly key: string;
  readonly reason: string;
}

/** Characters no placed JSON field explains (filled in some record). */
export interface UnexplainedSpan {
  readonly start: number;
  readonly end: number;
  /** The shipped field the characters belong to. */
  readonly field: string;
  /** Paired records with a character there. */
  readonly records: number;
}

/** What {@link discoverLayout} found. */
export interface Discovery {
  /** Records paired across the two bodies. */
  readonly paired: number;
  /** `appointment number (JSON key "…")`, or `order` when the counts agreed and no key did. */
  readonly pairedBy: string;
  /** Records left out of the evidence, with why. */
  readonly leftOut: readonly { readonly reason: string; readonly count: number }[];
  readonly placed: readonly PlacedField[];
  readonly unplaced: readonly UnplacedKey[];
  readonly unexplained: readonly UnexplainedSpan[];
  /** Raw spans whose every filled character a sub-field explains: the override makes them filler. */
  readonly explainedBlocks: readonly string[];
  /** For `source.jsonMapping`: every placed key → its layout id. */
  readonly mapping: Required<JsonMapping>;
  /** The sub-fields found (and the blocks they explain), or undefined when none were. */
  readonly override: LayoutOverride | undefined;
}

/** 1-based, inclusive: the span may start anywhere in [s0, s1] and end anywhere in [e0, e1]. */
interface Rect {
  s0: number;
  s1: number;
  e0: number;
  e1: number;
}

interface Span {
  start: number;
  end: number;
}

/** No field of ScoreLink is wider than an address line; wider spans are not considered. */
const MAX_WIDTH = 80;
const CONTAINERS: ReadonlySet<FieldType> = new Set(['raw', 'filler']);

/** Pairs the two bodies' records and places every JSON key it can; see the module comment. */
export function discoverLayout(input: DiscoverInput): Discovery {
  const { layout } = input;
  const pairing = pair(input);
  const lines = pairing.pairs.map(([line]) => line);
  const objects = pairing.pairs.map(([, object]) => object);
  const filled = filledPositions(lines, layout.recordLength);
  const unplaced: UnplacedKey[] = [];
  const found: Candidate[] = [];
  const undecided: Undecided[] = [];
  const pairedKeys = new Set(keysOf(objects));
  for (const key of keysOf(input.objects)) {
    if (!pairedKeys.has(key)) {
      unplaced.push({ key, reason: 'has values only in records that could not be paired' });
      continue;
    }
    const result = locate(key, lines, objects, filled, layout);
    if ('span' in result) found.push(result);
    else {
      unplaced.push({ key, reason: result.reason });
      if (result.places) undecided.push({ key, places: result.places });
    }
  }
  const placed = settle(found, { unplaced, undecided }, layout, pairing.pairs.length);
  const subFields = placed.filter((p) => !p.shipped);
  const explainedBlocks = layout.fields
    .filter((c) => CONTAINERS.has(c.type) && subFields.some((p) => p.within === c.id))
    .filter((c) => uncovered(c, filled, subFields).length === 0)
    .map((c) => c.id);
  const unexplained = unexplainedSpans(layout, lines, filled, placed);
  return {
    paired: pairing.pairs.length,
    pairedBy: pairing.by,
    leftOut: pairing.leftOut,
    placed,
    unplaced: unplaced.sort((a, b) => (a.key < b.key ? -1 : 1)),
    unexplained,
    explainedBlocks,
    mapping: { fields: Object.fromEntries(placed.map((p) => [p.key, p.id])) },
    override:
      subFields.length === 0
        ? undefined
        : {
            extends: layout.name,
            description: `Found by scorebridge layout discover from ${pairing.pairs.length} reports served both as ScoreLink and as JSON.`,
            fields: [
              ...subFields.map((p) => ({
                id: p.id,
                start: p.start,
                end: p.end,
                name: `JSON "${p.key}"`,
                type: p.type,
                certainty: 'discovered',
                comment: `${p.agreed} of ${pairing.pairs.length} paired records agree (${p.withValue} with a value)`,
              })),
              ...explainedBlocks.map((id) => ({
                id,
                type: 'filler' as const,
                comment: 'every filled character is explained by the discovered sub-fields',
              })),
            ],
            remove: [],
          },
  };
}

interface Pairing {
  pairs: [string, Readonly<Record<string, unknown>>][];
  by: string;
  leftOut: { reason: string; count: number }[];
}

/**
 * Pairs by the appointment/registration number both bodies carry (the JSON key holding it is the
 * one whose values match the lines'); a number met more than once in either body (a report and
 * its re-sent version) is left out rather than paired by guess. Without such a key, by order —
 * only when the counts agree.
 */
function pair(input: DiscoverInput): Pairing {
  const field = input.layout.fields.find((f) => f.id === 'appointmentNumber');
  const numberOf = (line: string) =>
    field ? line.slice(field.start - 1, field.end).replace(/\s+/g, '') : '';
  const lineAt = groupBy(input.lines, numberOf);
  let best: { key: string; hits: number } | undefined;
  for (const key of keysOf(input.objects)) {
    let hits = 0;
    for (const o of input.objects) if (lineAt.has(squeezed(o[key]))) hits++;
    if (hits > (best?.hits ?? 0)) best = { key, hits };
  }
  if (!best || best.hits < input.objects.length / 2) {
    if (input.objects.length !== input.lines.length) {
      throw new Error(
        `cannot pair the two bodies: no JSON key holds the lines' appointment numbers, and the counts differ (${input.lines.length} lines, ${input.objects.length} JSON records)`,
      );
    }
    return {
      pairs: input.lines.map((line, i) => [line, input.objects[i]!]),
      by: 'order',
      leftOut: [],
    };
  }
  const key = best.key;
  const objectAt = groupBy(input.objects, (o) => squeezed(o[key]));
  const pairs: Pairing['pairs'] = [];
  let repeated = 0;
  let unmatched = 0;
  for (const [number, objects] of objectAt) {
    const lines = lineAt.get(number);
    if (!lines) unmatched += objects.length;
    else if (lines.length > 1 || objects.length > 1) repeated += objects.length;
    else pairs.push([lines[0]!, objects[0]!]);
  }
  const leftOut = [
    {
      reason: 'their appointment number appears more than once (a re-sent report)',
      count: repeated,
    },
    { reason: 'no line carries their appointment number', count: unmatched },
  ].filter((l) => l.count > 0);
  return { pairs, by: `appointment number (JSON key "${key}")`, leftOut };
}

function squeezed(value: unknown): string {
  return typeof value === 'string' || typeof value === 'number'
    ? String(value).replace(/\s+/g, '')
    : '';
}

function groupBy<T>(items: readonly T[], keyOf: (item: T) => string): Map<string, T[]> {
  const out = new Map<string, T[]>();
  for (const item of items) {
    const k = keyOf(item);
    if (k === '') continue;
    const list = out.get(k);
    if (list) list.push(item);
    else out.set(k, [item]);
  }
  return out;
}

function keysOf(objects: readonly Readonly<Record<string, unknown>>[]): string[] {
  const keys = new Set<string>();
  for (const o of objects) for (const k of Object.keys(o)) keys.add(k);
  return [...keys];
}

/** `filled[p]`: some line has a character other than a space at position p (1-based). */
function filledPositions(lines: readonly string[], length: number): Uint32Array {
  const filled = new Uint32Array(length + 2);
  for (const line of lines) {
    for (let i = 0; i < line.length && i < length; i++)
      if (line.charCodeAt(i) !== 32) filled[i + 1]!++;
  }
  return filled;
}

/** A key that fits several places alike. */
interface Undecided {
  key: string;
  places: Span[];
}

interface Candidate {
  key: string;
  /** The widest span that fits every record. */
  span: Span;
  /** Every span that fits every record with filled edges (for narrowing against a neighbour). */
  fits: Span[];
  rects: Rect[];
  type: FieldType;
  withValue: number;
}

function locate(
  key: string,
  lines: readonly string[],
  objects: readonly Readonly<Record<string, unknown>>[],
  filled: Uint32Array,
  layout: Layout,
): Candidate | { reason: string; places?: Span[] } {
  const values = objects.map((o) => o[key]);
  const odd = values.find((v) => v != null && typeof v !== 'string' && typeof v !== 'number');
  if (odd !== undefined) {
    return {
      reason: `holds ${Array.isArray(odd) ? 'arrays' : typeof odd === 'object' ? 'objects' : `${typeof odd}s`}; discover places text, numbers and dates`,
    };
  }
  const order = values
    .map((_, i) => i)
    .sort((a, b) => Number(isBlank(values[a])) - Number(isBlank(values[b])));
  const withValue = values.filter((v) => !isBlank(v)).length;
  if (withValue === 0) return { reason: 'has no value in any paired record' };
  let rects: Rect[] | undefined;
  for (const i of order) {
    const mine = rectsFor(lines[i]!, values[i]);
    rects = rects === undefined ? mine : intersectAll(rects, mine);
    if (rects.length === 0) {
      return { reason: 'no position of the line holds its value in every paired record' };
    }
  }
  const fits = tightSpans(rects!, filled, layout.recordLength);
  if (fits.length === 0) return { reason: 'fits only positions that are blank in every record' };
  const widest = maximal(fits);
  if (widest.length > 1) {
    return {
      reason: `fits ${widest.map(spanText).join(' and ')} alike in every paired record; discover does not choose`,
      places: widest,
    };
  }
  return { key, span: widest[0]!, fits, rects: rects!, type: typeOf(values), withValue };
}

function isBlank(value: unknown): boolean {
  return value == null || (typeof value === 'string' && value.trim() === '');
}

const NUMERIC = /^(0|[1-9]\d*)(\.\d+)?$/;
const ISO_DATE = /^(\d{4})-(\d{2})-(\d{2})(T[\d:.]+Z?)?$/;

/** Where one record's value could sit: every span that reads back as the value. */
function rectsFor(line: string, value: unknown): Rect[] {
  if (isBlank(value)) return blankRuns(line);
  if (typeof value === 'number') return numberRects(line, value);
  const text = (value as string).trim();
  const date = ISO_DATE.exec(text);
  if (date) return textRects(line, `${date[1]}${date[2]}${date[3]}`);
  const rects = textRects(line, text);
  return NUMERIC.test(text) ? [...rects, ...numberRects(line, Number(text))] : rects;
}

function blankRuns(line: string): Rect[] {
  const out: Rect[] = [];
  for (let i = 0; i < line.length; i++) {
    if (line.charCodeAt(i) !== 32) continue;
    let j = i;
    while (j + 1 < line.length && line.charCodeAt(j + 1) === 32) j++;
    out.push({ s0: i + 1, s1: j + 1, e0: i + 1, e1: j + 1 });
    i = j;
  }
  return out;
}

/** Text is left-aligned and padded with spaces (ETS: "character data padded with spaces"). */
function textRects(line: string, core: string): Rect[] {
  const out: Rect[] = [];
  for (let i = line.indexOf(core); i >= 0; i = line.indexOf(core, i + 1)) {
    const after = run(line, i + core.length, 1, ' ');
    out.push({ s0: i + 1, s1: i + 1, e0: i + core.length, e1: i + core.length + after });
  }
  return out;
}

/** A number: `5`, `05`, `005`, `5.0`, ` 5.5` — zeros or spaces before it, nothing after. */
function numberRects(line: string, value: number): Rect[] {
  if (!Number.isFinite(value) || value < 0) return [];
  const cores = Number.isInteger(value)
    ? [String(value), `${value}.0`]
    : [String(value), value.toFixed(2)];
  const out: Rect[] = [];
  for (const core of cores) {
    for (let i = line.indexOf(core); i >= 0; i = line.indexOf(core, i + 1)) {
      const zeros = run(line, i - 1, -1, '0');
      const spaces = run(line, i - 1 - zeros, -1, ' ');
      out.push({ s0: i + 1 - zeros - spaces, s1: i + 1, e0: i + core.length, e1: i + core.length });
    }
  }
  return out;
}

/** How many `char`s in a row from `from`, stepping by `step`. */
function run(line: string, from: number, step: 1 | -1, char: string): number {
  let n = 0;
  for (let i = from; i >= 0 && i < line.length && line[i] === char; i += step) n++;
  return n;
}

function intersectAll(a: readonly Rect[], b: readonly Rect[]): Rect[] {
  const out: Rect[] = [];
  const seen = new Set<string>();
  for (const x of a) {
    for (const y of b) {
      const r = {
        s0: Math.max(x.s0, y.s0),
        s1: Math.min(x.s1, y.s1),
        e0: Math.max(x.e0, y.e0),
        e1: Math.min(x.e1, y.e1),
      };
      if (r.s0 > r.s1 || r.e0 > r.e1 || r.s0 > r.e1) continue;
      const id = `${r.s0},${r.s1},${r.e0},${r.e1}`;
      if (seen.has(id)) continue;
      seen.add(id);
      out.push(r);
    }
  }
  return out;
}

/** The spans of the rects whose first and last positions are filled in some record. */
function tightSpans(rects: readonly Rect[], filled: Uint32Array, length: number): Span[] {
  const out = new Map<string, Span>();
  for (const r of rects) {
    for (let s = r.s0; s <= r.s1; s++) {
      if (!filled[s]) continue;
      for (let e = Math.max(r.e0, s); e <= Math.min(r.e1, s + MAX_WIDTH - 1, length); e++) {
        if (filled[e]) out.set(`${s},${e}`, { start: s, end: e });
      }
    }
  }
  return [...out.values()];
}

/** The spans no other span contains. */
function maximal(spans: readonly Span[]): Span[] {
  const byWidth = [...spans].sort((a, b) => b.end - b.start - (a.end - a.start));
  const out: Span[] = [];
  for (const s of byWidth) {
    if (!out.some((m) => m.start <= s.start && s.end <= m.end)) out.push(s);
  }
  return out.sort((a, b) => a.start - b.start);
}

function inRects(rects: readonly Rect[], span: Span): boolean {
  return rects.some(
    (r) => r.s0 <= span.start && span.start <= r.s1 && r.e0 <= span.end && span.end <= r.e1,
  );
}

function typeOf(values: readonly unknown[]): FieldType {
  const present = values.filter((v) => !isBlank(v));
  if (present.every((v) => typeof v === 'number' || NUMERIC.test(String(v).trim()))) return 'score';
  if (present.every((v) => ISO_DATE.test(String(v).trim()))) return 'date';
  return present.every((v) => !/\s/.test(String(v).trim())) ? 'code' : 'text';
}

function spanText(span: Span): string {
  return span.start === span.end ? `${span.start}` : `${span.start}–${span.end}`;
}

/**
 * Turns candidates into placements: a shipped field the evidence fits, or a sub-field inside a
 * raw span; then settles overlaps between sub-fields (a span narrows away from a neighbour when
 * only one of the two can) and two keys on one place (both reported).
 */
function settle(
  found: Candidate[],
  { unplaced, undecided }: { unplaced: UnplacedKey[]; undecided: readonly Undecided[] },
  layout: Layout,
  agreed: number,
): PlacedField[] {
  const shipped: PlacedField[] = [];
  let subs: (Candidate & { within: LayoutField })[] = [];
  for (const c of found) {
    const fields = layout.fields.filter(
      (f) =>
        !CONTAINERS.has(f.type) &&
        f.start <= c.span.end &&
        c.span.start <= f.end &&
        inRects(c.rects, f),
    );
    const within = layout.fields.find(
      (f) => CONTAINERS.has(f.type) && f.start <= c.span.start && c.span.end <= f.end,
    );
    if (fields.length === 1) {
      const f = fields[0]!;
      shipped.push({
        key: c.key,
        id: f.id,
        start: f.start,
        end: f.end,
        type: f.type,
        shipped: true,
        agreed,
        withValue: c.withValue,
      });
    } else if (within && fields.length === 0) subs.push({ ...c, within });
    else {
      const there = layout.fields.filter(
        (f) => !CONTAINERS.has(f.type) && f.start <= c.span.end && c.span.start <= f.end,
      );
      unplaced.push({
        key: c.key,
        reason: `sits at ${spanText(c.span)}, which the shipped layout gives to ${there.map((f) => `${f.id} (${spanText(f)})`).join(', ') || 'no field'} — a conflict to check with ETS's layout`,
      });
    }
  }
  for (let pass = 0; pass < subs.length; pass++) {
    let changed = false;
    for (const a of subs) {
      for (const b of subs) {
        if (a === b || !overlaps(a.span, b.span)) continue;
        const narrowerA = widestApart(a, b.span);
        const narrowerB = widestApart(b, a.span);
        if (narrowerA && !narrowerB) a.span = narrowerA;
        else if (narrowerB && !narrowerA) b.span = narrowerB;
        else continue;
        changed = true;
      }
    }
    if (!changed) break;
  }
  // A neighbour that fits two places may or may not own the characters this span reaches into
  // (a leading zero, say): then this span is not known either.
  subs = subs.filter((a) => {
    const b = undecided.find((u) => u.places.some((p) => overlaps(p, a.span)));
    if (b) {
      unplaced.push({
        key: a.key,
        reason: `its place ${spanText(a.span)} reaches into one of the places JSON "${b.key}" fits, and that key's place is not known`,
      });
    }
    return !b;
  });
  const clash = (a: Candidate) => subs.filter((b) => b !== a && overlaps(a.span, b.span));
  const clashing = subs.filter((a) => clash(a).length > 0);
  for (const a of clashing) {
    unplaced.push({
      key: a.key,
      reason: `its place ${spanText(a.span)} overlaps ${clash(a)
        .map((b) => `JSON "${b.key}" (${spanText(b.span)})`)
        .join(', ')}, and the evidence does not separate them`,
    });
  }
  subs = subs.filter((a) => !clashing.includes(a));
  const taken = new Set(layout.fields.map((f) => f.id));
  const placed = [
    ...shipped,
    ...subs.map((c): PlacedField => {
      const id = freeId(c.key, taken);
      taken.add(id);
      return {
        key: c.key,
        id,
        start: c.span.start,
        end: c.span.end,
        type: c.type,
        shipped: false,
        within: c.within.id,
        agreed,
        withValue: c.withValue,
      };
    }),
  ];
  const byTarget = groupBy(placed, (p) => p.id);
  const out: PlacedField[] = [];
  for (const [id, group] of byTarget) {
    if (group.length === 1) out.push(group[0]!);
    else
      for (const p of group)
        unplaced.push({
          key: p.key,
          reason: `keys ${group.map((g) => `"${g.key}"`).join(' and ')} all fit ${id}; discover does not choose`,
        });
  }
  return out.sort((a, b) => a.start - b.start || a.end - b.end);
}

function overlaps(a: Span, b: Span): boolean {
  return a.start <= b.end && b.start <= a.end;
}

function widestApart(c: Candidate, other: Span): Span | undefined {
  const apart = maximal(c.fits.filter((s) => !overlaps(s, other)));
  return apart.length === 1 ? apart[0] : undefined;
}

/** A layout id from a JSON key: `ibt26_listening` → `ibt26Listening`; kept clear of taken ids. */
function freeId(key: string, taken: ReadonlySet<string>): string {
  const words = key.split(/[^A-Za-z0-9]+/).filter(Boolean);
  let id = words
    .map((w, i) => (i === 0 ? w[0]!.toLowerCase() + w.slice(1) : w[0]!.toUpperCase() + w.slice(1)))
    .join('');
  if (!/^[A-Za-z]/.test(id)) id = `json${id.charAt(0).toUpperCase()}${id.slice(1)}`;
  if ((RESERVED_FIELD_IDS as readonly string[]).includes(id) || taken.has(id)) id = `${id}Json`;
  let n = 2;
  const base = id;
  while (taken.has(id)) id = `${base}${n++}`;
  return id;
}

function uncovered(span: Span, filled: Uint32Array, fields: readonly Span[]): number[] {
  const out: number[] = [];
  for (let p = span.start; p <= span.end; p++) {
    if (filled[p] && !fields.some((f) => f.start <= p && p <= f.end)) out.push(p);
  }
  return out;
}

/** Runs of filled positions that no placed field covers, named by the shipped field they are in. */
function unexplainedSpans(
  layout: Layout,
  lines: readonly string[],
  filled: Uint32Array,
  placed: readonly PlacedField[],
): UnexplainedSpan[] {
  const out: UnexplainedSpan[] = [];
  const positions = uncovered({ start: 1, end: layout.recordLength }, filled, placed);
  const ownerOf = (p: number) =>
    [...layout.fields].reverse().find((f) => f.start <= p && p <= f.end && f.type !== 'filler')
      ?.id ??
    layout.fields.find((f) => f.start <= p && p <= f.end)?.id ??
    '(no field)';
  for (let i = 0; i < positions.length; ) {
    let j = i;
    const owner = ownerOf(positions[i]!);
    while (
      j + 1 < positions.length &&
      positions[j + 1] === positions[j]! + 1 &&
      ownerOf(positions[j + 1]!) === owner
    )
      j++;
    const start = positions[i]!;
    const end = positions[j]!;
    const records = lines.filter((l) => l.slice(start - 1, end).trim() !== '').length;
    out.push({ start, end, field: owner, records });
    i = j + 1;
  }
  return out;
}
