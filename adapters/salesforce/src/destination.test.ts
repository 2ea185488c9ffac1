import { generateKeyPairSync, sign } from 'node:crypto';
import { rescored, runDestinationContract, sampleRecords } from '@scorebridge/adapter-kit';
import {
  type DeliveryBatch,
  DestinationError,
  type DestinationLogger,
  type RecordOutcome,
  type ScoreRecord,
  Secret,
} from '@scorebridge/core';
import { Connection } from 'jsforce';
import { afterAll, beforeEach, describe, expect, it } from 'vitest';
import {
  defaultObjects,
  type FieldMeta,
  type ObjectMeta,
  type SalesforceEmulator,
  startSalesforceEmulator,
} from '../../../test/salesforce/emulator.js';
import { jwtAssertion, jwtAudience } from './auth.js';
import { REFUSED_AUTH, salesforceAdapter, salesforceOptionsSchema } from './index.js';

const { privateKey, publicKey } = generateKeyPairSync('rsa', {
  modulusLength: 2048,
  privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  publicKeyEncoding: { type: 'spki', format: 'pem' },
});
const CLIENT = '3MVG9-canary-consumer-key';
const CLIENT_SECRET = 'CANARY-CLIENT-SECRET-8a7f';
const USER = 'integration@university.edu';

/** Keys of records the org's validation rule refuses (an applicant on hold, say). */
const onHold = new Set<string>();
/** Every emulator started, by URL: each test gets an org of its own. */
const orgs = new Map<string, SalesforceEmulator>();
const newOrg = async (extra: Parameters<typeof startSalesforceEmulator>[0] = {}) => {
  const org = await startSalesforceEmulator({
    clientId: CLIENT,
    clientSecret: CLIENT_SECRET,
    username: USER,
    publicKey,
    validate: (_object, row) =>
      onHold.has(String(row.ScoreBridge_Key__c))
        ? 'This applicant is on hold in Admissions'
        : undefined,
    ...extra,
  });
  orgs.set(org.url, org);
  return org;
};
let sf: SalesforceEmulator;
beforeEach(async () => {
  sf = await newOrg();
});
afterAll(async () => {
  await Promise.all([...orgs.values()].map((o) => o.close()));
});

const jwt = () => ({
  type: 'jwt',
  clientId: CLIENT,
  username: USER,
  privateKey: new Secret(privateKey),
});

function options(extra: Record<string, unknown> = {}) {
  return {
    loginUrl: sf.url,
    auth: jwt(),
    profile: 'eda',
    eda: { scaleField: 'ScoreBridge_Scale__c' },
    matching: { onUnmatched: 'create', ruleField: 'ScoreBridge_Match__c' },
    ...extra,
  };
}

const events: { level: string; message: string; fields?: Record<string, unknown> }[] = [];
const logger: DestinationLogger = {
  debug() {},
  info() {},
  warn: (message, fields) => events.push({ level: 'warn', message, fields }),
  error: (message, fields) => events.push({ level: 'error', message, fields }),
};
const make = (o: Record<string, unknown>) =>
  salesforceAdapter.create(salesforceOptionsSchema.parse(o), {
    pipeline: 'uni',
    destinationId: 'crm',
    logger,
  });
const batch = (records: readonly ScoreRecord[], id: string): DeliveryBatch => ({
  id,
  pipeline: 'uni',
  records,
  window: { from: '2026-10-01T00:00:00.000Z', to: '2026-11-01T00:00:00.000Z' },
});
/** A custom object of the emulated org: the score, the test date and the content hash. */
const CUSTOM = {
  object: 'TOEFL_Score__c',
  externalId: 'ScoreBridge_Key__c',
  contactField: 'Contact__c',
  fields: { Total__c: 'ibtTotal', Test_Date__c: 'testDate', Content_Hash__c: 'contentHash' },
};

/** Contacts the office already has for these records' people (one per person: by e-mail). */
function contactsFor(records: readonly ScoreRecord[]) {
  const have = new Set(sf.records('Contact').map((c) => String(c.Email).toLowerCase()));
  for (const r of records) {
    const email = String(r.fields.email).toLowerCase();
    if (have.has(email)) continue;
    have.add(email);
    sf.insert('Contact', {
      LastName: r.fields.lastName,
      FirstName: r.fields.firstName,
      Email: r.fields.email,
      Birthdate: r.fields.dateOfBirth,
    });
  }
}

runDestinationContract<Record<string, unknown>>('salesforce (custom object)', {
  adapter: salesforceAdapter,
  options: async () => ({
    loginUrl: (await newOrg()).url,
    auth: { type: 'client-credentials', clientId: CLIENT, clientSecret: new Secret(CLIENT_SECRET) },
    profile: 'custom',
    custom: { ...CUSTOM, fields: { ...CUSTOM.fields, Source__c: { const: 'ETS' } } },
    matching: { onUnmatched: 'create' },
  }),
  stored: async (o) =>
    orgs
      .get(String(o.loginUrl))!
      .records('TOEFL_Score__c')
      .map((r) => ({
        recordKey: String(r.ScoreBridge_Key__c),
        contentHash: String(r.Content_Hash__c),
      })),
  broken: [
    {
      name: 'a wrong client secret',
      kind: 'auth',
      options: () => ({
        loginUrl: sf.url,
        auth: {
          type: 'client-credentials',
          clientId: CLIENT,
          clientSecret: new Secret('CANARY-WRONG-SECRET'),
        },
        profile: 'eda',
      }),
    },
    {
      name: 'an external id field the org lacks',
      kind: 'config',
      options: () => options({ eda: { testExternalId: 'TOEFL_Key__c' } }),
    },
  ],
  rejectable: {
    options: () => options({ profile: 'eda' }),
    records: async () => {
      const bad = await sampleRecords(3, 9);
      for (const r of bad) onHold.add(r.recordKey);
      return bad;
    },
  },
  secrets: [CLIENT_SECRET, 'CANARY-WRONG-SECRET'],
});

describe('salesforce destination', () => {
  it('refuses username-password and SOAP login, saying why and what to use', () => {
    for (const type of ['password', 'soap']) {
      const parsed = salesforceOptionsSchema.safeParse({
        ...options(),
        auth: { type, username: USER, password: 'x' },
      });
      expect(parsed.success).toBe(false);
      expect(JSON.stringify(parsed.error?.issues)).toContain(REFUSED_AUTH.slice(0, 60));
    }
  });

  it('logs in with a refresh token, and says what to check when the token is refused', async () => {
    sf = await newOrg({ refreshToken: 'CANARY-REFRESH-TOKEN-1' });
    const records = await sampleRecords(3, 29);
    contactsFor(records);
    const auth = (token: string) => ({
      type: 'refresh-token',
      clientId: CLIENT,
      clientSecret: new Secret(CLIENT_SECRET),
      refreshToken: new Secret(token),
    });
    const ok = await make(options({ auth: auth('CANARY-REFRESH-TOKEN-1') })).deliver(
      batch(records, 'rt'),
    );
    expect(ok.filter((o) => o.status !== 'delivered')).toEqual([]);
    const refused = (await make(options({ auth: auth('CANARY-REFRESH-TOKEN-2') }))
      .deliver(batch(records, 'rt'))
      .catch((e: unknown) => e)) as DestinationError;
    expect(refused).toMatchObject({ kind: 'auth' });
    expect(refused.message).toMatch(
      /^\[salesforce\] crm: Salesforce refused the refresh-token login/,
    );
    expect(refused.remedy).toMatch(/refresh token/);
    expect(JSON.stringify(refused) + refused.message).not.toContain('CANARY-REFRESH-TOKEN');
  });

  it('signs the JWT for the audience Salesforce accepts, whatever the loginUrl', () => {
    const cases: [string, string][] = [
      ['https://login.salesforce.com', 'https://login.salesforce.com'],
      ['https://university.my.salesforce.com', 'https://login.salesforce.com'],
      ['https://test.salesforce.com', 'https://test.salesforce.com'],
      ['https://university--uat.sandbox.my.salesforce.com', 'https://test.salesforce.com'],
      ['https://university--uat.cs42.my.salesforce.com', 'https://test.salesforce.com'],
      ['https://cs42.salesforce.com', 'https://test.salesforce.com'],
      ['http://127.0.0.1:8443', 'https://login.salesforce.com'],
    ];
    expect(cases.map(([url]) => [url, jwtAudience(url)])).toEqual(cases);
    expect(
      jwtAudience('https://university.my.salesforce.com', 'https://apply.university.edu/s/'),
    ).toBe('https://apply.university.edu');
  });

  it('the strict org refuses a JWT signed for its own address; an Experience Cloud audience works once configured', async () => {
    // As the adapter signed before: aud = the login URL's origin (here the org's own address).
    const assertion = jwtAssertion(CLIENT, USER, sf.url, privateKey, 'test');
    const response = await fetch(`${sf.url}/services/oauth2/token`, {
      method: 'POST',
      body: new URLSearchParams({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion,
      }),
    });
    expect(response.status).toBe(400);
    expect(await response.json()).toEqual({
      error: 'invalid_grant',
      error_description: 'audience is invalid',
    });

    const site = 'https://apply.university.edu';
    sf = await newOrg({ audiences: [site] });
    const records = await sampleRecords(2, 31);
    contactsFor(records);
    const refused = (await make(options())
      .check()
      .catch((e: unknown) => e)) as DestinationError;
    expect(refused).toMatchObject({ kind: 'auth' });
    expect(refused.message).toMatch(
      /Salesforce refused the jwt login \(audience https:\/\/login\.salesforce\.com\): .*audience is invalid/,
    );
    expect(refused.remedy).toMatch(/auth\.audience/);
    const ok = await make(options({ auth: { ...jwt(), audience: site } })).deliver(
      batch(records, 'site'),
    );
    expect(ok.map((o) => o.status)).toEqual(['delivered', 'delivered']);
  });

  it('the strict org verifies the assertion: RS256 by the app certificate, issuer, subject, expiry', async () => {
    const { privateKey: otherKey } = generateKeyPairSync('rsa', {
      modulusLength: 2048,
      privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
      publicKeyEncoding: { type: 'spki', format: 'pem' },
    });
    const b64 = (v: object) => Buffer.from(JSON.stringify(v)).toString('base64url');
    const assertion = (claims: Record<string, unknown>, key = privateKey, alg = 'RS256') => {
      const body = `${b64({ alg })}.${b64({
        iss: CLIENT,
        sub: USER,
        aud: 'https://login.salesforce.com',
        exp: Math.floor(Date.now() / 1000) + 180,
        ...claims,
      })}`;
      return `${body}.${sign('RSA-SHA256', Buffer.from(body), key).toString('base64url')}`;
    };
    const answer = async (a: string) => {
      const response = await fetch(`${sf.url}/services/oauth2/token`, {
        method: 'POST',
        body: new URLSearchParams({
          grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
          assertion: a,
        }),
      });
      return [response.status, ((await response.json()) as { error?: string }).error];
    };
    expect(await answer(assertion({}))).toEqual([200, undefined]);
    expect(await answer(assertion({}, otherKey))).toEqual([400, 'invalid_grant']);
    expect(await answer(assertion({}, privateKey, 'HS256'))).toEqual([400, 'invalid_grant']);
    expect(await answer(assertion({ iss: 'another-app' }))).toEqual([400, 'invalid_client_id']);
    expect(await answer(assertion({ sub: 'someone@else.edu' }))).toEqual([400, 'invalid_grant']);
    expect(await answer(assertion({ exp: Math.floor(Date.now() / 1000) - 60 }))).toEqual([
      400,
      'invalid_grant',
    ]);
  });

  it('an org that cannot be reached is unavailable (retried later), not a failure of the records', async () => {
    const gone = await newOrg();
    const d = make(options({ loginUrl: gone.url }));
    await gone.close();
    const error = (await d
      .deliver(batch(await sampleRecords(2, 30), 'gone'))
      .catch((e: unknown) => e)) as DestinationError;
    expect(error).toBeInstanceOf(DestinationError);
    expect(error.kind).toBe('unavailable');
  });

  it('EDA: the same batch three times leaves exactly one test and its scores per record; a rescored report updates in place', async () => {
    const records = await sampleRecords(40, 21);
    contactsFor(records);
    const before = {
      tests: sf.records('hed__Test__c').length,
      scores: sf.records('hed__Test_Score__c').length,
    };
    const d = make(options({ matching: { ruleField: 'ScoreBridge_Match__c' } }));
    for (let i = 0; i < 3; i++) {
      const outcomes = await d.deliver(batch(records, 'eda-three-times'));
      expect(outcomes.filter((o) => o.status !== 'delivered')).toEqual([]);
    }
    const keys = new Set(records.map((r) => r.recordKey));
    const tests = sf.records('hed__Test__c').filter((t) => keys.has(String(t.ScoreBridge_Key__c)));
    // One test per record key (a re-sent report is the same test, updated).
    expect(tests).toHaveLength(keys.size);
    expect(sf.records('hed__Test__c').length - before.tests).toBe(keys.size);
    // Matched by the first rule (e-mail), and it says so.
    expect(new Set(tests.map((t) => t.ScoreBridge_Match__c))).toEqual(new Set(['email']));
    const scores = sf.records('hed__Test_Score__c').length - before.scores;
    expect(scores).toBeGreaterThanOrEqual(keys.size * 5);

    const changed = await rescored(records.find((r) => typeof r.fields.ibtSpeaking === 'number')!);
    await d.deliver(batch([changed], 'eda-rescored'));
    expect(sf.records('hed__Test__c').length - before.tests).toBe(keys.size);
    expect(sf.records('hed__Test_Score__c').length - before.scores).toBe(scores);
    const test = tests.find((t) => t.ScoreBridge_Key__c === changed.recordKey)!;
    const speaking = sf
      .records('hed__Test_Score__c')
      .find(
        (s) =>
          s.hed__Test__c === test.Id &&
          s.ScoreBridge_Key__c === `${changed.recordKey}|speaking|ibt`,
      );
    expect(speaking?.hed__Score__c).toBe(changed.fields.ibtSpeaking);
  });

  for (const path of ['Collections', 'Bulk'] as const)
    it(`5% invalid rows (${path}): the rest land; each invalid one is refused with its Salesforce error and no personal data`, async () => {
      const records = await sampleRecords(100, 22);
      contactsFor(records);
      const bad = records.filter((_, i) => i % 20 === 7);
      for (const r of bad) onHold.add(r.recordKey);
      // Bulk's results come in another order than the upload's: outcomes follow the records.
      const outcomes = await make(options({ bulkThreshold: path === 'Bulk' ? 5 : 2000 })).deliver(
        batch(records, `five-percent-${path}`),
      );
      const rejected = outcomes.filter((o) => o.status === 'rejected');
      expect(rejected.map((o) => o.recordKey).sort()).toEqual(bad.map((r) => r.recordKey).sort());
      for (const o of rejected) {
        expect(o).toMatchObject({ kind: 'rejected', code: 'FIELD_CUSTOM_VALIDATION_EXCEPTION' });
        expect(o.status === 'rejected' && o.reason).toMatch(
          /hed__Test__c: FIELD_CUSTOM_VALIDATION_EXCEPTION: This applicant is on hold/,
        );
      }
      expect(outcomes.filter((o) => o.status === 'delivered')).toHaveLength(
        records.length - bad.length,
      );
    });

  it('sessions expire under 20 concurrent deliveries: one token refresh, every delivery succeeds', async () => {
    const records = await sampleRecords(60, 23);
    contactsFor(records);
    const d = make(options());
    await d.deliver(batch(records.slice(0, 3), 'warm-up'));
    sf.expireSessions();
    const tokensBefore = sf.calls.token ?? 0;
    const results = await Promise.all(
      Array.from({ length: 20 }, (_, i) =>
        d.deliver(batch(records.slice(i * 3, i * 3 + 3), `concurrent-${i}`)),
      ),
    );
    expect((sf.calls.token ?? 0) - tokensBefore).toBe(1);
    expect(results.flat().filter((o) => o.status !== 'delivered')).toEqual([]);
  });

  it('API allowance spent: deliveries pause with an alert-worthy event, then resume', async () => {
    const records = await sampleRecords(5, 24);
    contactsFor(records);
    const d = make(options({ limitPauseSeconds: 60 }));
    await d.deliver(batch(records.slice(0, 1), 'before-limit'));
    const saved = { ...sf.usage };
    sf.usage.used = sf.usage.limit;
    events.length = 0;
    const error = await d.deliver(batch(records, 'at-limit')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DestinationError);
    expect(error).toMatchObject({ kind: 'rate-limit', retryAfterSeconds: 60 });
    expect(events.some((e) => e.fields?.event === 'salesforce-api-limit')).toBe(true);
    sf.usage.used = saved.used;
    const outcomes = await d.deliver(batch(records, 'at-limit'));
    expect(outcomes.filter((o) => o.status !== 'delivered')).toEqual([]);
    expect(d.usage?.()).toEqual({
      quota: 'api-requests-daily',
      used: sf.usage.used,
      limit: sf.usage.limit,
    });
  });

  it('keeps to its share of the daily allowance', async () => {
    const records = await sampleRecords(2, 25);
    contactsFor(records);
    const saved = sf.usage.used;
    sf.usage.used = Math.ceil(sf.usage.limit * 0.5);
    const d = make(options({ maxApiShare: 0.5 }));
    const first = await d.deliver(batch(records, 'share')).catch((e: unknown) => e);
    // The first call learns the usage; the next is refused before it is made.
    expect(first).toMatchObject({ kind: 'rate-limit' });
    expect(String((first as Error).message)).toMatch(/share of the daily API allowance is used/);
    sf.usage.used = saved;
  });

  it('10,000 records through Bulk API 2.0 in at most 10 calls besides matching; unmatched ones held, then replayed', async () => {
    const records = await sampleRecords(10_000, 26);
    // About 1% of the people have no Contact yet: every report of theirs is held.
    const absent = new Set(records.filter((_, i) => i % 100 === 3).map((r) => r.fields.email));
    const unmatched = records.filter((r) => absent.has(r.fields.email));
    contactsFor(records.filter((r) => !absent.has(r.fields.email)));
    const d = make(
      options({
        profile: 'custom',
        custom: CUSTOM,
        matching: { onUnmatched: 'hold', rules: [{ name: 'email', match: { Email: 'email' } }] },
      }),
    );
    const before = { ...sf.calls };
    const bulkJobs = sf.bulkJobs.size;
    const outcomes = await d.deliver(batch(records, 'bulk-10k'));
    const used = (k: string) => (sf.calls[k] ?? 0) - (before[k] ?? 0);
    expect(sf.bulkJobs.size - bulkJobs).toBe(1);
    expect(used('bulk')).toBeLessThanOrEqual(10);
    expect(used('collections')).toBe(0);
    const held = outcomes.filter((o) => o.status === 'rejected');
    expect(
      held.filter((o) => o.status === 'rejected' && o.kind !== 'unmatched').slice(0, 1),
    ).toEqual([]);
    expect(held.map((o) => o.recordKey).sort()).toEqual(unmatched.map((r) => r.recordKey).sort());
    expect(held[0]).toMatchObject({ kind: 'unmatched', code: 'UNMATCHED' });
    expect(held[0]!.status === 'rejected' && held[0]!.reason).toMatch(/email: none/);
    expect([...sf.bulkJobs.values()].at(-1)!.retries).toBeGreaterThan(0); // Salesforce retried internally

    // The office creates the Contacts; a replay of the held records delivers them.
    contactsFor(unmatched);
    const replay = await d.deliver(batch(unmatched, 'replay'));
    expect(replay.filter((o) => o.status !== 'delivered')).toEqual([]);
    const stored = new Set(sf.records('TOEFL_Score__c').map((r) => r.ScoreBridge_Key__c));
    expect(records.every((r) => stored.has(r.recordKey))).toBe(true);
  });

  it('a Bulk job still running when polling gives up is re-attached to, not created again', async () => {
    sf = await newOrg({ bulkPollsBeforeDone: 3 });
    const records = await sampleRecords(30, 28);
    contactsFor(records);
    const d = make(customBulk(10, { bulkPollSeconds: 0.5 }));
    const first = await d.deliver(batch(records, 'slow-bulk')).catch((e: unknown) => e);
    expect(first).toMatchObject({ kind: 'timeout' });
    expect(String((first as Error).message)).toMatch(/the next attempt waits for the same job/);
    expect(sf.bulkJobs.size).toBe(1);
    // The runner tries the batch again (later); each attempt looks at the same job until it is done.
    let outcome: unknown;
    for (let attempt = 0; attempt < 5 && !Array.isArray(outcome); attempt++)
      outcome = await d.deliver(batch(records, 'slow-bulk')).catch((e: unknown) => e);
    expect(Array.isArray(outcome), String(outcome)).toBe(true);
    expect((outcome as RecordOutcome[]).filter((o) => o.status !== 'delivered')).toEqual([]);
    expect(sf.bulkJobs.size).toBe(1);
    expect(sf.records('TOEFL_Score__c')).toHaveLength(
      new Set(records.map((r) => r.recordKey)).size,
    );
  });

  it('Education Cloud: a PersonExamination per report, its subjects linked by ParentPersonExaminationId', async () => {
    const records = await sampleRecords(5, 27);
    contactsFor(records);
    const outcomes = await make(
      options({ profile: 'education-cloud', matching: { onUnmatched: 'hold' } }),
    ).deliver(batch(records, 'ec'));
    expect(outcomes.filter((o) => o.status !== 'delivered')).toEqual([]);
    const all = sf.records('PersonExamination');
    for (const r of records) {
      const parent = all.find((p) => p.ScoreBridge_Key__c === r.recordKey)!;
      // ExaminationDate is a Date/Time in Education Cloud: the test day at 12:00 UTC.
      expect(parent).toMatchObject({
        SubjectName: 'Total',
        ExaminationDate: `${r.fields.testDate}T12:00:00.000Z`,
      });
      // Name is an auto-number there: ScoreBridge left it to Salesforce.
      expect(parent.Name).toBeUndefined();
      const children = all.filter((c) => c.ParentPersonExaminationId === parent.Id);
      expect(children.map((c) => c.SubjectName).sort()).toEqual(
        expect.arrayContaining(['Listening', 'Reading', 'Speaking', 'Writing']),
      );
    }
  });

  it("custom profile: a field mapped to 'update' says what a re-sent report changed, and is blank for a first version", async () => {
    const [first, second] = await sampleRecords(2, 33);
    contactsFor([first!, second!]);
    const resent = await rescored(second!);
    const d = make(
      options({
        profile: 'custom',
        custom: { ...CUSTOM, fields: { ...CUSTOM.fields, Update__c: 'update' } },
        matching: { onUnmatched: 'create' },
      }),
    );
    const outcomes = await d.deliver({
      ...batch([first!, resent], 'custom-updates'),
      updates: { [resent.contentHash]: 'scores-changed' },
    });
    expect(outcomes.filter((o) => o.status !== 'delivered')).toEqual([]);
    const rows = sf.records('TOEFL_Score__c');
    const row = (r: ScoreRecord) => rows.find((x) => x.ScoreBridge_Key__c === r.recordKey)!;
    expect([row(first!).Update__c, row(resent).Update__c]).toEqual([null, 'scores-changed']);
  });

  it('check() says exactly what to create or change in the org', async () => {
    const broken = await newOrg({
      objects: (await import('../../../test/salesforce/emulator.js')).defaultObjects().map((o) =>
        o.name === 'hed__Test_Score__c'
          ? {
              ...o,
              fields: o.fields
                .filter((f) => f.name !== 'ScoreBridge_Key__c')
                .map((f) =>
                  f.name === 'hed__Subject_Area__c'
                    ? {
                        ...f,
                        picklistValues: f.picklistValues!.filter(
                          (p) => !/Listening|Speaking/.test(p.value),
                        ),
                      }
                    : f,
                ),
            }
          : o,
      ),
    });
    {
      const d = salesforceAdapter.create(
        salesforceOptionsSchema.parse({ ...options(), loginUrl: broken.url }),
        { pipeline: 'uni', destinationId: 'crm', logger },
      );
      const error = (await d.check().catch((e: unknown) => e)) as DestinationError;
      expect(error.kind).toBe('config');
      expect(error.message).toContain(
        'hed__Test_Score__c.ScoreBridge_Key__c is missing: create a Text(255) field named ScoreBridge_Key with "External ID" and "Unique" ticked',
      );
      expect(error.message).toContain(
        'hed__Test_Score__c.hed__Subject_Area__c has no active picklist value "Listening"',
      );
      expect(error.message).toContain('has no active picklist value "Speaking"');
      expect(error.message).not.toContain('hed__Test__c.');
    }
  });
});

/** A field of the emulated org's object, changed. */
function orgWith(object: string, field: string, change: Partial<FieldMeta>): ObjectMeta[] {
  return defaultObjects().map((o) =>
    o.name === object
      ? { ...o, fields: o.fields.map((f) => (f.name === field ? { ...f, ...change } : f)) }
      : o,
  );
}

/** Whether any score the profiles write (both scales) has a fraction: a 1–6 band such as 4.5. */
const hasBand = (r: ScoreRecord) =>
  Object.entries(r.fields).some(
    ([k, v]) =>
      /^(ibt|ibt26|ess)(Listening|Reading|Speaking|Writing|Total)$/.test(k) &&
      typeof v === 'number' &&
      !Number.isInteger(v),
  );

/** Unmodified jsforce on the test's org, logged in by client credentials: Salesforce's own answers. */
async function jsforceOnOrg(): Promise<Connection> {
  const response = await fetch(`${sf.url}/services/oauth2/token`, {
    method: 'POST',
    body: new URLSearchParams({
      grant_type: 'client_credentials',
      client_id: CLIENT,
      client_secret: CLIENT_SECRET,
    }),
  });
  const { access_token } = (await response.json()) as { access_token: string };
  return new Connection({ instanceUrl: sf.url, accessToken: access_token, version: '62.0' });
}

/** The custom object, matched Contacts held when missing, Bulk API above `bulkThreshold` rows. */
const customBulk = (bulkThreshold: number, extra: Record<string, unknown> = {}) =>
  options({
    profile: 'custom',
    custom: CUSTOM,
    matching: { onUnmatched: 'hold' },
    bulkThreshold,
    ...extra,
  });

describe('strict where Salesforce is strict', () => {
  it('one external id twice in one call: Salesforce refuses both rows, through Collections and through Bulk', async () => {
    const conn = await jsforceOnOrg();
    const rows = [
      { ScoreBridge_Key__c: 'K1', Total__c: 90 },
      { ScoreBridge_Key__c: 'K1', Total__c: 91 },
      { ScoreBridge_Key__c: 'K2', Total__c: 80 },
    ];
    const results = (await conn
      .sobject('TOEFL_Score__c')
      .upsert(rows, 'ScoreBridge_Key__c', { allOrNone: false })) as unknown as {
      success: boolean;
      errors: { statusCode: string; message: string }[];
    }[];
    expect(results.map((r) => r.success)).toEqual([false, false, true]);
    expect(results[0]!.errors[0]).toMatchObject({
      statusCode: 'DUPLICATE_VALUE',
      message: 'Duplicate external id specified: K1',
    });
    const job = conn.bulk2.createJob({
      object: 'TOEFL_Score__c',
      operation: 'upsert',
      externalIdFieldName: 'ScoreBridge_Key__c',
      lineEnding: 'LF',
    });
    await job.open();
    await job.uploadData('ScoreBridge_Key__c,Total__c\nK3,70\nK3,71\nK4,60\n');
    await job.close();
    await job.poll(10, 5000);
    const failed = String(await job.getFailedResults(true));
    expect(failed.match(/DUPLICATE_VALUE:Duplicate external id specified: K3/g)).toHaveLength(2);
    expect(
      sf
        .records('TOEFL_Score__c')
        .map((r) => r.ScoreBridge_Key__c)
        .sort(),
    ).toEqual(['K2', 'K4']);
  });

  it('Education Cloud by describe: Name (auto-number) left to Salesforce, ExaminationDate (Date/Time) at 12:00 UTC; check() says so', async () => {
    const d = make(options({ profile: 'education-cloud', matching: { onUnmatched: 'hold' } }));
    expect(await d.check()).toEqual({
      notes: [
        'PersonExamination.ExaminationDate is a Date/Time field: dates are written as 12:00 UTC of the day',
        'PersonExamination.Name is an auto-number field: ScoreBridge leaves it out',
      ],
    });
    // The strict org refuses the auto-number and a bare date, as Salesforce does.
    const [one] = await sampleRecords(1, 27);
    contactsFor([one!]);
    const conn = await jsforceOnOrg();
    const refused = (await conn.sobject('PersonExamination').upsert(
      [
        { ScoreBridge_Key__c: 'X1', Name: 'TOEFL' },
        { ScoreBridge_Key__c: 'X2', ExaminationDate: '2026-05-19' },
      ],
      'ScoreBridge_Key__c',
      { allOrNone: false },
    )) as unknown as { errors: { statusCode: string }[] }[];
    expect(refused.map((r) => r.errors[0]?.statusCode)).toEqual([
      'INVALID_FIELD_FOR_INSERT_UPDATE',
      'INVALID_TYPE_ON_FIELD_IN_RECORD',
    ]);
  });

  for (const [what, change, problem] of [
    [
      'an Integer field',
      { type: 'int', precision: undefined, scale: undefined },
      'PersonExamination.Score is an Integer field: 1–6 band scores such as 4.5 would be refused: make it Number(3, 1) or wider',
    ],
    [
      'a Number field with no decimal places',
      { scale: 0 },
      'PersonExamination.Score has no decimal places: Salesforce would show a 4.5 band as 5, so ScoreBridge refuses such scores: give it 1 decimal place',
    ],
  ] as const)
    it(`Education Cloud, Score as ${what}: a 4.5 band is refused with the fix, never rounded; whole scores land; check() names the field`, async () => {
      sf = await newOrg({ objects: orgWith('PersonExamination', 'Score', change) });
      const d = make(options({ profile: 'education-cloud', matching: { onUnmatched: 'hold' } }));
      const error = (await d.check().catch((e: unknown) => e)) as DestinationError;
      expect(error).toBeInstanceOf(DestinationError);
      expect(error.message).toContain(problem);
      const records = await sampleRecords(60, 27);
      contactsFor(records);
      const outcomes = await d.deliver(batch(records, 'bands'));
      const banded = records.filter(hasBand).map((r) => r.recordKey);
      expect(banded.length).toBeGreaterThan(0);
      expect(banded.length).toBeLessThan(records.length);
      const refused = outcomes.filter((o) => o.status === 'rejected');
      expect(refused.map((o) => o.recordKey)).toEqual(banded);
      for (const o of refused)
        expect(o).toMatchObject({
          kind: 'rejected',
          code: 'FIELD_TYPE_MISMATCH',
          reason: expect.stringMatching(
            /^PersonExamination: FIELD_TYPE_MISMATCH \(Score\): PersonExamination\.Score (is an Integer field|keeps 0 decimal places).*then replay$/,
          ),
        });
      // Nothing of a refused record was written; every other record was.
      const keys = new Set(sf.records('PersonExamination').map((p) => p.ScoreBridge_Key__c));
      expect(banded.filter((k) => keys.has(k))).toEqual([]);
      expect(
        records.filter((r) => !hasBand(r) && !keys.has(r.recordKey)).map((r) => r.recordKey),
      ).toEqual([]);
    });

  for (const path of ['Collections', 'Bulk'] as const)
    it(`a value gone from a rescored report is cleared in the org (${path}: ${path === 'Bulk' ? '#N/A, as a blank cell changes nothing' : 'null'})`, async () => {
      const records = await sampleRecords(4, 34);
      contactsFor(records);
      const d = make(
        options({
          profile: 'custom',
          custom: { ...CUSTOM, fields: { ...CUSTOM.fields, Update__c: 'update' } },
          matching: { onUnmatched: 'hold' },
          bulkThreshold: path === 'Bulk' ? 1 : 2000,
        }),
      );
      const updates = Object.fromEntries(
        records.map((r) => [r.contentHash, 'scores-changed' as const]),
      );
      await d.deliver({ ...batch(records, 'with-update'), updates });
      const update = () => sf.records('TOEFL_Score__c').map((r) => r.Update__c);
      expect(update()).toEqual(records.map(() => 'scores-changed'));
      const outcomes = await d.deliver(batch(records, 'without-update'));
      expect(outcomes.filter((o) => o.status !== 'delivered')).toEqual([]);
      expect(update()).toEqual(records.map(() => null));
    });

  it('Bulk: a failure the job counts but does not list is not taken for a success', async () => {
    sf = await newOrg({ bulkFailedResultsMissing: 1 });
    const records = await sampleRecords(40, 35);
    contactsFor(records);
    const bad = records.filter((_, i) => i % 10 === 4);
    for (const r of bad) onHold.add(r.recordKey);
    const d = make(customBulk(5));
    const outcomes = await d.deliver(batch(records, 'partial-failures'));
    const refused = outcomes.filter((o) => o.status === 'rejected');
    expect(refused.map((o) => o.recordKey).sort()).toEqual(bad.map((r) => r.recordKey).sort());
    expect(refused.filter((o) => o.code === 'UNCONFIRMED')).toHaveLength(1);
    expect(refused.find((o) => o.code === 'UNCONFIRMED')).toMatchObject({
      reason: expect.stringMatching(/counted 4 failed rows but listed 3/),
    });
    expect(outcomes.filter((o) => o.status === 'delivered')).toHaveLength(
      records.length - bad.length,
    );
  });

  it('a retry after a poll timeout re-attaches to every Bulk job of the batch: no second job, no second matching', async () => {
    sf = await newOrg({ bulkPollsBeforeDone: 3 });
    const records = await sampleRecords(30, 36);
    const d = make(
      options({
        matching: { onUnmatched: 'create', rules: [{ name: 'email', match: { Email: 'email' } }] },
        bulkThreshold: 10,
        bulkPollSeconds: 0.5,
      }),
    );
    const first = await d.deliver(batch(records, 'slow-eda')).catch((e: unknown) => e);
    expect(first).toMatchObject({ kind: 'timeout' });
    const matching = { query: sf.calls.query, contacts: sf.records('Contact').length };
    let outcome: unknown = first;
    let attempts = 1;
    for (; attempts < 8 && !Array.isArray(outcome); attempts++)
      outcome = await d.deliver(batch(records, 'slow-eda')).catch((e: unknown) => e);
    expect(Array.isArray(outcome), String(outcome)).toBe(true);
    expect(attempts).toBeGreaterThan(2); // the children's job timed out too, and was waited for
    expect((outcome as RecordOutcome[]).filter((o) => o.status !== 'delivered')).toEqual([]);
    // One job for the tests, one for their scores; matched (and Contacts created) once.
    expect([...sf.bulkJobs.values()].map((j) => j.object)).toEqual([
      'hed__Test__c',
      'hed__Test_Score__c',
    ]);
    expect({ query: sf.calls.query, contacts: sf.records('Contact').length }).toEqual(matching);
  });

  it('Bulk calls count against the allowance: the estimate matches the org, and maxApiShare stops Bulk work', async () => {
    const records = await sampleRecords(30, 37);
    contactsFor(records);
    const d = make(customBulk(5)) as unknown as {
      deliver(b: DeliveryBatch): Promise<RecordOutcome[]>;
      usage(): { used: number };
    };
    const counted = await d.deliver(batch(records, 'count-bulk'));
    expect(counted.filter((o) => o.status !== 'delivered')).toEqual([]);
    expect(sf.calls.bulk).toBeGreaterThan(3);
    expect(d.usage().used).toBe(sf.usage.used);

    // Two calls left in ScoreBridge's share once matching is done: the Bulk job stops there.
    sf = await newOrg();
    contactsFor(records);
    const shared = make(customBulk(5, { maxApiShare: 0.5 }));
    await shared.check(); // describes Contact and TOEFL_Score__c, once
    sf.usage.limit = 1000;
    sf.usage.used = 497; // matching's query makes it 498
    const error = await shared.deliver(batch(records, 'share-bulk')).catch((e: unknown) => e);
    expect(error).toMatchObject({ kind: 'rate-limit' });
    expect(sf.usage.used).toBe(500); // create and upload; close was not sent
  });
});
