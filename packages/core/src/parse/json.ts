import { hash } from 'node:crypto';
import { ConfigError } from '../errors.js';
import type { Layout } from '../layout/layout.js';
import { buildRecord, type CompiledLayout, compileLayout } from '../record/record.js';
import {
  dateValue,
  type FieldValue,
  rawValue,
  scoreValue,
  textValue,
  VALUE_PROBLEM_TEXT,
} from '../record/values.js';
import { NO_ISSUES, type ParsedEntry, type ParseIssue, parseIssue } from './issues.js';

/**
 * How JSON keys become layout fields. ETS has not published its JSON field names, so a site can
 * name them; every other key is matched to a layout id ignoring case and separators
 * (`last_name`, `LastName` and `LAST-NAME` all match `lastName`).
 */
export interface JsonMapping {
  /** Explicit JSON key → layout id entries, checked first. @default {} */
  readonly fields?: Readonly<Record<string, string>>;
}

/** `lastName`, `last_name`, `LAST-NAME` → `lastname`. */
export function normalizeKey(key: string): string {
  return key.toLowerCase().replace(/[^a-z0-9]/g, '');
}

/** Turns the JSON objects of a `data` array into records, typed by a layout's field types. */
export class JsonRecordMapper {
  readonly #compiled: CompiledLayout;
  readonly #index = new Map<string, number>();

  constructor(layout: Layout, mapping: JsonMapping = {}) {
    this.#compiled = compileLayout(layout);
    const ids = this.#compiled.ids;
    ids.forEach((id, i) => {
      this.#index.set(normalizeKey(id), i);
    });
    const unknown: string[] = [];
    for (const [key, id] of Object.entries(mapping.fields ?? {})) {
      const at = ids.indexOf(id);
      if (at < 0)
        unknown.push(
          `JSON mapping: key "${key}" maps to "${id}", which is not a field of ${layout.name}`,
        );
      else this.#index.set(`=${key}`, at);
    }
    if (unknown.length > 0) throw new ConfigError(unknown);
  }

  /** Maps one element's text (1-based `index` in the data array) to an entry. */
  map(text: string, index: number): ParsedEntry {
    const where = `data[${index - 1}]`;
    let obj: unknown;
    try {
      obj = JSON.parse(text);
    } catch {
      return {
        line: index,
        record: undefined,
        issues: [parseIssue(index, where, 'json', 'is not valid JSON')],
        fingerprint: hash('sha256', text, 'hex'),
      };
    }
    if (obj === null || typeof obj !== 'object' || Array.isArray(obj)) {
      return {
        line: index,
        record: undefined,
        issues: [parseIssue(index, where, 'json', 'is not a JSON object')],
        fingerprint: hash('sha256', text, 'hex'),
      };
    }
    const c = this.#compiled;
    const values: FieldValue[] = new Array(c.ids.length).fill(null);
    const from: (string | undefined)[] = new Array(c.ids.length);
    let extra: Record<string, unknown> | undefined;
    let issues: ParseIssue[] | undefined;
    for (const [key, value] of Object.entries(obj as Record<string, unknown>)) {
      const at = this.#index.get(`=${key}`) ?? this.#index.get(normalizeKey(key));
      if (at === undefined) {
        (extra ??= {})[key] = value;
        continue;
      }
      const field = c.fields[at]!;
      if (from[at] !== undefined) {
        (issues ??= []).push(
          parseIssue(
            index,
            where,
            'json',
            `keys "${from[at]}" and "${key}" both map to this field`,
            { id: field.id },
          ),
        );
        continue;
      }
      from[at] = key;
      const typed = typedValue(field.type, value);
      if (typed === undefined) {
        const problem = field.type === 'date' || field.type === 'score' ? field.type : 'type';
        const reason =
          problem === 'type'
            ? `holds a JSON ${typeof value}, not text`
            : VALUE_PROBLEM_TEXT[problem];
        (issues ??= []).push(parseIssue(index, where, problem, reason, { id: field.id }));
        values[at] = typeof value === 'string' ? value : null;
      } else values[at] = typed;
    }
    const { record, missingKey } = buildRecord(c, c.fieldsOf(values), text, extra);
    for (const id of missingKey) {
      (issues ??= []).push(
        parseIssue(
          index,
          where,
          'missing-key',
          'is missing or blank, so the record cannot be identified',
          { id },
        ),
      );
    }
    return { line: index, record, issues: issues ?? NO_ISSUES };
  }
}

function typedValue(type: string, value: unknown): FieldValue | undefined {
  if (value === null || value === undefined) return null;
  const text =
    typeof value === 'string'
      ? value
      : typeof value === 'number' || typeof value === 'boolean'
        ? String(value)
        : undefined;
  switch (type) {
    case 'date':
      return text === undefined ? undefined : dateValue(text);
    case 'score':
      return typeof value === 'number'
        ? scoreValue(value)
        : text === undefined
          ? undefined
          : scoreValue(text);
    case 'raw':
      return text === undefined ? JSON.stringify(value) : rawValue(text);
    default:
      return text === undefined ? undefined : textValue(text);
  }
}
