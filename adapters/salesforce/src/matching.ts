import type { ScoreRecord } from '@scorebridge/core';
import type { SalesforceOptions } from './options.js';

/** Runs a SOQL query and returns its records (all pages). */
export type Query = (soql: string) => Promise<Record<string, unknown>[]>;

/** Record i's Contact and the rule that found it, or why none was found. */
export interface Match {
  readonly contactId?: string;
  readonly rule?: string;
  /** Without a Contact: what each rule found (`email: none; name and birth date: 2 Contacts`). */
  readonly why?: string;
}

/** Values per query: single-field rules use `IN (…)`, several-field rules OR-ed groups. */
const IN_CHUNK = 200;
const GROUP_CHUNK = 40;

/**
 * Finds each record's Contact by the ordered rules: a rule matches a record when exactly one
 * Contact has every one of its values (text compared as Salesforce does, ignoring case). A rule
 * that finds none, or several, passes the record to the next rule. Queries are batched: a few
 * SOQL calls per rule per batch, never one per record.
 */
export async function matchContacts(
  options: SalesforceOptions,
  records: readonly ScoreRecord[],
  dateFields: ReadonlySet<string>,
  query: Query,
): Promise<Match[]> {
  const result: (Match | undefined)[] = records.map(() => undefined);
  const findings: string[][] = records.map(() => []);
  for (const [n, rule] of options.matching.rules.entries()) {
    const name = rule.name ?? `rule ${n + 1}`;
    const fields = Object.keys(rule.match);
    const pending: { index: number; values: string[] }[] = [];
    for (const [i, r] of records.entries()) {
      if (result[i]) continue;
      const values = fields.map((f) => r.fields[rule.match[f]!]);
      if (values.some((v) => v === null || v === undefined || v === '')) {
        findings[i]!.push(`${name}: no value`);
        continue;
      }
      pending.push({ index: i, values: values.map(String) });
    }
    const found = new Map<string, Set<string>>();
    const literal = (field: string, value: string) =>
      dateFields.has(field) ? value : `'${value.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
    const chunk = fields.length === 1 ? IN_CHUNK : GROUP_CHUNK;
    for (let at = 0; at < pending.length; at += chunk) {
      const part = pending.slice(at, at + chunk);
      const where =
        fields.length === 1
          ? `${fields[0]} IN (${[...new Set(part.map((p) => literal(fields[0]!, p.values[0]!)))].join(', ')})`
          : [
              ...new Set(
                part.map(
                  (p) =>
                    `(${fields.map((f, k) => `${f} = ${literal(f, p.values[k]!)}`).join(' AND ')})`,
                ),
              ),
            ].join(' OR ');
      for (const contact of await query(
        `SELECT Id, ${fields.join(', ')} FROM Contact WHERE ${where}`,
      )) {
        const key = tupleKey(fields.map((f) => String(contact[f] ?? '')));
        const ids = found.get(key) ?? new Set<string>();
        found.set(key, ids.add(String(contact.Id)));
      }
    }
    for (const p of pending) {
      const ids = found.get(tupleKey(p.values));
      if (ids?.size === 1) result[p.index] = { contactId: [...ids][0]!, rule: name };
      else findings[p.index]!.push(`${name}: ${ids ? `${ids.size} Contacts` : 'none'}`);
    }
  }
  return result.map((m, i) => m ?? { why: findings[i]!.join('; ') });
}

const tupleKey = (values: readonly string[]) => values.map((v) => v.toLowerCase()).join('\u0000');
