import type { FieldUse, ObjectRows, Row } from './profiles.js';

/** One field of an sObject describe, as check() and the writes read it. */
export interface FieldDescribe {
  readonly name: string;
  readonly type: string;
  readonly createable: boolean;
  readonly updateable: boolean;
  readonly externalId: boolean;
  readonly unique: boolean;
  readonly autoNumber?: boolean;
  readonly calculated?: boolean;
  /** Text fields: the most characters. */
  readonly length?: number;
  /** Number fields: digits in all and after the point. */
  readonly precision?: number;
  readonly scale?: number;
  readonly picklistValues?: readonly { readonly value: string; readonly active: boolean }[];
}

/** The parts of an sObject describe that check(), matching and the writes read. */
export interface Describe {
  readonly fields: readonly FieldDescribe[];
}

/** Describe's number types; `int` takes whole numbers only. */
const NUMBER_TYPES = new Set(['int', 'double', 'currency', 'percent']);
/** Describe's text types: any value is written as its text. */
const TEXT_TYPES = new Set([
  'string',
  'textarea',
  'picklist',
  'multipicklist',
  'email',
  'phone',
  'url',
  'combobox',
]);

/**
 * A test date written to a Date/Time field: 12:00 UTC of the day, so that the day shown is the
 * test day in every time zone from UTC−11 to UTC+11 (midnight UTC would show the day before
 * across the Americas).
 */
const DATE_IN_DATETIME = 'T12:00:00.000Z';

/** Written on insert and on update alike (an upsert may do either). */
const writable = (f: FieldDescribe) => f.createable && f.updateable;

/**
 * A value as the org's field takes it, by the type its describe reports, or why it cannot be:
 * never a silent change of a score. Null stays null (the field is cleared).
 * - int: whole numbers only; a 1–6 band such as 4.5 is refused, not rounded.
 * - double, currency, percent: within the field's decimal places — Salesforce would store 4.5
 *   in a field with none, but show 5 on every page, so that is refused too.
 * - date: `yyyy-MM-dd`; dateTime: a date becomes 12:00 UTC of that day.
 * - text types: the value's text, within the field's length.
 * - boolean: true or false.
 */
function coerce(
  field: FieldDescribe,
  value: unknown,
): { value: unknown } | { why: string; fix: string } {
  if (value === null || value === undefined) return { value: null };
  const type = field.type;
  if (NUMBER_TYPES.has(type)) {
    const n = typeof value === 'number' ? value : Number(value);
    if (typeof value === 'boolean' || String(value).trim() === '' || !Number.isFinite(n))
      return { why: `is a ${type} field and the value is not a number`, fix: 'map a number to it' };
    const scale = type === 'int' ? 0 : field.scale;
    if (scale !== undefined && Number(n.toFixed(scale)) !== n)
      return {
        why:
          type === 'int'
            ? 'is an Integer field and the score has a fraction (a 1–6 band such as 4.5)'
            : `keeps ${scale} decimal place${scale === 1 ? '' : 's'} and the score has more (Salesforce would show it rounded)`,
        fix: 'make it a Number field with at least 1 decimal place, e.g. Number(3, 1), then replay',
      };
    if (field.precision !== undefined && scale !== undefined) {
      const whole = Math.abs(Math.trunc(n)).toString().length;
      if (whole > field.precision - scale)
        return {
          why: `holds at most ${field.precision - scale} digits before the point`,
          fix: 'widen the field, then replay',
        };
    }
    return { value: n };
  }
  if (type === 'date' || type === 'datetime') {
    const text = String(value);
    const day = /^\d{4}-\d{2}-\d{2}/.exec(text)?.[0];
    if (!day)
      return { why: `is a ${type} field and the value is not a date`, fix: 'map a date to it' };
    if (type === 'date') return { value: day };
    return {
      value: text.length === 10 ? `${day}${DATE_IN_DATETIME}` : new Date(text).toISOString(),
    };
  }
  if (type === 'boolean') {
    if (typeof value === 'boolean') return { value };
    if (/^(true|false)$/i.test(String(value))) return { value: /^true$/i.test(String(value)) };
    return {
      why: 'is a Checkbox field and the value is not true or false',
      fix: 'map a yes/no value to it',
    };
  }
  if (TEXT_TYPES.has(type)) {
    const text = String(value);
    if (field.length !== undefined && field.length > 0 && text.length > field.length)
      return {
        why: `holds at most ${field.length} characters and the value has ${text.length}`,
        fix: 'make the field longer, then replay',
      };
    return { value: text };
  }
  return { value };
}

/** A row made fit for the org, or the first field that cannot take its value. */
type Fitted = { readonly row: Row } | { readonly field: string; readonly why: string };

/**
 * Rows made fit for the org's describe: each value coerced to its field's type, and each field
 * describe marks not createable or not updateable left out when the profile can do without it
 * (`optional`; an auto-number Name, say). Relationship references and fields the org lacks pass
 * as they are (Salesforce names them; check() lists them first).
 */
export function fitRows(
  rows: ObjectRows,
  describe: Describe,
  optional: ReadonlySet<string>,
): Fitted[] {
  const fields = new Map(describe.fields.map((f) => [f.name, f]));
  return rows.rows.map(({ row }) => {
    const out: Row = {};
    for (const [name, value] of Object.entries(row)) {
      const field = fields.get(name);
      if (!field || (value !== null && typeof value === 'object')) {
        out[name] = value ?? null;
        continue;
      }
      if (!writable(field) && optional.has(name) && name !== rows.externalId) continue;
      const fitted = coerce(field, value);
      if ('why' in fitted)
        return { field: name, why: `${rows.object}.${name} ${fitted.why}: ${fitted.fix}` };
      out[name] = fitted.value;
    }
    return { row: out };
  });
}

/** What check() says of one field the profile writes: problems block delivery, notes do not. */
export function fieldFindings(
  use: FieldUse,
  field: FieldDescribe,
): { problems: string[]; notes: string[] } {
  const problems: string[] = [];
  const notes: string[] = [];
  const at = `${use.object}.${use.field}`;
  if (!writable(field)) {
    const why = field.autoNumber
      ? 'an auto-number field'
      : field.calculated
        ? 'a formula field'
        : 'not writable for this user';
    if (use.optional && !use.externalId) notes.push(`${at} is ${why}: ScoreBridge leaves it out`);
    else
      problems.push(
        field.autoNumber || field.calculated
          ? `${at} is ${why}, which Salesforce fills itself: map this value to another field`
          : `${at} is not writable for this user: grant edit access (field-level security)`,
      );
  }
  if (use.value === 'score') {
    if (field.type === 'int')
      problems.push(
        `${at} is an Integer field: 1–6 band scores such as 4.5 would be refused: make it Number(3, 1) or wider`,
      );
    else if (NUMBER_TYPES.has(field.type) && field.scale === 0)
      problems.push(
        `${at} has no decimal places: Salesforce would show a 4.5 band as 5, so ScoreBridge refuses such scores: give it 1 decimal place`,
      );
    else if (!NUMBER_TYPES.has(field.type) && !TEXT_TYPES.has(field.type))
      problems.push(`${at} is a ${field.type} field: scores need a Number field`);
  }
  if (use.value === 'date') {
    if (field.type === 'datetime')
      notes.push(`${at} is a Date/Time field: dates are written as 12:00 UTC of the day`);
    else if (field.type !== 'date' && !TEXT_TYPES.has(field.type))
      problems.push(`${at} is a ${field.type} field: dates need a Date field`);
  }
  return { problems, notes };
}
