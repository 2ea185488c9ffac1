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
  /** Field ids outside MyBest and the test's own scores, in layout order. */
  readonly other: readonly string[];
  /** The test's own scores (and a raw iBT26 block, whose parts are not known). */
  readonly scores: readonly string[];
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
  g = { other, scores };
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
  const g = groups(layout);
  const values = (ids: readonly string[]) =>
    JSON.stringify(ids.map((id) => record.fields[id] ?? null));
  const other = values(g.other);
  const extra = record.extra ? JSON.stringify(Object.entries(record.extra).sort()) : '';
  return [
    hash('sha256', `${other}\n${extra}`, 'hex').slice(0, 16),
    hash('sha256', `${other}\n${extra}\n${values(g.scores)}`, 'hex').slice(0, 16),
  ].join('.');
}

/** What changed between two versions of one record key, from their {@link versionDigest}s. */
export function updateClass(previous: string, next: string): UpdateClass {
  const [otherBefore, scoresBefore] = previous.split('.');
  const [otherNow, scoresNow] = next.split('.');
  if (otherBefore !== otherNow) return 'other-fields';
  return scoresBefore !== scoresNow ? 'scores-changed' : 'mybest-changed';
}
