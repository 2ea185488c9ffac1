import type {
  DeliveryBatch,
  Destination,
  DestinationContext,
  RecordOutcome,
  ScoreRecord,
} from '@scorebridge/core';
import { type ApiUsage, createApi, type RowResult } from './api.js';
import { bulkUpsert } from './bulk.js';
import { checkOrg } from './check.js';
import { collectionsUpsert, createContacts } from './collections.js';
import { fitRows } from './fields.js';
import { type Match, matchContacts } from './matching.js';
import type { SalesforceOptions } from './options.js';
import { fieldUses, type ObjectRows, plan } from './profiles.js';

export type { ApiUsage } from './api.js';

/** Batches whose work so far is kept for their next attempt (matches, finished writes, Bulk jobs). */
const ATTEMPTS_KEPT = 64;

/**
 * What an attempt at a batch has done so far, for the next attempt at the same batch in this
 * process: its Contact matches, the parts already written, and Bulk jobs still running.
 */
interface Attempt {
  matches?: Match[];
  readonly done: Map<string, RowResult[]>;
  readonly jobs: Map<string, string>;
}

/** A Salesforce destination, with the org's daily API requests as its usage (for metrics). */
export interface SalesforceDestination extends Destination {
  usage(): (ApiUsage & { readonly quota: 'api-requests-daily' }) | undefined;
}

/**
 * Salesforce through jsforce: OAuth 2.0 (JWT bearer, client credentials or a refresh token), one
 * token refresh per expiry however many deliveries run (jsforce's session refresh delegate),
 * Contacts matched by ordered rules in batched SOQL, upserts by external id — sObject Collections
 * (200 a call) for small batches, Bulk API 2.0 above `bulkThreshold` — and the API allowance
 * watched on every response.
 */
export function createSalesforceDestination(
  options: SalesforceOptions,
  context: DestinationContext,
): SalesforceDestination {
  const api = createApi(options, context);
  const attempts = new Map<string, Attempt>();
  /** By object, the fields the profile can do without (left out where the org makes them read-only). */
  const optional = new Map<string, Set<string>>();
  for (const u of fieldUses(options))
    if (u.optional) optional.set(u.object, (optional.get(u.object) ?? new Set()).add(u.field));

  /** Upserts one part of a batch, once per attempt chain: a part already written is not sent again. */
  async function upsert(rows: ObjectRows, part: string, attempt: Attempt): Promise<RowResult[]> {
    if (rows.rows.length === 0) return [];
    const key = `${part}:${rows.object}:${rows.rows.length}`;
    const done = attempt.done.get(key);
    if (done) return done;
    const results =
      rows.rows.length > api.options.bulkThreshold
        ? await bulkUpsert(api, rows, key, attempt.jobs)
        : await collectionsUpsert(api, rows);
    attempt.done.set(key, results);
    return results;
  }

  /** Contacts for a batch's records by the rules, created first where the pipeline says so. */
  async function matchAll(records: readonly ScoreRecord[]): Promise<Match[]> {
    const contact = await api.describe('Contact');
    const dateFields = new Set(contact.fields.filter((f) => f.type === 'date').map((f) => f.name));
    const matches = await matchContacts(api.options, records, dateFields, api.query);
    if (api.options.matching.onUnmatched === 'create') {
      const missing = matches.flatMap((m, i) => (m.contactId ? [] : [i]));
      const created = await createContacts(
        api,
        missing.map((i) => records[i]!),
      );
      missing.forEach((i, k) => {
        if (created[k]) matches[i] = { contactId: created[k], rule: 'created' };
      });
    }
    return matches;
  }

  /** Rows fit for the org's describe; a row that is not refuses its record (FIELD_TYPE_MISMATCH). */
  async function fit(
    rows: ObjectRows,
    refuse: (k: number, r: RowResult, object: string) => void,
  ): Promise<ObjectRows> {
    if (rows.rows.length === 0) return rows;
    const fitted = fitRows(
      rows,
      await api.describe(rows.object),
      optional.get(rows.object) ?? new Set(),
    );
    const kept: ObjectRows['rows'][number][] = [];
    fitted.forEach((f, n) => {
      const { record } = rows.rows[n]!;
      if ('why' in f)
        refuse(
          record,
          { ok: false, code: 'FIELD_TYPE_MISMATCH', message: f.why, fields: [f.field] },
          rows.object,
        );
      else kept.push({ record, row: f.row });
    });
    return { ...rows, rows: kept };
  }

  const attemptKey = (batch: DeliveryBatch) => `${batch.id}:${batch.records.length}`;

  /** The batch's attempt so far in this process, or a new one (the oldest kept is let go). */
  function attemptOf(batch: DeliveryBatch): Attempt {
    const key = attemptKey(batch);
    let attempt = attempts.get(key);
    if (!attempt) {
      attempt = { done: new Map(), jobs: new Map() };
      attempts.set(key, attempt);
      if (attempts.size > ATTEMPTS_KEPT) attempts.delete(attempts.keys().next().value!);
    }
    return attempt;
  }

  return {
    usage() {
      const u = api.usage();
      return u && { quota: 'api-requests-daily', ...u };
    },

    check: () => checkOrg(api),
    async deliver(batch: DeliveryBatch): Promise<RecordOutcome[]> {
      const records = batch.records;
      const attempt = attemptOf(batch);
      const matches = (attempt.matches ??= await matchAll(records));
      const outcomes: (RecordOutcome | undefined)[] = records.map(() => undefined);
      const usable: number[] = [];
      matches.forEach((m, i) => {
        if (m.contactId) usable.push(i);
        else
          outcomes[i] = {
            recordKey: records[i]!.recordKey,
            contentHash: records[i]!.contentHash,
            status: 'rejected',
            kind: 'unmatched',
            code: 'UNMATCHED',
            reason: `no single Contact matched (${m.why}); held until the Contact exists, then replay`,
          };
      });
      const chosen = usable.map((i) => records[i]!);
      const p = plan(
        api.options,
        chosen,
        usable.map((i) => matches[i]!.contactId),
        usable.map((i) => matches[i]!.rule),
        batch.updates,
      );
      const refuse = (k: number, r: RowResult, object: string) => {
        const i = usable[k]!;
        outcomes[i] ??= {
          recordKey: records[i]!.recordKey,
          contentHash: records[i]!.contentHash,
          status: 'rejected',
          kind: 'rejected',
          code: r.code ?? 'UNKNOWN_ERROR',
          reason: `${object}: ${r.code ?? 'UNKNOWN_ERROR'}${r.fields?.length ? ` (${r.fields.join(', ')})` : ''}: ${scrub(r.message ?? '', records[i]!)}`,
        };
      };
      // Every value made fit for the org's fields first: a record with one that does not fit
      // is refused whole, before anything of it is written.
      const parents = await fit(p.parents, refuse);
      const children = p.children && (await fit(p.children, refuse));
      const open = (rows: ObjectRows): ObjectRows => ({
        ...rows,
        rows: rows.rows.filter((c) => !outcomes[usable[c.record]!]),
      });
      const toParents = open(parents);
      (await upsert(toParents, 'parents', attempt)).forEach((r, n) => {
        if (!r.ok) refuse(toParents.rows[n]!.record, r, toParents.object);
      });
      if (children) {
        const toChildren = open(children);
        (await upsert(toChildren, 'children', attempt)).forEach((r, n) => {
          if (!r.ok) refuse(toChildren.rows[n]!.record, r, toChildren.object);
        });
      }
      attempts.delete(attemptKey(batch));
      const u = api.usage();
      if (u)
        context.logger.debug(`${api.where}: API usage ${u.used}/${u.limit}`, {
          used: u.used,
          limit: u.limit,
        });
      return records.map(
        (r, i) =>
          outcomes[i] ?? {
            recordKey: r.recordKey,
            contentHash: r.contentHash,
            status: 'delivered',
          },
      );
    },

    async close() {},
  };
}

/** A Salesforce message with the record's own values taken out (messages may quote them). */
function scrub(message: string, record: ScoreRecord): string {
  let out = message;
  for (const v of Object.values(record.fields))
    if (typeof v === 'string' && v.trim().length >= 3) out = out.split(v.trim()).join('…');
  return out;
}
