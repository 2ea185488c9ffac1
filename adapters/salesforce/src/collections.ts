import type { ScoreRecord } from '@scorebridge/core';
import type { Api, RowResult } from './api.js';
import type { ObjectRows } from './profiles.js';

/** sObject Collections take at most this many records per call. */
const COLLECTION_SIZE = 200;

/** Upserts rows by their external id through sObject Collections, 200 a call, each row's result in order. */
export async function collectionsUpsert(api: Api, rows: ObjectRows): Promise<RowResult[]> {
  const out: RowResult[] = [];
  for (let at = 0; at < rows.rows.length; at += COLLECTION_SIZE) {
    const chunk = rows.rows.slice(at, at + COLLECTION_SIZE).map((r) => ({ ...r.row }));
    const results = (await api.call(`upsert ${rows.object}`, () =>
      api.conn.sobject(rows.object).upsert(chunk as never, rows.externalId, { allOrNone: false }),
    )) as unknown as {
      success: boolean;
      errors: { statusCode?: string; errorCode?: string; message: string; fields?: string[] }[];
    }[];
    for (const r of results) {
      const e = r.errors?.[0];
      out.push(
        r.success
          ? { ok: true }
          : {
              ok: false,
              code: e?.statusCode ?? e?.errorCode,
              message: e?.message,
              fields: e?.fields,
            },
      );
    }
  }
  return out;
}

/** Creates a Contact for each record (last and first name, e-mail, birth date): its id, or none where refused. */
export async function createContacts(
  api: Api,
  records: readonly ScoreRecord[],
): Promise<(string | undefined)[]> {
  const ids: (string | undefined)[] = [];
  for (let at = 0; at < records.length; at += COLLECTION_SIZE) {
    const chunk = records.slice(at, at + COLLECTION_SIZE).map((r) => ({
      LastName: r.fields.lastName ?? 'Unknown',
      FirstName: r.fields.firstName ?? null,
      Email: r.fields.email ?? null,
      Birthdate: r.fields.dateOfBirth ?? null,
    }));
    const results = (await api.call('create Contacts', () =>
      api.conn.sobject('Contact').create(chunk, { allOrNone: false }),
    )) as unknown as { id?: string; success: boolean }[];
    ids.push(...results.map((r) => (r.success ? r.id : undefined)));
  }
  return ids;
}
