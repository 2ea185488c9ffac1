import type { ScoreRecord, UpdateClass } from '@scorebridge/core';
import type { SalesforceOptions } from './options.js';

/** A row to upsert: field values, relationship references as `{ Relationship: { ExtId: value } }`. */
export type Row = Record<string, unknown>;

/** One object's rows, upserted by an external id. */
export interface ObjectRows {
  readonly object: string;
  readonly externalId: string;
  /** Rows with the index of the record each belongs to. */
  readonly rows: { readonly record: number; readonly row: Row }[];
}

/** What a profile writes: parents (one per record), then children (linked by the parent's external id). */
export interface Plan {
  readonly parents: ObjectRows;
  readonly children?: ObjectRows;
}

/** A field a profile writes, for check(): on which object, and the picklist value it needs. */
export interface FieldUse {
  readonly object: string;
  readonly field: string;
  readonly picklistValues?: readonly string[];
  readonly externalId?: boolean;
  /** A label the profile can do without: left out where the org makes it read-only (an auto-number Name). */
  readonly optional?: boolean;
  /** What the field holds, for check() to compare with its type: a score that may be a 1–6 band, or a date. */
  readonly value?: 'score' | 'date';
}

const SECTIONS = ['listening', 'reading', 'speaking', 'writing', 'total'] as const;
/** Record field prefixes per scale: both scales are kept when a report carries both. */
const SCALES = { ibt: 'ibt', ibt26: 'ibt26', essentials: 'ess' } as const;

/** Each section's score on each scale the record carries. */
function scores(record: ScoreRecord) {
  const out: { section: (typeof SECTIONS)[number]; scale: string; value: number }[] = [];
  for (const [scale, prefix] of Object.entries(SCALES)) {
    for (const section of SECTIONS) {
      const value = record.fields[`${prefix}${section[0]!.toUpperCase()}${section.slice(1)}`];
      if (typeof value === 'number') out.push({ section, scale, value });
    }
  }
  return out;
}

const today = () => new Date().toISOString().slice(0, 10);

/** The rows a batch becomes under the configured profile; `contacts[i]` is record i's Contact. */
export function plan(
  options: SalesforceOptions,
  records: readonly ScoreRecord[],
  contacts: readonly (string | undefined)[],
  matchedBy: readonly (string | undefined)[],
  updates?: Readonly<Record<string, UpdateClass>>,
): Plan {
  const rule = (i: number, row: Row) =>
    options.matching.ruleField && matchedBy[i]
      ? { ...row, [options.matching.ruleField]: matchedBy[i] }
      : row;
  if (options.profile === 'eda') {
    const e = options.eda;
    return {
      parents: {
        object: 'hed__Test__c',
        externalId: e.testExternalId,
        rows: records.map((r, i) => ({
          record: i,
          row: rule(i, {
            [e.testExternalId]: r.recordKey,
            hed__Contact__c: contacts[i],
            hed__Test_Type__c: e.testType,
            hed__Test_Date__c: r.fields.testDate,
            hed__Date_Received__c: today(),
            hed__Source__c: e.source,
            hed__Verification_Status__c: 'Verified',
          }),
        })),
      },
      children: {
        object: 'hed__Test_Score__c',
        externalId: e.scoreExternalId,
        rows: records.flatMap((r, i) =>
          scores(r).map(({ section, scale, value }) => ({
            record: i,
            row: {
              [e.scoreExternalId]: `${r.recordKey}|${section}|${scale}`,
              hed__Test__r: { [e.testExternalId]: r.recordKey },
              hed__Subject_Area__c: e.subjects[section],
              hed__Score__c: value,
              ...(e.scaleField ? { [e.scaleField]: scale } : {}),
            },
          })),
        ),
      },
    };
  }
  if (options.profile === 'education-cloud') {
    const c = options.educationCloud;
    const common = (r: ScoreRecord, i: number): Row => ({
      ContactId: contacts[i],
      ExaminationDate: r.fields.testDate,
      ...(c.examinationId ? { ExaminationId: c.examinationId } : {}),
    });
    return {
      parents: {
        object: 'PersonExamination',
        externalId: c.externalId,
        rows: records.map((r, i) => {
          const total = scores(r).find((s) => s.section === 'total');
          return {
            record: i,
            row: rule(i, {
              [c.externalId]: r.recordKey,
              ...common(r, i),
              Name: 'TOEFL',
              SubjectName: 'Total',
              // Cleared when a rescored report has no total.
              Score: total?.value ?? null,
              ScoreType: total?.scale ?? null,
              VerificationStatus: 'Verified',
            }),
          };
        }),
      },
      children: {
        object: 'PersonExamination',
        externalId: c.externalId,
        rows: records.flatMap((r, i) =>
          scores(r)
            .filter((s) => s.section !== 'total')
            .map(({ section, scale, value }) => ({
              record: i,
              row: {
                [c.externalId]: `${r.recordKey}|${section}|${scale}`,
                ParentPersonExamination: { [c.externalId]: r.recordKey },
                ...common(r, i),
                Name: `TOEFL ${section}`,
                SubjectName: section[0]!.toUpperCase() + section.slice(1),
                Score: value,
                ScoreType: scale,
                VerificationStatus: 'Verified',
              },
            })),
        ),
      },
    };
  }
  const c = options.custom!;
  return {
    parents: {
      object: c.object,
      externalId: c.externalId,
      rows: records.map((r, i) => {
        const row: Row = { [c.externalId]: r.recordKey };
        for (const [field, source] of Object.entries(c.fields))
          row[field] = mappedValue(r, source, updates);
        if (c.contactField) row[c.contactField] = contacts[i];
        return { record: i, row: rule(i, row) };
      }),
    },
  };
}

function mappedValue(
  r: ScoreRecord,
  source: string | { const: unknown },
  updates: Readonly<Record<string, UpdateClass>> | undefined,
): unknown {
  if (typeof source === 'object') return source.const;
  if (source === 'update') return updates?.[r.contentHash] ?? null;
  if (source === 'recordKey') return r.recordKey;
  if (source === 'contentHash') return r.contentHash;
  if (source === 'scale') return r.scale;
  return r.fields[source] ?? null;
}

/** What a custom mapping's record field holds: 1–6 bands and Essentials scores have fractions. */
function holds(source: string | { const: unknown }): FieldUse['value'] {
  if (typeof source !== 'string') return undefined;
  if (/^(ibt26|ess)[A-Z]/.test(source)) return 'score';
  if (/Date$|^dateOf/.test(source)) return 'date';
  return undefined;
}

/** Every field the profile writes, for check() to verify. */
export function fieldUses(options: SalesforceOptions): FieldUse[] {
  const ruleField = options.matching.ruleField;
  const rule = (object: string): FieldUse[] =>
    ruleField ? [{ object, field: ruleField, optional: true }] : [];
  if (options.profile === 'eda') {
    const e = options.eda;
    const test = 'hed__Test__c';
    const score = 'hed__Test_Score__c';
    return [
      { object: test, field: e.testExternalId, externalId: true },
      { object: test, field: 'hed__Contact__c' },
      { object: test, field: 'hed__Test_Type__c', picklistValues: [e.testType] },
      { object: test, field: 'hed__Test_Date__c', value: 'date' },
      { object: test, field: 'hed__Date_Received__c', value: 'date', optional: true },
      { object: test, field: 'hed__Source__c', picklistValues: [e.source], optional: true },
      {
        object: test,
        field: 'hed__Verification_Status__c',
        picklistValues: ['Verified'],
        optional: true,
      },
      ...rule(test),
      { object: score, field: e.scoreExternalId, externalId: true },
      { object: score, field: 'hed__Test__c' },
      {
        object: score,
        field: 'hed__Subject_Area__c',
        picklistValues: Object.values(e.subjects),
      },
      { object: score, field: 'hed__Score__c', value: 'score' },
      ...(e.scaleField ? [{ object: score, field: e.scaleField, optional: true }] : []),
    ];
  }
  if (options.profile === 'education-cloud') {
    const c = options.educationCloud;
    const pe = 'PersonExamination';
    return [
      { object: pe, field: c.externalId, externalId: true },
      { object: pe, field: 'ContactId' },
      { object: pe, field: 'ExaminationDate', value: 'date' },
      { object: pe, field: 'Name', optional: true },
      { object: pe, field: 'SubjectName' },
      { object: pe, field: 'Score', value: 'score' },
      { object: pe, field: 'ScoreType' },
      { object: pe, field: 'ParentPersonExaminationId' },
      { object: pe, field: 'VerificationStatus', picklistValues: ['Verified'], optional: true },
      ...(c.examinationId ? [{ object: pe, field: 'ExaminationId' }] : []),
      ...rule(pe),
    ];
  }
  const c = options.custom!;
  return [
    { object: c.object, field: c.externalId, externalId: true },
    ...Object.entries(c.fields).map(([field, source]) => ({
      object: c.object,
      field,
      value: holds(source),
    })),
    ...(c.contactField ? [{ object: c.object, field: c.contactField }] : []),
    ...rule(c.object),
  ];
}
