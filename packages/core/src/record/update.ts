import { hash } from 'node:crypto';
import type { Layout } from '../layout/layout.js';
import type { ScoreRecord } from './record.js';

/**
 * What a re-sent report changed, compared with the version of the same record key seen before:
 * - `mybest-changed`: only the MyBest fields (ETS re-sends a report whenever MyBest changes —
 *   most updates are these);
 * - `scores-changed`: the test's own scores (and perhaps MyBest), nothing else — rare, because
 *   ETS does not review scores it has sent, and worth a look;
 * - `other-fields`: anything else (a name, an address, a code), with or without score changes.
 */
export const UPDATE_CLASSES = ['scores-changed', 'mybest-changed', 'other-fields'] as const;

/** One of {@link UPDATE_CLASSES}. */
export type UpdateClass = (typeof UPDATE_CLASSES)[number];

interface Groups {
  /**
   * JSON arrays of a record's values (null when blank or absent): the fields outside MyBest and
   * the test's own scores, in layout order; and the test's own scores (and a raw iBT26 block,
   * whose parts are not known). Compiled once per layout: each value is read by its own name.
   * The source holds only ids quoted by JSON.stringify, never data.
   */
  readonly values: (fields: ScoreRecord['fields']) => readonly [other: string, scores: string];
}

const groupsOf = new WeakMap<Layout, Groups>();
const MYBEST = /mybest/i;
const OWN_SCORE = /^(ibt|ibt26|ess|pbt|rpdt)(?=[A-Z0-9])/;

function groups(layout: Layout): Groups {
  let g = groupsOf.get(layout);
  if (g) return g;
  const block = layout.fields.find((f) => f.id === 'ibt26Block');
  const inBlock = (f: Layout['fields'][number]) =>
    !!block && f.start >= block.start && f.end <= block.end;
  const other: string[] = [];
  const scores: string[] = [];
  for (const f of layout.fields) {
    if (f.type === 'filler' || MYBEST.test(f.id) || MYBEST.test(f.name)) continue;
    (OWN_SCORE.test(f.id) || inBlock(f) ? scores : other).push(f.id);
  }
  const array = (ids: readonly string[]) =>
    `JSON.stringify([${ids.map((id) => `f[${JSON.stringify(id)}] ?? null`).join(', ')}])`;
  const values = new Function(
    'f',
    `return [${array(other)}, ${array(scores)}];`,
  ) as Groups['values'];
  g = { values };
  groupsOf.set(layout, g);
  return g;
}

/**
 * A short digest of a record version, to tell later what a re-sent version changed: SHA-256 of
 * the fields outside MyBest and the own scores, and of those plus the own scores. Both cover the
 * names, dates of birth and e-mail too, so neither can be reversed into scores. With the shipped
 * layout the iBT26 block is one raw span: a change in it counts as a score change until its
 * parts are known (`scorebridge layout discover`).
 */
export function versionDigest(record: ScoreRecord, layout: Layout): string {
  const carried = (record as Carrier)[CARRIED];
  if (carried !== undefined) return carried;
  const [other, scores] = groups(layout).values(record.fields);
  const extra = record.extra ? JSON.stringify(Object.entries(record.extra).sort()) : '';
  const outside = `${other}\n${extra}`;
  // `join` writes one flat string: a digest kept for every version a run meets (the store, the
  // classifier) holds no reference to the two 64-character hashes its halves were cut from, as
  // `+` of the two slices would. Hex straight from `hash`: a Buffer result costs an ArrayBuffer
  // (made, tracked as external memory, collected) for each half of each digest.
  return [
    hash('sha256', outside, 'hex').slice(0, 16),
    hash('sha256', `${outside}\n${scores}`, 'hex').slice(0, 16),
  ].join('.');
}

/** Where a record held compactly carries the digest taken while its fields were at hand. */
export const CARRIED: unique symbol = Symbol('scorebridge.versionDigest');

/** A record that may carry its digest ({@link CARRIED}). */
export interface Carrier {
  [CARRIED]?: string;
}

/** What changed between two versions of one record key, from their {@link versionDigest}s. */
export function updateClass(previous: string, next: string): UpdateClass {
  const [otherBefore, scoresBefore] = previous.split('.');
  const [otherNow, scoresNow] = next.split('.');
  if (otherBefore !== otherNow) return 'other-fields';
  return scoresBefore !== scoresNow ? 'scores-changed' : 'mybest-changed';
}
