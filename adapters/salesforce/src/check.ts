import { type CheckReport, DestinationError } from '@scorebridge/core';
import type { Api } from './api.js';
import { type Describe, fieldFindings } from './fields.js';
import { fieldUses } from './profiles.js';

/**
 * What the org still lacks for the profile, all of it at once: objects, fields with the type and
 * flags to create, edit access, external ids, picklist values, fields whose type cannot hold
 * what is written. Passes with notes on what works differently from what one might assume.
 */
export async function checkOrg(api: Api): Promise<CheckReport> {
  const problems: string[] = [];
  const notes: string[] = [];
  const uses = fieldUses(api.options);
  const objects = [...new Set([...uses.map((u) => u.object), 'Contact'])];
  const described = new Map<string, Describe>();
  for (const object of objects) {
    try {
      described.set(object, await api.describe(object));
    } catch (error) {
      if (error instanceof DestinationError && error.kind !== 'config') throw error;
      problems.push(
        `object ${object} does not exist or this user cannot see it${object.startsWith('hed__') ? ' (is EDA installed?)' : ''}`,
      );
    }
  }
  for (const use of uses) {
    const d = described.get(use.object);
    if (!d) continue;
    const field = d.fields.find((f) => f.name === use.field);
    if (!field) {
      problems.push(
        use.externalId
          ? `${use.object}.${use.field} is missing: create a Text(255) field named ${use.field.replace(/__c$/, '')} with "External ID" and "Unique" ticked`
          : `${use.object}.${use.field} is missing: create it, or change the mapping`,
      );
      continue;
    }
    const found = fieldFindings(use, field);
    problems.push(...found.problems);
    notes.push(...found.notes);
    if (use.externalId && !(field.externalId && field.unique))
      problems.push(`${use.object}.${use.field} must be marked "External ID" and "Unique"`);
    for (const value of use.picklistValues ?? []) {
      if (
        field.picklistValues?.length &&
        !field.picklistValues.some((p) => p.active && p.value === value)
      )
        problems.push(
          `${use.object}.${use.field} has no active picklist value "${value}": add it (Setup → Object Manager → ${use.object} → ${use.field})`,
        );
    }
  }
  const contact = described.get('Contact');
  for (const rule of api.options.matching.rules)
    for (const f of Object.keys(rule.match))
      if (contact && !contact.fields.some((x) => x.name === f))
        problems.push(`Contact.${f} (in matching rule ${rule.name ?? '?'}) does not exist`);
  if (problems.length > 0) {
    throw new DestinationError(
      'config',
      `${api.where}: the org is not ready:\n- ${problems.join('\n- ')}`,
      {
        remedy:
          "make the changes listed (docs/salesforce.md has each profile's set-up), then run scorebridge check again",
      },
    );
  }
  return { notes };
}
