import { z } from 'zod';

/**
 * How a field's characters become a typed value:
 * - `text`: trimmed, blank → null (names, addresses, e-mail).
 * - `code`: trimmed, blank → null, otherwise kept exactly as received (gender, test type, country).
 * - `date`: `YYYYMMDD` → `YYYY-MM-DD`; blank or all zeros → null; anything else is a parse issue.
 * - `score`: a whole or half number (`95`, `5.5`); blank → null; anything else is a parse issue.
 * - `raw`: the characters untouched (blank → null); for spans whose sub-fields are not known.
 * - `filler`: not part of the typed record (it stays in the raw text).
 */
export const FIELD_TYPES = ['text', 'code', 'date', 'score', 'raw', 'filler'] as const;

/** One of {@link FIELD_TYPES}. */
export type FieldType = (typeof FIELD_TYPES)[number];

/** Names a record's canonical JSON uses besides the layout ids, so no field may take them. */
export const RESERVED_FIELD_IDS = [
  'recordKey',
  'contentHash',
  'scale',
  'line',
  'raw',
  'update',
] as const;

const fieldId = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'must start with a letter and hold only letters, digits and _')
  .refine((id) => !(RESERVED_FIELD_IDS as readonly string[]).includes(id), {
    message: `is reserved (${RESERVED_FIELD_IDS.join(', ')})`,
  });

const position = z.number().int().min(1);

/** One field of a fixed-length layout; positions are 1-based and inclusive, as in ETS's tables. */
export const layoutFieldSchema = z
  .object({
    /** The field's name in records and canonical JSON (camelCase). */
    id: fieldId,
    /** First character, 1-based. */
    start: position,
    /** Last character, 1-based, inclusive. */
    end: position,
    /** ETS's name for the field. */
    name: z.string().min(1),
    /** How its characters are typed. */
    type: z.enum(FIELD_TYPES),
    /** How sure the position is (`verbatim`, `code-2sources`, `unknown`, `site`, …). */
    certainty: z.string().min(1),
    /** Free text: ETS's comment or a transcriber's note. */
    comment: z.string().optional(),
  })
  .strict();

/** One field of a fixed-length layout. */
export type LayoutField = z.infer<typeof layoutFieldSchema>;

/** A complete fixed-length layout file. */
export const layoutSchema = z
  .object({
    /** Short name, e.g. `scorelink-1600`. */
    name: z.string().min(1),
    /** What it is and where it came from. */
    description: z.string().optional(),
    /** Characters per record. */
    recordLength: position,
    /** The fields, in any order (they are kept sorted by position). */
    fields: z.array(layoutFieldSchema).min(1),
  })
  .strict();

/** A complete fixed-length layout. */
export type Layout = z.infer<typeof layoutSchema>;

/**
 * A site's changes to a shipped layout: add fields (e.g. the sub-fields ETS publishes for the
 * iBT26 block 832–937), correct fields by id, or remove them — without a release.
 */
export const layoutOverrideSchema = z
  .object({
    /** The layout this file changes, by name (`scorelink-1600`, `scorelink-legacy-900`). */
    extends: z.string().min(1),
    /** What the override is for. */
    description: z.string().optional(),
    /**
     * Fields to add or correct. A field whose id exists is corrected (only the properties given
     * change); a new id needs at least `start`, `end` and `name` (`type` defaults to `text`,
     * `certainty` to `site`).
     */
    fields: z.array(layoutFieldSchema.partial().extend({ id: fieldId }).strict()).default([]),
    /** Ids of fields to drop. */
    remove: z.array(z.string()).default([]),
  })
  .strict();

/** A site's changes to a shipped layout. */
export type LayoutOverride = z.infer<typeof layoutOverrideSchema>;

const CONTAINER_TYPES: ReadonlySet<FieldType> = new Set(['raw', 'filler']);

/**
 * Every structural problem of a layout, each naming the field(s): ids unique, positions inside
 * the record and ordered, no overlaps — except that a field may lie wholly inside a `raw` or
 * `filler` span (a sub-field of a block whose parts a site knows).
 */
export function layoutProblems(layout: Layout): string[] {
  const problems: string[] = [];
  const seen = new Set<string>();
  for (const f of layout.fields) {
    if (seen.has(f.id)) problems.push(`field ${f.id}: the id is used twice`);
    seen.add(f.id);
    if (f.start > f.end) problems.push(`field ${f.id}: start ${f.start} is after end ${f.end}`);
    if (f.end > layout.recordLength) {
      problems.push(
        `field ${f.id} (${f.start}–${f.end}): ends past the record length ${layout.recordLength}`,
      );
    }
  }
  // Sorted by start, longest first, a stack of open spans tells containment from overlap.
  const open: LayoutField[] = [];
  for (const f of sortFields(layout.fields)) {
    while (open.length > 0 && open[open.length - 1]!.end < f.start) open.pop();
    const outer = open[open.length - 1];
    if (outer && !(f.end <= outer.end && CONTAINER_TYPES.has(outer.type))) {
      problems.push(
        `fields ${outer.id} (${outer.start}–${outer.end}) and ${f.id} (${f.start}–${f.end}) overlap` +
          (f.end <= outer.end ? ` (only raw or filler spans may hold sub-fields)` : ''),
      );
    }
    open.push(f);
  }
  return problems;
}

/** Fields in reading order: by start, a container before the sub-fields inside it. */
export function sortFields(fields: readonly LayoutField[]): LayoutField[] {
  return [...fields].sort((a, b) => a.start - b.start || b.end - a.end);
}

/** Applies a site's override to a layout; the result still needs {@link layoutProblems}. */
export function applyOverride(base: Layout, override: LayoutOverride): Layout {
  const problems: string[] = [];
  const removed = new Set(override.remove);
  for (const id of removed) {
    if (!base.fields.some((f) => f.id === id))
      problems.push(`remove: ${base.name} has no field ${id}`);
  }
  const fields = new Map(base.fields.filter((f) => !removed.has(f.id)).map((f) => [f.id, f]));
  for (const change of override.fields) {
    const existing = fields.get(change.id);
    if (existing) {
      fields.set(change.id, { ...existing, ...stripUndefined(change) });
      continue;
    }
    if (change.start === undefined || change.end === undefined || change.name === undefined) {
      problems.push(
        `field ${change.id}: ${base.name} has no such field, so a new one needs start, end and name`,
      );
      continue;
    }
    fields.set(change.id, {
      type: 'text',
      certainty: 'site',
      ...stripUndefined(change),
      start: change.start,
      end: change.end,
      name: change.name,
    } as LayoutField);
  }
  if (problems.length > 0) throw new LayoutProblems(problems);
  return {
    name: `${base.name}+site`,
    description: override.description ?? base.description,
    recordLength: base.recordLength,
    fields: sortFields([...fields.values()]),
  };
}

/** Problems found while merging; the loader turns them into a located ConfigError. */
export class LayoutProblems extends Error {
  constructor(readonly problems: string[]) {
    super(problems.join('\n'));
    this.name = 'LayoutProblems';
  }
}

function stripUndefined<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
