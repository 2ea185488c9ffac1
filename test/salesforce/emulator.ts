import { createPublicKey, randomBytes, verify } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as toCsv } from 'csv-stringify/sync';

/**
 * A Salesforce API emulator for tests, driven by unmodified jsforce: the OAuth 2.0 token endpoint
 * (JWT bearer with the signature checked, client credentials, refresh token), sObject describe,
 * the SOQL the matcher sends, sObject Collections create and upsert (200 records a call,
 * external-id semantics, field, picklist, reference and validation-rule checks, Salesforce's
 * error shapes), Bulk API 2.0 ingest (create, upload, close, status, results, with internal
 * batch retries), `Sforce-Limit-Info` with a daily counter, `REQUEST_LIMIT_EXCEEDED`, and
 * session expiry (`INVALID_SESSION_ID`).
 */

export interface FieldMeta {
  name: string;
  type:
    | 'id'
    | 'string'
    | 'textarea'
    | 'email'
    | 'date'
    | 'datetime'
    | 'int'
    | 'double'
    | 'boolean'
    | 'picklist'
    | 'reference';
  createable?: boolean;
  updateable?: boolean;
  /** Text fields: the most characters a value may have. */
  length?: number;
  /** Number fields: digits in all, and after the point (describe's `precision` and `scale`). */
  precision?: number;
  scale?: number;
  /** An auto-number field: Salesforce fills it; describe reports it not createable or updateable. */
  autoNumber?: boolean;
  externalId?: boolean;
  unique?: boolean;
  picklistValues?: { value: string; active: boolean }[];
  restrictedPicklist?: boolean;
  referenceTo?: string[];
  relationshipName?: string;
}

export interface ObjectMeta {
  name: string;
  fields: FieldMeta[];
}

export interface EmulatorOptions {
  clientId?: string;
  clientSecret?: string;
  username?: string;
  /** The connected app's certificate public key (PEM), for JWT bearer. */
  publicKey?: string;
  /**
   * The JWT audiences the org accepts: its login server (https://login.salesforce.com, or
   * https://test.salesforce.com for a sandbox) and any Experience Cloud site URLs, never the
   * emulator's own address. @default ['https://login.salesforce.com']
   */
  audiences?: string[];
  refreshToken?: string;
  /** The daily API allowance. @default 100000 */
  dailyLimit?: number;
  /** Validation rules: a message refuses the row (FIELD_CUSTOM_VALIDATION_EXCEPTION). */
  validate?: (object: string, row: Record<string, unknown>) => string | undefined;
  /** Bulk jobs stay InProgress for this many status checks. @default 1 */
  bulkPollsBeforeDone?: number;
  /** Internal Bulk batches whose first attempt fails (UNABLE_TO_LOCK_ROW) and is retried. @default 1 */
  bulkInternalRetries?: number;
  /** Objects (describe metadata); the EDA, Education Cloud and custom defaults otherwise. */
  objects?: ObjectMeta[];
  /**
   * A fault to inject: the failed-results list of a Bulk job leaves out this many of its rows,
   * although the job's numberRecordsFailed counts them (a partial result list). @default 0
   */
  bulkFailedResultsMissing?: number;
}

type Rec = Record<string, unknown> & { Id: string };

interface BulkJob {
  id: string;
  object: string;
  externalIdFieldName: string;
  state: 'Open' | 'UploadComplete' | 'InProgress' | 'JobComplete' | 'Failed' | 'Aborted';
  csv: string[];
  polls: number;
  retries: number;
  processed: number;
  failed: number;
  results?: {
    ok: Record<string, string>[];
    failed: Record<string, string>[];
    unprocessed: Record<string, string>[];
  };
  columns: string[];
}

const f = (name: string, type: FieldMeta['type'], extra: Partial<FieldMeta> = {}): FieldMeta => ({
  name,
  type,
  createable: type !== 'id',
  updateable: type !== 'id',
  externalId: false,
  unique: false,
  ...(type === 'string' || type === 'picklist' ? { length: 255 } : {}),
  ...(type === 'email' ? { length: 80 } : {}),
  ...(type === 'double' ? { precision: 18, scale: 2 } : {}),
  ...extra,
});
const ext = (name = 'ScoreBridge_Key__c') => f(name, 'string', { externalId: true, unique: true });
/** An auto-number Name, as Education Cloud's PersonExamination has: read-only to the API. */
const autoNumber = (name: string) =>
  f(name, 'string', { autoNumber: true, createable: false, updateable: false, length: 80 });
const ref = (name: string, to: string, relationshipName: string) =>
  f(name, 'reference', { referenceTo: [to], relationshipName });
const pick = (name: string, values: string[]) =>
  f(name, 'picklist', {
    picklistValues: values.map((value) => ({ value, active: true })),
    restrictedPicklist: true,
  });

/** EDA (with the fields a site adds), Education Cloud and a custom object, as a prepared org has them. */
export function defaultObjects(): ObjectMeta[] {
  return [
    {
      name: 'Contact',
      fields: [
        f('Id', 'id'),
        f('LastName', 'string'),
        f('FirstName', 'string'),
        f('Email', 'email'),
        f('Birthdate', 'date'),
        f('TOEFL_Appointment_Number__c', 'string'),
      ],
    },
    {
      name: 'hed__Test__c',
      fields: [
        f('Id', 'id'),
        ext(),
        ref('hed__Contact__c', 'Contact', 'hed__Contact__r'),
        pick('hed__Test_Type__c', ['ACT', 'GRE', 'SAT', 'TOEFL', 'IELTS']),
        f('hed__Test_Date__c', 'date'),
        f('hed__Date_Received__c', 'date'),
        pick('hed__Source__c', ['Official', 'Self Reported']),
        pick('hed__Verification_Status__c', ['Verified', 'Pending', 'Unverified', 'Revoked']),
        f('ScoreBridge_Match__c', 'string'),
      ],
    },
    {
      name: 'hed__Test_Score__c',
      fields: [
        f('Id', 'id'),
        ext(),
        ref('hed__Test__c', 'hed__Test__c', 'hed__Test__r'),
        pick('hed__Subject_Area__c', [
          'Language',
          'Mathematics',
          'Reading',
          'Science',
          'Writing',
          'Overall',
          'Listening',
          'Speaking',
        ]),
        // EDA: Score__c Number(18,5) (../shared/reference/destinations.md).
        f('hed__Score__c', 'double', { precision: 18, scale: 5 }),
        f('hed__Percentile__c', 'double'),
        f('ScoreBridge_Scale__c', 'string'),
      ],
    },
    {
      name: 'PersonExamination',
      fields: [
        f('Id', 'id'),
        ext(),
        ref('ContactId', 'Contact', 'Contact'),
        ref('ParentPersonExaminationId', 'PersonExamination', 'ParentPersonExamination'),
        ref('ExaminationId', 'Examination', 'Examination'),
        // Education Cloud's PersonExamination: ExaminationDate is a Date/Time, Name an
        // auto-number (the org; Education Cloud Developer Guide, PersonExamination).
        f('ExaminationDate', 'datetime'),
        autoNumber('Name'),
        f('SubjectName', 'string'),
        f('Score', 'double'),
        f('ScoreType', 'string'),
        pick('VerificationStatus', ['Verified', 'Unverified']),
      ],
    },
    {
      name: 'TOEFL_Score__c',
      fields: [
        f('Id', 'id'),
        ext(),
        ref('Contact__c', 'Contact', 'Contact__r'),
        f('Total__c', 'double'),
        f('Test_Date__c', 'date'),
        f('Source__c', 'string'),
        f('Content_Hash__c', 'string'),
        f('Update__c', 'string'),
      ],
    },
  ];
}

export interface SalesforceEmulator {
  readonly url: string;
  readonly options: EmulatorOptions;
  /** Records by object, by Id. */
  readonly data: Map<string, Map<string, Rec>>;
  /** Requests by kind: token, describe, query, collections, bulk. */
  readonly calls: Record<string, number>;
  /** The daily counter behind Sforce-Limit-Info. */
  usage: { used: number; limit: number };
  readonly bulkJobs: Map<string, BulkJob>;
  /** Every access token stops working (sessions expire). */
  expireSessions(): void;
  /** Adds a record directly (a Contact the office created, say); returns its Id. */
  insert(object: string, values: Record<string, unknown>): string;
  records(object: string): Rec[];
  apiCalls(): number;
  close(): Promise<void>;
}

const VERSION_PATH = /^\/services\/data\/v\d+\.\d+/;

export async function startSalesforceEmulator(
  options: EmulatorOptions = {},
): Promise<SalesforceEmulator> {
  const objects = new Map((options.objects ?? defaultObjects()).map((o) => [o.name, o]));
  const data = new Map<string, Map<string, Rec>>();
  const tokens = new Set<string>();
  const calls: Record<string, number> = {};
  const bulkJobs = new Map<string, BulkJob>();
  let counter = 0;
  const newId = (object: string) =>
    `${(object.slice(0, 2) + 'X').toUpperCase().slice(0, 3)}${String(++counter).padStart(15, '0')}`;
  const table = (object: string) => {
    let t = data.get(object);
    if (!t) data.set(object, (t = new Map()));
    return t;
  };
  /** External id → record, per object and field (Salesforce indexes external ids). */
  const indexes = new Map<string, Map<unknown, Rec>>();
  const index = (object: string, field: string) => {
    const key = `${object}.${field}`;
    let i = indexes.get(key);
    if (!i) {
      indexes.set(key, (i = new Map()));
      for (const r of table(object).values()) if (r[field] != null) i.set(r[field], r);
    }
    return i;
  };
  const remember = (object: string, rec: Rec) => {
    for (const field of objects.get(object)?.fields ?? [])
      if (field.externalId && rec[field.name] != null)
        index(object, field.name).set(rec[field.name], rec);
  };
  const emulator: SalesforceEmulator = {
    url: '',
    options,
    data,
    calls,
    usage: { used: 0, limit: options.dailyLimit ?? 100_000 },
    bulkJobs,
    expireSessions: () => tokens.clear(),
    insert(object, values) {
      const Id = newId(object);
      const rec = { ...values, Id };
      table(object).set(Id, rec);
      remember(object, rec);
      return Id;
    },
    records: (object) => [...table(object).values()],
    apiCalls: () => Object.entries(calls).reduce((n, [k, v]) => (k === 'token' ? n : n + v), 0),
    close: () => new Promise((resolve) => server.close(() => resolve())),
  };
  const count = (kind: string) => {
    calls[kind] = (calls[kind] ?? 0) + 1;
  };

  const server = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (c: string) => {
      body += c;
    });
    req.on('end', () => {
      try {
        route(req, res, body);
      } catch (error) {
        json(res, 500, [{ errorCode: 'UNKNOWN_EXCEPTION', message: (error as Error).message }]);
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  (emulator as { url: string }).url = origin;

  function route(req: IncomingMessage, res: ServerResponse, body: string) {
    const url = new URL(req.url ?? '/', origin);
    if (url.pathname === '/services/oauth2/token' && req.method === 'POST') {
      count('token');
      return token(res, new URLSearchParams(body));
    }
    if (!VERSION_PATH.test(url.pathname))
      return json(res, 404, [
        { errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' },
      ]);
    const auth = /^Bearer (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    if (!auth || !tokens.has(auth))
      return json(res, 401, [
        { message: 'Session expired or invalid', errorCode: 'INVALID_SESSION_ID' },
      ]);
    if (emulator.usage.used >= emulator.usage.limit) {
      res.setHeader(
        'Sforce-Limit-Info',
        `api-usage=${emulator.usage.used}/${emulator.usage.limit}`,
      );
      return json(res, 403, [
        { message: 'TotalRequests Limit exceeded.', errorCode: 'REQUEST_LIMIT_EXCEEDED' },
      ]);
    }
    emulator.usage.used++;
    res.setHeader('Sforce-Limit-Info', `api-usage=${emulator.usage.used}/${emulator.usage.limit}`);
    const path = url.pathname.replace(VERSION_PATH, '');
    let m: RegExpExecArray | null;
    if ((m = /^\/sobjects\/([^/]+)\/describe\/?$/.exec(path)) && req.method === 'GET') {
      count('describe');
      const meta = objects.get(m[1]!);
      if (!meta)
        return json(res, 404, [
          { errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' },
        ]);
      return json(res, 200, { name: meta.name, fields: meta.fields });
    }
    if (path === '/query' && req.method === 'GET') {
      count('query');
      return query(res, url.searchParams.get('q') ?? '');
    }
    if ((m = /^\/composite\/sobjects\/([^/]+)\/([^/]+)$/.exec(path)) && req.method === 'PATCH') {
      count('collections');
      return collections(res, body, m[1]!, m[2]!);
    }
    if (path === '/composite/sobjects' && req.method === 'POST') {
      count('collections');
      return collections(res, body);
    }
    if (path.startsWith('/jobs/ingest')) {
      count('bulk');
      return bulk(req, res, path.slice('/jobs/ingest'.length), body);
    }
    return json(res, 404, [{ errorCode: 'NOT_FOUND', message: `no route ${req.method} ${path}` }]);
  }

  function token(res: ServerResponse, params: URLSearchParams) {
    const grant = params.get('grant_type');
    const refuse = (error: string, description: string) =>
      json(res, 400, { error, error_description: description });
    if (grant === 'urn:ietf:params:oauth:grant-type:jwt-bearer') {
      const [h, p, s] = (params.get('assertion') ?? '').split('.');
      if (!h || !p || !s || !options.publicKey) return refuse('invalid_grant', 'invalid assertion');
      // The header is {"alg":"RS256"}: Salesforce signs and verifies with RSA SHA256 only
      // ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration", step 1).
      const header = JSON.parse(Buffer.from(h, 'base64url').toString()) as { alg?: string };
      if (header.alg !== 'RS256') return refuse('invalid_grant', 'invalid assertion');
      const ok = verify(
        'RSA-SHA256',
        Buffer.from(`${h}.${p}`),
        createPublicKey(options.publicKey),
        Buffer.from(s, 'base64url'),
      );
      if (!ok) return refuse('invalid_grant', 'invalid assertion');
      const claims = JSON.parse(Buffer.from(p, 'base64url').toString()) as Record<string, unknown>;
      if (claims.iss !== options.clientId)
        return refuse('invalid_client_id', 'client identifier invalid');
      if (claims.sub !== options.username)
        return refuse('invalid_grant', "user hasn't approved this consumer");
      // Salesforce Help, "OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration": aud is
      // https://login.salesforce.com, https://test.salesforce.com (sandboxes) or an Experience
      // Cloud site URL — not the My Domain the token request is posted to.
      const audiences = options.audiences ?? ['https://login.salesforce.com'];
      if (typeof claims.aud !== 'string' || !audiences.includes(claims.aud))
        return refuse('invalid_grant', 'audience is invalid');
      if (typeof claims.exp !== 'number' || claims.exp * 1000 < Date.now())
        return refuse('invalid_grant', 'expired authorization code');
    } else if (grant === 'client_credentials') {
      if (
        params.get('client_id') !== options.clientId ||
        params.get('client_secret') !== options.clientSecret
      )
        return refuse('invalid_client', 'invalid client credentials');
    } else if (grant === 'refresh_token') {
      if (
        params.get('client_id') !== options.clientId ||
        params.get('refresh_token') !== options.refreshToken
      )
        return refuse('invalid_grant', 'expired access/refresh token');
    } else return refuse('unsupported_grant_type', 'grant type not supported');
    const access = `00D${randomBytes(20).toString('base64url')}`;
    tokens.add(access);
    json(res, 200, {
      access_token: access,
      instance_url: origin,
      id: `${origin}/id/00D000000000001/005000000000001`,
      token_type: 'Bearer',
      issued_at: String(Date.now()),
    });
  }

  /** The SOQL the matcher sends: SELECT fields FROM Object WHERE F IN (…) | (F = v AND …) OR (…). */
  function query(res: ServerResponse, soql: string) {
    const m = /^SELECT (.+?) FROM (\w+)(?: WHERE (.+))?$/is.exec(soql.trim());
    if (!m) return json(res, 400, [{ errorCode: 'MALFORMED_QUERY', message: 'unexpected token' }]);
    const fields = m[1]!.split(',').map((s) => s.trim());
    const object = m[2]!;
    const meta = objects.get(object);
    if (!meta)
      return json(res, 400, [
        { errorCode: 'INVALID_TYPE', message: `sObject type '${object}' is not supported.` },
      ]);
    for (const name of fields)
      if (!meta.fields.some((x) => x.name === name))
        return json(res, 400, [
          {
            errorCode: 'INVALID_FIELD',
            message: `No such column '${name}' on entity '${object}'.`,
          },
        ]);
    const test = m[3] ? condition(m[3]) : () => true;
    const records = [...table(object).values()].filter(test).map((r) => ({
      attributes: { type: object, url: `/services/data/v62.0/sobjects/${object}/${r.Id}` },
      ...Object.fromEntries(fields.map((name) => [name, r[name] ?? null])),
    }));
    json(res, 200, { totalSize: records.length, done: true, records });
  }

  function collections(res: ServerResponse, body: string, object?: string, extField?: string) {
    const request = JSON.parse(body) as { allOrNone?: boolean; records: Record<string, unknown>[] };
    if (request.records.length > 200)
      return json(res, 400, [
        {
          message: 'record limit reached. cannot submit more than 200 records into this call',
          errorCode: 'EXCEEDED_ID_LIMIT',
        },
      ]);
    const rows = request.records.map((raw) => {
      const { attributes, ...values } = raw as { attributes?: { type?: string } };
      return { type: object ?? attributes?.type ?? '', values: values as Record<string, unknown> };
    });
    const twice = extField ? repeatedKeys(rows.map((r) => r.values[extField])) : new Set();
    const results = rows.map(({ type, values }) => {
      const r = twice.has(values[extField ?? ''])
        ? duplicateKey(extField!, values[extField!])
        : write(type, values, extField, 'json');
      return 'error' in r
        ? {
            success: false,
            errors: [{ statusCode: r.error, message: r.message, fields: r.fields ?? [] }],
          }
        : { id: r.id, success: true, errors: [], ...(extField ? { created: r.created } : {}) };
    });
    json(res, 200, results);
  }

  type Written =
    | { id: string; created: boolean }
    | { error: string; message: string; fields?: string[] };

  /**
   * An upsert that names one external id twice: Salesforce refuses every such row, and neither
   * inserts nor updates ("Upserting Records": "If the key is matched multiple times, then an
   * error is generated and the object record is neither inserted or updated"; Apex and REST
   * answer DUPLICATE_VALUE "Duplicate external id specified"). It applies per call of sObject
   * Collections and, strictest, per Bulk job here.
   */
  function duplicateKey(extField: string, key: unknown): Written {
    return {
      error: 'DUPLICATE_VALUE',
      message: `Duplicate external id specified: ${String(key)}`,
      fields: [extField],
    };
  }

  /**
   * Validates and writes one row (insert, or upsert by `extField`). `format` is how values came:
   * JSON (sObject Collections: numbers and strings as typed) or CSV (Bulk: all text).
   */
  function write(
    object: string,
    values: Record<string, unknown>,
    extField: string | undefined,
    format: 'json' | 'csv',
  ): Written {
    const meta = objects.get(object);
    if (!meta)
      return { error: 'INVALID_TYPE', message: `sObject type '${object}' is not supported.` };
    let existing: Rec | undefined;
    if (extField) {
      const field = meta.fields.find((x) => x.name === extField);
      if (!field?.externalId)
        return {
          error: 'INVALID_FIELD',
          message: `Field name provided, ${extField} is not an External ID or indexed field for ${object}`,
        };
      const key = values[extField];
      if (key === undefined || key === null || key === '')
        return { error: 'MISSING_ARGUMENT', message: `${extField} not specified` };
      existing = index(object, extField).get(key);
    }
    const row: Record<string, unknown> = {};
    for (const [key, value] of Object.entries(values)) {
      const relation = meta.fields.find((x) => x.relationshipName === key);
      if (relation && value && typeof value === 'object') {
        const [[refField, refValue]] = Object.entries(value as Record<string, unknown>) as [
          [string, unknown],
        ];
        const target = relation.referenceTo![0]!;
        const found = index(target, refField).get(refValue);
        if (!found)
          return {
            error: 'INVALID_FIELD',
            message: `Foreign key external ID: ${String(refValue)} not found for field ${refField} in entity ${target}`,
            fields: [],
          };
        row[relation.name] = found.Id;
        continue;
      }
      const field = meta.fields.find((x) => x.name === key);
      if (!field)
        return {
          error: 'INVALID_FIELD',
          message: `No such column '${key}' on sobject of type ${object}`,
          fields: [key],
        };
      // A field describe marks not createable (on insert) or not updateable (on update) is
      // refused, whatever its value (SOAP/REST API Developer Guide, "Field Properties";
      // error INVALID_FIELD_FOR_INSERT_UPDATE). The external id itself matches, not writes.
      if (key !== extField && !(existing ? field.updateable : field.createable))
        return {
          error: 'INVALID_FIELD_FOR_INSERT_UPDATE',
          message: `Unable to create/update fields: ${key}. Please check the security settings of this field and verify that it is read/write for your profile or permission set.`,
          fields: [key],
        };
      if (value === null) {
        row[key] = null;
        continue;
      }
      const typed = typedValue(field, value, format);
      if ('error' in typed) return { ...typed, fields: [key] };
      row[key] = typed.value;
    }
    const refused = options.validate?.(object, row);
    if (refused)
      return { error: 'FIELD_CUSTOM_VALIDATION_EXCEPTION', message: refused, fields: [] };
    if (existing) {
      Object.assign(existing, row);
      remember(object, existing);
      return { id: existing.Id, created: false };
    }
    const Id = newId(object);
    const rec = { ...row, Id };
    table(object).set(Id, rec);
    remember(object, rec);
    return { id: Id, created: true };
  }

  /**
   * A value as the field's describe type takes it (SOAP API Developer Guide, "Primitive Data
   * Types" and "Field Types"; Bulk API 2.0 "Valid Date Format in Records"): int whole numbers
   * only; double within its precision (Salesforce keeps more decimals than the scale through
   * the API — Help article 000387302 — though the page shows the rounded value); date
   * `yyyy-MM-dd`; dateTime with a time and a zone; text within its length (STRING_TOO_LONG);
   * restricted picklists only their active values; references an existing record. Through JSON,
   * a text field takes a string and a number field a number.
   */
  function typedValue(
    field: FieldMeta,
    value: unknown,
    format: 'json' | 'csv',
  ): { value: unknown } | { error: string; message: string } {
    const wrong = {
      error: 'INVALID_TYPE_ON_FIELD_IN_RECORD',
      message: `${field.name}: value not of required type: ${String(value)}`,
    };
    const text = String(value);
    switch (field.type) {
      case 'int':
      case 'double': {
        if (format === 'json' && typeof value !== 'number') return wrong;
        const n = Number(value);
        if (text.trim() === '' || !Number.isFinite(n)) return wrong;
        if (field.type === 'int' && !Number.isInteger(n)) return wrong;
        const whole = field.precision === undefined ? 18 : field.precision - (field.scale ?? 0);
        if (Math.abs(Math.trunc(n)).toString().length > whole && Math.trunc(n) !== 0)
          return {
            error: 'NUMBER_OUTSIDE_VALID_RANGE',
            message: `${field.name}: value outside of valid range on numeric field: ${text}`,
          };
        return { value: n };
      }
      case 'boolean':
        if (format === 'json' ? typeof value !== 'boolean' : !/^(true|false)$/i.test(text))
          return wrong;
        return { value: format === 'json' ? value : /^true$/i.test(text) };
      case 'date':
        return /^\d{4}-\d{2}-\d{2}$/.test(text) ? { value: text } : wrong;
      case 'datetime':
        return /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,3})?)?(Z|[+-]\d{2}:?\d{2})$/.test(text)
          ? { value: new Date(text).toISOString() }
          : wrong;
      case 'reference':
        return table(field.referenceTo![0]!).has(text)
          ? { value: text }
          : { error: 'INVALID_CROSS_REFERENCE_KEY', message: 'invalid cross reference id' };
      default: {
        if (format === 'json' && typeof value !== 'string') return wrong;
        if (field.length !== undefined && text.length > field.length)
          return {
            error: 'STRING_TOO_LONG',
            message: `${field.name}: data value too large: (max length=${field.length})`,
          };
        if (
          field.type === 'picklist' &&
          field.restrictedPicklist &&
          !field.picklistValues!.some((p) => p.active && p.value === text)
        )
          return {
            error: 'INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST',
            message: `bad value for restricted picklist field: ${text}`,
          };
        if (field.type === 'email' && !/^[^@\s]+@[^@\s]+\.[^@\s]+$/.test(text))
          return {
            error: 'INVALID_EMAIL_ADDRESS',
            message: `${field.name}: invalid email address: ${text}`,
          };
        return { value: text };
      }
    }
  }

  function bulk(req: IncomingMessage, res: ServerResponse, rest: string, body: string) {
    if (rest === '' || rest === '/') {
      if (req.method !== 'POST') return json(res, 405, []);
      const spec = JSON.parse(body) as {
        object: string;
        operation: string;
        externalIdFieldName?: string;
      };
      if (!objects.has(spec.object))
        return json(res, 400, [
          {
            errorCode: 'INVALIDENTITY',
            message: `Entity '${spec.object}' is not supported by the Bulk API.`,
          },
        ]);
      const job: BulkJob = {
        id: `750${String(++counter).padStart(15, '0')}`,
        object: spec.object,
        externalIdFieldName: spec.externalIdFieldName ?? 'Id',
        state: 'Open',
        csv: [],
        polls: 0,
        retries: 0,
        processed: 0,
        failed: 0,
        columns: [],
      };
      bulkJobs.set(job.id, job);
      return json(res, 200, info(job));
    }
    const m = /^\/([^/]+)(\/[A-Za-z]+)?\/?$/.exec(rest);
    const job = m ? bulkJobs.get(m[1]!) : undefined;
    if (!m || !job)
      return json(res, 404, [
        { errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' },
      ]);
    const sub = m[2] ?? '';
    if (sub === '/batches' && req.method === 'PUT') {
      if (job.state !== 'Open')
        return json(res, 409, [{ errorCode: 'INVALIDJOBSTATE', message: 'Job is not open' }]);
      job.csv.push(body);
      res.writeHead(201).end();
      return;
    }
    if (sub === '' && req.method === 'PATCH') {
      const { state } = JSON.parse(body) as { state: string };
      if (state === 'UploadComplete') job.state = 'UploadComplete';
      if (state === 'Aborted') job.state = 'Aborted';
      return json(res, 200, info(job));
    }
    if (sub === '' && req.method === 'GET') {
      if (job.state === 'UploadComplete' || job.state === 'InProgress') {
        job.state = 'InProgress';
        if (++job.polls > (options.bulkPollsBeforeDone ?? 1)) process(job);
      }
      return json(res, 200, info(job));
    }
    if (sub === '' && req.method === 'DELETE') {
      bulkJobs.delete(job.id);
      res.writeHead(204).end();
      return;
    }
    if (req.method === 'GET' && job.results) {
      const csv = (rows: Record<string, string>[], head: string[]) =>
        toCsv(rows, { header: true, columns: [...head, ...job.columns] });
      res.setHeader('content-type', 'text/csv');
      if (sub === '/successfulResults')
        return void res.end(csv(job.results.ok, ['sf__Id', 'sf__Created']));
      if (sub === '/failedResults')
        return void res.end(csv(job.results.failed, ['sf__Id', 'sf__Error']));
      if (sub === '/unprocessedrecords') return void res.end(csv(job.results.unprocessed, []));
    }
    json(res, 404, [{ errorCode: 'NOT_FOUND', message: 'The requested resource does not exist' }]);
  }

  /**
   * Processes an ingest job in internal batches; some first attempts fail and are retried, as
   * Salesforce does. A blank cell leaves the field as it is; `#N/A` clears it (Bulk API 2.0
   * Developer Guide, "Prepare CSV Files": "To set a field value to null, use #N/A"). One
   * external id twice in the job refuses every row that names it. Results come back in an order
   * of Salesforce's own, not the upload's ("Get Job Successful Record Results": results are
   * matched by their field values, not by position).
   */
  function process(job: BulkJob): void {
    const rows = job.csv.flatMap(
      (text) =>
        parseCsv(text, { columns: true, skip_empty_lines: true }) as Record<string, string>[],
    );
    job.columns = rows[0] ? Object.keys(rows[0]) : [];
    job.results = { ok: [], failed: [], unprocessed: [] };
    const twice = repeatedKeys(rows.map((r) => r[job.externalIdFieldName]));
    let retriesLeft = options.bulkInternalRetries ?? 1;
    for (let at = 0; at < rows.length; at += 200) {
      if (retriesLeft-- > 0) job.retries++; // UNABLE_TO_LOCK_ROW on the first try; retried internally
      for (const row of rows.slice(at, at + 200)) {
        const values: Record<string, unknown> = {};
        for (const [k, v] of Object.entries(row)) {
          if (v === '') continue;
          const [rel, key] = k.split('.');
          if (key) values[rel!] = { [key]: v };
          else values[k] = v === '#N/A' ? null : v;
        }
        const key = row[job.externalIdFieldName];
        const r = twice.has(key)
          ? duplicateKey(job.externalIdFieldName, key)
          : write(job.object, values, job.externalIdFieldName, 'csv');
        if ('error' in r)
          job.results.failed.push({ sf__Id: '', sf__Error: `${r.error}:${r.message}`, ...row });
        else job.results.ok.push({ sf__Id: r.id, sf__Created: String(r.created), ...row });
      }
    }
    job.results.ok.reverse();
    job.results.failed.reverse();
    job.processed = rows.length;
    job.failed = job.results.failed.length;
    job.results.failed.splice(0, options.bulkFailedResultsMissing ?? 0);
    job.state = 'JobComplete';
  }

  const info = (job: BulkJob) => ({
    id: job.id,
    operation: 'upsert',
    object: job.object,
    externalIdFieldName: job.externalIdFieldName,
    state: job.state,
    contentType: 'CSV',
    lineEnding: 'LF',
    numberRecordsProcessed: job.processed,
    numberRecordsFailed: job.failed,
    retries: job.retries,
  });

  return emulator;
}

/** The keys that occur more than once in one call or job. */
function repeatedKeys(keys: readonly unknown[]): Set<unknown> {
  const seen = new Set<unknown>();
  const twice = new Set<unknown>();
  for (const k of keys) {
    if (k === undefined || k === null || k === '') continue;
    if (seen.has(k)) twice.add(k);
    seen.add(k);
  }
  return twice;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json;charset=UTF-8' });
  res.end(JSON.stringify(body));
}

/** A WHERE clause of `F IN (…)`, `F = v`, AND, OR and parentheses; strings compare ignoring case. */
function condition(text: string): (r: Record<string, unknown>) => boolean {
  const tokens = text.match(/'(?:\\.|[^'\\])*'|\d{4}-\d{2}-\d{2}|[A-Za-z_][\w.]*|[(),=]/g) ?? [];
  let i = 0;
  const peek = () => tokens[i];
  const next = () => tokens[i++];
  const value = (t: string) => (t.startsWith("'") ? t.slice(1, -1).replace(/\\(.)/g, '$1') : t);
  const same = (a: unknown, b: string) =>
    a !== null && a !== undefined && String(a).toLowerCase() === b.toLowerCase();
  type Test = (r: Record<string, unknown>) => boolean;
  const or = (): Test => {
    const parts = [and()];
    while (peek()?.toUpperCase() === 'OR') {
      next();
      parts.push(and());
    }
    return (r) => parts.some((p) => p(r));
  };
  const and = (): Test => {
    const parts = [atom()];
    while (peek()?.toUpperCase() === 'AND') {
      next();
      parts.push(atom());
    }
    return (r) => parts.every((p) => p(r));
  };
  const atom = (): Test => {
    if (peek() === '(') {
      next();
      const inner = or();
      next(); // )
      return inner;
    }
    const field = next()!;
    const op = next()!;
    if (op.toUpperCase() === 'IN') {
      next(); // (
      const values: string[] = [];
      while (peek() !== ')') {
        const t = next()!;
        if (t !== ',') values.push(value(t));
      }
      next();
      const set = new Set(values.map((v) => v.toLowerCase()));
      return (r) => r[field] != null && set.has(String(r[field]).toLowerCase());
    }
    const v = value(next()!);
    return (r) => same(r[field], v);
  };
  return or();
}
