import {
  type DeliveryBatch,
  type Destination,
  type DestinationContext,
  DestinationError,
  type ErrorKind,
  type RecordOutcome,
  ScoreBridgeError,
  type ScoreRecord,
} from '@scorebridge/core';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import { Connection } from 'jsforce';
import { requestToken } from './auth.js';
import { type Describe, fieldFindings, fitRows } from './fields.js';
import { type Match, matchContacts } from './matching.js';
import type { SalesforceOptions } from './options.js';
import { fieldUses, type ObjectRows, plan, type Row } from './profiles.js';

/** sObject Collections take at most this many records per call. */
const COLLECTION_SIZE = 200;
/** Batches whose work so far is kept for their next attempt (matches, finished writes, Bulk jobs). */
const ATTEMPTS_KEPT = 64;

/** One row's result: Salesforce's id, or its error. */
interface RowResult {
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
  readonly fields?: readonly string[];
}

/**
 * What an attempt at a batch has done so far, for the next attempt at the same batch in this
 * process: its Contact matches, the parts already written, and Bulk jobs still running.
 */
interface Attempt {
  matches?: Match[];
  readonly done: Map<string, RowResult[]>;
  readonly jobs: Map<string, string>;
}

/** The org's API usage, from the `Sforce-Limit-Info` header of the last response. */
export interface ApiUsage {
  readonly used: number;
  readonly limit: number;
}

/** A Salesforce destination, with its API usage (for metrics). */
export interface SalesforceDestination extends Destination {
  apiUsage(): ApiUsage | undefined;
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
  const log = context.logger;
  const where = `[salesforce] ${context.destinationId}`;
  const conn = new Connection({
    oauth2: { loginUrl: options.loginUrl, ...oauthClient(options) },
    version: options.apiVersion,
    // jsforce calls this when a session expires, once however many requests are waiting.
    refreshFn: (c, callback) => {
      requestToken(c, options, where).then(
        (token) => {
          c.instanceUrl = token.instance_url;
          callback(null, token.access_token, token as never);
        },
        (error: Error) => callback(error),
      );
    },
  });
  let login: Promise<void> | undefined;
  const ready = () => {
    login ??= requestToken(conn, options, where).then(
      (token) => {
        conn.accessToken = token.access_token;
        conn.instanceUrl = token.instance_url;
      },
      (error) => {
        login = undefined;
        throw error;
      },
    );
    return login;
  };
  const describes = new Map<string, Promise<Describe>>();
  const attempts = new Map<string, Attempt>();
  const optional = new Set(
    fieldUses(options)
      .filter((u) => u.optional)
      .map((u) => `${u.object}.${u.field}`),
  );

  // jsforce reads Sforce-Limit-Info on REST calls only; its Bulk API 2.0 client sends its own
  // requests, which count against the same allowance. Those are added to the last reading
  // until the next REST answer brings a new one.
  let reading: unknown;
  let bulkSince = 0;
  const usage = (): ApiUsage | undefined => {
    const info = conn.limitInfo as { apiUsage?: ApiUsage };
    if (info !== reading) {
      reading = info;
      bulkSince = 0;
    }
    const u = info.apiUsage;
    return u && { used: u.used + bulkSince, limit: u.limit };
  };

  /** One API call: logged in, within the allowance ScoreBridge may use, within a deadline, errors mapped. */
  async function call<T>(what: string, fn: () => Promise<T>, bulk = false): Promise<T> {
    await ready();
    const u = usage();
    if (u && options.maxApiShare < 1 && u.used >= u.limit * options.maxApiShare) {
      throw limitReached(
        `ScoreBridge's share of the daily API allowance is used (${u.used} of ${u.limit} requests; maxApiShare ${options.maxApiShare})`,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new DestinationError(
                  'timeout',
                  `${where}: ${what} took more than ${options.timeoutSeconds} s`,
                ),
              ),
            options.timeoutSeconds * 1000,
          );
        }),
      ]);
    } catch (error) {
      throw mapError(error, what);
    } finally {
      clearTimeout(timer);
      if (bulk) {
        usage();
        bulkSince++;
      }
    }
  }

  function limitReached(message: string): DestinationError {
    const u = usage();
    // Alert-worthy: the office should know its org is out of API calls.
    log.error(
      `${where}: API allowance exhausted; deliveries pause for ${options.limitPauseSeconds} s`,
      {
        event: 'salesforce-api-limit',
        used: u?.used,
        limit: u?.limit,
      },
    );
    return new DestinationError('rate-limit', `${where}: ${message}`, {
      destination: context.destinationId,
      retryAfterSeconds: options.limitPauseSeconds,
      remedy:
        'deliveries resume by themselves; to use fewer calls raise bulkThreshold less, batch more, or lower maxApiShare for other integrations',
    });
  }

  function mapError(error: unknown, what: string): Error {
    if (error instanceof ScoreBridgeError) return error;
    const e = error as { errorCode?: string; name?: string; message?: string; code?: string };
    const code = e.errorCode ?? e.name ?? e.code ?? 'ERROR';
    if (code === 'REQUEST_LIMIT_EXCEEDED')
      return limitReached(`the org's daily API allowance is spent (REQUEST_LIMIT_EXCEEDED)`);
    const kind: ErrorKind =
      /INVALID_SESSION_ID|INVALID_AUTH|invalid_grant|invalid_client|Unable to refresh session/i.test(
        `${code} ${e.message}`,
      )
        ? 'auth'
        : /INSUFFICIENT_ACCESS|API_DISABLED/.test(code)
          ? 'forbidden'
          : /INVALID_TYPE|INVALID_FIELD|NOT_FOUND|MALFORMED_QUERY|INVALID_OPERATION/.test(code)
            ? 'config'
            : /ERROR_HTTP_5|ECONN|ETIMEDOUT|EPIPE|socket|fetch failed|SERVER_UNAVAILABLE/i.test(
                  `${code} ${e.message}`,
                )
              ? 'unavailable'
              : 'internal';
    return new DestinationError(kind, `${where}: ${what}: ${code}: ${e.message ?? ''}`.trim(), {
      cause: error,
      destination: context.destinationId,
    });
  }

  async function describe(object: string): Promise<Describe> {
    let d = describes.get(object);
    if (!d) {
      d = call(`describe ${object}`, () => conn.sobject(object).describe() as Promise<Describe>);
      describes.set(object, d);
      d.catch(() => describes.delete(object));
    }
    return d;
  }

  async function query(soql: string): Promise<Record<string, unknown>[]> {
    type Page = { records: Record<string, unknown>[]; done: boolean; nextRecordsUrl?: string };
    let page = await call(
      'query Contacts',
      async () => (await conn.query(soql)) as unknown as Page,
    );
    const records = [...page.records];
    while (!page.done && page.nextRecordsUrl) {
      const next = page.nextRecordsUrl;
      page = await call(
        'query Contacts',
        async () => (await conn.queryMore(next)) as unknown as Page,
      );
      records.push(...page.records);
    }
    return records;
  }

  /** Upserts one part of a batch, once per attempt chain: a part already written is not sent again. */
  async function upsert(rows: ObjectRows, part: string, attempt: Attempt): Promise<RowResult[]> {
    if (rows.rows.length === 0) return [];
    const key = `${part}:${rows.object}:${rows.rows.length}`;
    const done = attempt.done.get(key);
    if (done) return done;
    const results =
      rows.rows.length > options.bulkThreshold
        ? await bulkUpsert(rows, key, attempt)
        : await collectionsUpsert(rows);
    attempt.done.set(key, results);
    return results;
  }

  async function collectionsUpsert(rows: ObjectRows): Promise<RowResult[]> {
    const out: RowResult[] = [];
    for (let at = 0; at < rows.rows.length; at += COLLECTION_SIZE) {
      const chunk = rows.rows.slice(at, at + COLLECTION_SIZE).map((r) => ({ ...r.row }));
      const results = (await call(`upsert ${rows.object}`, () =>
        conn.sobject(rows.object).upsert(chunk as never, rows.externalId, { allOrNone: false }),
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

  /**
   * Bulk API 2.0: create, upload, close, poll with backoff, then read the failed and unprocessed
   * rows when the job's counts say there are any. A job still running when polling gives up is
   * remembered with the attempt: the next attempt at the same batch re-attaches to it instead of
   * creating another.
   */
  async function bulkUpsert(rows: ObjectRows, key: string, attempt: Attempt): Promise<RowResult[]> {
    const bulkJobs = attempt.jobs;
    const known = bulkJobs.get(key);
    const job = known
      ? conn.bulk2.job('ingest', { id: known })
      : conn.bulk2.createJob({
          object: rows.object,
          operation: 'upsert',
          externalIdFieldName: rows.externalId,
          lineEnding: 'LF',
        });
    if (!known) {
      await call(`create a Bulk job for ${rows.object}`, () => job.open(), true);
      bulkJobs.set(key, job.id!);
      await call(
        `upload to Bulk job ${job.id}`,
        () => job.uploadData(csvText(rows.rows.map((r) => r.row))),
        true,
      );
      await call(`close Bulk job ${job.id}`, () => job.close(), true);
    }
    const deadline = Date.now() + options.bulkPollSeconds * 1000;
    let info: {
      state: string;
      errorMessage?: string;
      numberRecordsProcessed?: number;
      numberRecordsFailed?: number;
    };
    for (let wait = 1000; ; wait = Math.min(wait * 2, 15_000)) {
      info = (await call(`poll Bulk job ${job.id}`, () => job.check(), true)) as typeof info;
      if (info.state === 'JobComplete') break;
      if (info.state === 'Failed' || info.state === 'Aborted') {
        bulkJobs.delete(key);
        throw new DestinationError(
          'unavailable',
          `${where}: Bulk job ${job.id} ${info.state.toLowerCase()}: ${info.errorMessage ?? 'no reason given'}`,
          { destination: context.destinationId },
        );
      }
      if (Date.now() + wait > deadline) {
        throw new DestinationError(
          'timeout',
          `${where}: Bulk job ${job.id} is still ${info.state} after ${options.bulkPollSeconds} s; the next attempt waits for the same job`,
          { destination: context.destinationId },
        );
      }
      await new Promise((r) => setTimeout(r, wait));
    }
    // Read raw and parsed here: jsforce's own parser splits on every delimiter Bulk API knows
    // (| ^ ; ` and tab too), which breaks record keys and any value holding one of them.
    const results = async (what: string, read: () => Promise<unknown>) =>
      parseCsv(String(await call(what, read, true)), {
        columns: true,
        skip_empty_lines: true,
      }) as Record<string, string>[];
    // Every row is successful, failed or unprocessed: the job's counts say which lists to read,
    // so a clean job costs no result calls at all.
    const processed = info.numberRecordsProcessed ?? 0;
    const failed =
      (info.numberRecordsFailed ?? 1) > 0
        ? await results('read Bulk failures', () => job.getFailedResults(true))
        : [];
    const unprocessed =
      processed < rows.rows.length
        ? await results('read unprocessed Bulk records', () => job.getUnprocessedRecords(true))
        : [];
    const sent = new Set(rows.rows.map((r) => String(r.row[rows.externalId])));
    const byKey = new Map<string, RowResult>();
    let listed = 0;
    for (const r of failed) {
      const [code, ...rest] = String(r.sf__Error ?? 'UNKNOWN_ERROR').split(':');
      const at = String(r[rows.externalId]);
      if (!sent.has(at)) continue;
      listed++;
      byKey.set(at, { ok: false, code, message: rest.join(':').trim() });
    }
    for (const r of unprocessed)
      byKey.set(String(r[rows.externalId]), {
        ok: false,
        code: 'UNPROCESSED',
        message: 'Salesforce did not process this row',
      });
    // The job's count is the truth: a failure it counts that the list does not name is not
    // taken for a success. Then only the rows Salesforce lists as successful are.
    const counted = info.numberRecordsFailed ?? 0;
    if (listed < counted) {
      const ok = new Set(
        (await results('read Bulk successes', () => job.getSuccessfulResults(true))).map((r) =>
          String(r[rows.externalId]),
        ),
      );
      for (const at of sent)
        if (!ok.has(at) && !byKey.has(at))
          byKey.set(at, {
            ok: false,
            code: 'UNCONFIRMED',
            message: `Bulk job ${job.id} counted ${counted} failed rows but listed ${listed}; this row is not among its successes either: replay it`,
          });
    }
    bulkJobs.delete(key);
    return rows.rows.map((r) => byKey.get(String(r.row[rows.externalId])) ?? { ok: true });
  }

  async function createContacts(records: readonly ScoreRecord[]): Promise<(string | undefined)[]> {
    const ids: (string | undefined)[] = [];
    for (let at = 0; at < records.length; at += COLLECTION_SIZE) {
      const chunk = records.slice(at, at + COLLECTION_SIZE).map((r) => ({
        LastName: r.fields.lastName ?? 'Unknown',
        FirstName: r.fields.firstName ?? null,
        Email: r.fields.email ?? null,
        Birthdate: r.fields.dateOfBirth ?? null,
      }));
      const results = (await call('create Contacts', () =>
        conn.sobject('Contact').create(chunk, { allOrNone: false }),
      )) as unknown as { id?: string; success: boolean }[];
      ids.push(...results.map((r) => (r.success ? r.id : undefined)));
    }
    return ids;
  }

  /** Contacts for a batch's records by the rules, created first where the pipeline says so. */
  async function matchAll(records: readonly ScoreRecord[]): Promise<Match[]> {
    const contact = await describe('Contact');
    const dateFields = new Set(contact.fields.filter((f) => f.type === 'date').map((f) => f.name));
    const matches = await matchContacts(options, records, dateFields, query);
    if (options.matching.onUnmatched === 'create') {
      const missing = matches.flatMap((m, i) => (m.contactId ? [] : [i]));
      const created = await createContacts(missing.map((i) => records[i]!));
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
    const names = new Set(
      [...optional].flatMap((o) =>
        o.startsWith(`${rows.object}.`) ? [o.slice(rows.object.length + 1)] : [],
      ),
    );
    const fitted = fitRows(rows, await describe(rows.object), names);
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
    apiUsage: usage,

    async check() {
      const problems: string[] = [];
      const notes: string[] = [];
      const uses = fieldUses(options);
      const objects = [...new Set([...uses.map((u) => u.object), 'Contact'])];
      const described = new Map<string, Describe>();
      for (const object of objects) {
        try {
          described.set(object, await describe(object));
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
      for (const rule of options.matching.rules)
        for (const f of Object.keys(rule.match))
          if (contact && !contact.fields.some((x) => x.name === f))
            problems.push(`Contact.${f} (in matching rule ${rule.name ?? '?'}) does not exist`);
      if (problems.length > 0) {
        throw new DestinationError(
          'config',
          `${where}: the org is not ready:\n- ${problems.join('\n- ')}`,
          {
            remedy:
              "make the changes listed (docs/salesforce.md has each profile's set-up), then run scorebridge check again",
          },
        );
      }
      return { notes };
    },

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
        options,
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
      const u = usage();
      if (u)
        log.debug(`${where}: API usage ${u.used}/${u.limit}`, { used: u.used, limit: u.limit });
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

/** The connected app's client id and secret, for jsforce's OAuth2 (the secret only where the flow has one). */
function oauthClient(options: SalesforceOptions): { clientId?: string; clientSecret?: string } {
  const a = options.auth;
  if (a.type === 'jwt') return { clientId: a.clientId };
  if (a.type === 'client-credentials')
    return { clientId: a.clientId, clientSecret: a.clientSecret.reveal() };
  if (a.type === 'refresh-token')
    return { clientId: a.clientId, clientSecret: a.clientSecret?.reveal() };
  return {};
}

/** A Salesforce message with the record's own values taken out (messages may quote them). */
function scrub(message: string, record: ScoreRecord): string {
  let out = message;
  for (const v of Object.values(record.fields))
    if (typeof v === 'string' && v.trim().length >= 3) out = out.split(v.trim()).join('…');
  return out;
}

/** Rows as Bulk API CSV (comma-separated, LF): relationship references as `Rel.ExtId` columns. */
function csvText(rows: readonly Row[]): string {
  const flat = rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      if (v && typeof v === 'object')
        for (const [ek, ev] of Object.entries(v as Record<string, unknown>)) out[`${k}.${ek}`] = ev;
      else out[k] = v;
    }
    return out;
  });
  const columns = [...new Set(flat.flatMap((r) => Object.keys(r)))];
  // Bulk API 2.0 ignores a blank cell; #N/A clears the field ("Prepare CSV Files").
  return stringifyCsv(
    flat.map((r) => columns.map((c) => (!(c in r) ? '' : r[c] === null ? '#N/A' : r[c]))),
    { header: true, columns, record_delimiter: 'unix' },
  );
}
