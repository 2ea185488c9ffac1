import { builtinLayout, type FieldValue, type Layout, type LayoutField } from '@scorebridge/core';
import { prng } from './data.js';

/** Options of {@link hiddenLayout}. */
export interface HiddenLayoutOptions {
  /** Same seed, same names and positions. */
  readonly seed: number;
  /** Also write one sub-field's value at a second place in every record (nothing can tell which is real). @default false */
  readonly ambiguous?: boolean;
}

/**
 * A layout the tests do not know, as ETS's unpublished one is to us: JSON names of its own for
 * every field, and the iBT26 parts at positions of its own inside the raw spans (824–831 and
 * the block 832–937), in a shuffled order with gaps. `scorebridge layout discover` is tested
 * against it.
 */
export interface HiddenLayout {
  /** The JSON name of every field id the sandbox serves. */
  readonly jsonNames: Readonly<Record<string, string>>;
  /** The iBT26 sub-fields where this layout puts them. */
  readonly subFields: readonly LayoutField[];
  /** The 1600 layout with those sub-fields: what the sandbox writes lines with. */
  readonly layout: Layout;
  /** In ambiguous mode: the sub-field whose value is written a second time, and where. */
  readonly copy?: { readonly of: string; readonly start: number; readonly end: number };
}

/** The iBT26 parts the sandbox's data carries, with their widths. */
const IBT26_PARTS: readonly [string, number, LayoutField['type']][] = [
  ['ibt26Listening', 3, 'score'],
  ['ibt26Reading', 3, 'score'],
  ['ibt26Speaking', 3, 'score'],
  ['ibt26Writing', 3, 'score'],
  ['ibt26Total', 3, 'score'],
  ['ibt26CefrListening', 2, 'code'],
  ['ibt26CefrReading', 2, 'code'],
  ['ibt26CefrSpeaking', 2, 'code'],
  ['ibt26CefrWriting', 2, 'code'],
  ['ibt26CefrTotal', 2, 'code'],
  ['ibt26Comparable', 3, 'score'],
  ['ibt26MyBestTotal', 3, 'score'],
  ['ibt26MyBestDate', 8, 'date'],
];

const SYLLABLES = ['ka', 'lo', 'mi', 'nu', 'pe', 'ra', 'so', 'ti', 'vu', 'xe', 'zo', 'qi'];

/** Makes the hidden layout of a seed. */
export function hiddenLayout(options: HiddenLayoutOptions): HiddenLayout {
  const rand = prng(options.seed * 2_654_435 + 99);
  const int = (from: number, to: number) => from + Math.floor(rand() * (to - from + 1));
  const base = builtinLayout('scorelink-1600');
  const parts = shuffled(IBT26_PARTS, rand);
  const subFields: LayoutField[] = [];
  let at = 832 + int(0, 16);
  for (const [i, [id, width, type]] of parts.entries()) {
    // Sometimes the first part goes into the unknown span before the block.
    const start =
      i === 0 && rand() < 0.4 ? int(824, 832 - width) : at + (rand() < 0.3 ? int(1, 3) : 0);
    subFields.push(field(id, start, start + width - 1, type));
    if (start >= 832) at = start + width;
  }
  const copyOf = options.ambiguous ? subFields[int(0, subFields.length - 1)]! : undefined;
  const copy = copyOf
    ? (() => {
        const start = int(960, 1150);
        return { of: copyOf.id, start, end: start + copyOf.end - copyOf.start };
      })()
    : undefined;
  const jsonNames: Record<string, string> = {};
  const used = new Set<string>();
  for (const f of [...base.fields, ...subFields]) {
    if (f.type === 'filler' || f.type === 'raw') continue;
    let name: string;
    do {
      name = `${SYLLABLES[int(0, 11)]}${SYLLABLES[int(0, 11)]}${rand() < 0.5 ? '_' : ''}${int(1, 99)}`;
    } while (used.has(name));
    used.add(name);
    jsonNames[f.id] = name;
  }
  const layout: Layout = {
    ...base,
    name: 'scorelink-1600+hidden',
    fields: [
      ...base.fields,
      ...subFields,
      ...(copy ? [field(`${copy.of}Copy`, copy.start, copy.end, copyOf!.type)] : []),
    ].sort((a, b) => a.start - b.start || b.end - a.end),
  };
  return { jsonNames, subFields, layout, ...(copy ? { copy } : {}) };
}

/** A record's fields as the hidden layout writes them (with the ambiguous copy, if any). */
export function hiddenLineFields(
  hidden: HiddenLayout,
  fields: Record<string, FieldValue>,
): Record<string, FieldValue> {
  return hidden.copy
    ? { ...fields, [`${hidden.copy.of}Copy`]: fields[hidden.copy.of] ?? null }
    : fields;
}

function field(id: string, start: number, end: number, type: LayoutField['type']): LayoutField {
  return { id, start, end, name: `${id} (hidden)`, type, certainty: 'hidden' };
}

function shuffled<T>(items: readonly T[], rand: () => number): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}
