import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { inspect } from 'node:util';
import {
  createToeflAccessClient,
  type ParsedEntry,
  planSlices,
  SourceError,
  type SourceEvent,
  serializeError,
  sourceErrorFor,
  type ToeflAccessClientOptions,
} from '@scorebridge/core';
import {
  EXPIRED_KEY,
  PENDING_ACCOUNT_KEY,
  type Sandbox,
  type SandboxOptions,
  sandboxLayout1600,
  startSandbox,
  UNAUTHENTICATED_KEY,
} from '@scorebridge/sandbox';
import { afterEach, describe, expect, it } from 'vitest';

const NOW = new Date('2026-11-01T00:00:00Z');
const DAY = 86_400_000;
// A valid key in ETS's format whose decoded secret is a canary: it must never appear in output.
const CANARY_KEY = Buffer.from('canary-client:CANARYSECRET4242').toString('base64');

const open: Sandbox[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});

async function sandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const s = await startSandbox({
    seed: 5,
    records: 1500,
    days: 120,
    now: NOW,
    authcode: CANARY_KEY,
    ...options,
  });
  open.push(s);
  return s;
}

/** A client with fast retries, recording its events as JSON (as a log would). */
function client(s: Sandbox, options: Partial<ToeflAccessClientOptions> = {}) {
  const events: string[] = [];
  const c = createToeflAccessClient({
    baseUrl: s.scoresUrl,
    authcode: s.authcode,
    layouts: [sandboxLayout1600()],
    retry: { baseDelayMs: 5, maxDelayMs: 20 },
    serverErrorPauseMs: 5,
    idleTimeoutMs: 500,
    onEvent: (e: SourceEvent) => events.push(JSON.stringify(e)),
    ...options,
  });
  return { c, events };
}

async function collect(it: AsyncGenerator<ParsedEntry[]>): Promise<ParsedEntry[]> {
  const out: ParsedEntry[] = [];
  for await (const batch of it) out.push(...batch);
  return out;
}

async function failure(it: AsyncGenerator<ParsedEntry[]>): Promise<SourceError> {
  try {
    await collect(it);
  } catch (error) {
    return error as SourceError;
  }
  throw new Error('expected the fetch to fail');
}

/** Everything a person or a log could see of an error. */
function everywhere(error: unknown, events: string[]): string {
  return [
    String(error),
    inspect(error, { depth: 10 }),
    JSON.stringify(serializeError(error)),
    ...events,
  ].join('\n');
}

const ids = (entries: ParsedEntry[]) =>
  entries.map((e) => `${e.record!.recordKey}#${e.record!.contentHash}`);

describe('TOEFL Access client against the sandbox', () => {
  it("builds ETS's request: dates in UTC, type, reportby, key in the authcode header only", async () => {
    const s = await sandbox();
    const { c } = client(s);
    const entries = await collect(
      c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-08T12:00:00Z')),
    );
    expect(entries.length).toBeGreaterThan(0);
    expect(s.requests).toEqual([
      expect.objectContaining({
        path: '/scores',
        query: {
          startdate: '2026-10-01T00:00:00',
          enddate: '2026-10-08T12:00:00',
          type: 'TOEFL',
          reportby: 'scorelinkbyreportdate',
        },
        key: 'valid',
        status: 200,
      }),
    ]);
  });

  it('fetches 95 days as 4 requests of at most 30 days, with no record lost or doubled at the edges', async () => {
    const s = await sandbox();
    const { c } = client(s);
    // Place the window so that the second slice starts exactly on a second two reports share.
    const offset = planSlices(new Date(0), new Date(95 * DAY))[1]!.from.getTime();
    const shared = Array.from({ length: s.data.size - 1 }, (_, i) => i + 1)
      .filter(
        (i) => s.data.record(i).reportedAt.getTime() === s.data.record(i - 1).reportedAt.getTime(),
      )
      .map((i) => s.data.record(i).reportedAt.getTime())
      .find(
        (t) => t - offset >= NOW.getTime() - 120 * DAY && t - offset + 95 * DAY <= NOW.getTime(),
      )!;
    const from = new Date(shared - offset);
    const to = new Date(from.getTime() + 95 * DAY);
    const entries = await collect(c.fetch(from, to));
    expect(s.requests).toHaveLength(4);
    expect(`${s.requests[1]!.query.startdate}Z`).toBe(
      new Date(shared).toISOString().replace('.000', ''),
    );
    for (const r of s.requests) {
      expect(
        Date.parse(`${r.query.enddate}Z`) - Date.parse(`${r.query.startdate}Z`),
      ).toBeLessThanOrEqual(30 * DAY);
    }
    // The sandbox answers inclusively at both ends: boundary records come twice and must be kept once.
    const served = s.requests.reduce((n, r) => n + r.records, 0);
    const { start, end } = s.data.select(from, to);
    expect(served).toBeGreaterThanOrEqual(end - start + 2);
    expect(entries.every((e) => e.issues.length === 0)).toBe(true);
    expect(new Set(ids(entries)).size).toBe(entries.length);
    expect(entries).toHaveLength(end - start);
  });

  it('reads iBT26 sub-fields, both scales and re-sent reports', async () => {
    const s = await sandbox({ records: 3000 });
    const { c } = client(s);
    const entries = await collect(c.fetch(new Date(NOW.getTime() - 120 * DAY), NOW));
    const records = entries.map((e) => e.record!);
    const scales = new Set(records.map((r) => r.scale));
    expect([...scales].sort()).toEqual(['essentials', 'ibt', 'ibt26']);
    const band = records.find((r) => r.scale === 'ibt26')!;
    expect(band.fields.ibt26Total).toEqual(expect.any(Number));
    expect(band.fields.ibt26CefrTotal).toMatch(/^[ABC][12]$/);
    const byKey = new Map<string, number>();
    for (const r of records) byKey.set(r.recordKey, (byKey.get(r.recordKey) ?? 0) + 1);
    expect([...byKey.values()].some((n) => n > 1)).toBe(true);
  });

  it('reads JSON responses through the default key mapping', async () => {
    const s = await sandbox();
    const { c } = client(s, { format: 'json' });
    const entries = await collect(
      c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-15T00:00:00Z')),
    );
    expect(s.requests[0]!.query.format).toBe('json');
    expect(entries.length).toBeGreaterThan(0);
    expect(entries.every((e) => e.issues.length === 0)).toBe(true);
    expect(entries[0]!.record!.fields.institutionCode).toBe('1234');
  });

  it.each([
    [PENDING_ACCOUNT_KEY, 401, 'account-inactive', /pending for two business days/],
    [EXPIRED_KEY, 401, 'key-rejected', /likely expired/],
    [UNAUTHENTICATED_KEY, 401, 'not-authenticated', /Check that the key is this institution's/],
    ['CANARY not base64!', 400, 'malformed-key', /not in the format ETS issues/],
  ])(
    "maps a rejected key (%#) to an auth error with ETS's remedy, without retrying",
    async (key, status, code, remedy) => {
      const s = await sandbox();
      const { c, events } = client(s, { authcode: key });
      const error = await failure(
        c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z')),
      );
      expect(error).toMatchObject({ name: 'SourceError', kind: 'auth', status, code });
      expect(error.remedy).toMatch(remedy);
      expect(s.requests).toHaveLength(1);
      expect(everywhere(error, events)).not.toMatch(/CANARY/);
    },
  );

  it.each([
    [{ type: '' }, 'type/program is required'],
    [{ reportBy: '' }, 'reportby is required'],
  ])(
    'maps a missing parameter to a bad-request error that says what to fix',
    async (options, text) => {
      const s = await sandbox();
      const { c } = client(s, options);
      const error = await failure(
        c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z')),
      );
      expect(error).toMatchObject({ kind: 'bad-request', status: 400, code: 'missing-parameter' });
      expect(error.message).toContain(`→ 400 ${text}`);
      expect(error.remedy).toMatch(/Check the source settings/);
    },
  );

  it('maps every documented error text, in a text or a JSON body', () => {
    const cases: [number, string, string, string][] = [
      [400, 'startdate is required', 'bad-request', 'missing-parameter'],
      [400, 'enddate is required', 'bad-request', 'missing-parameter'],
      [400, 'type/program is required', 'bad-request', 'missing-parameter'],
      [400, 'reportby is required', 'bad-request', 'missing-parameter'],
      [400, 'Invalid credentials format', 'auth', 'malformed-key'],
      [401, 'authcode is required', 'auth', 'missing-key'],
      [401, 'Authcode validation failed', 'auth', 'key-rejected'],
      [401, 'Authcode validation failed due to an error', 'auth', 'account-inactive'],
      [401, 'User is not authenticated', 'auth', 'not-authenticated'],
      [403, 'Forbidden', 'forbidden', 'forbidden'],
      [500, 'Internal Server Error', 'unavailable', 'server-error'],
      [502, '<html><body>Bad Gateway</body></html>', 'unavailable', 'service-unavailable'],
      [418, 'I am a teapot', 'bad-request', 'unexpected-status'],
    ];
    for (const [status, text, kind, code] of cases) {
      for (const body of [
        text,
        JSON.stringify({ status, message: text }),
        JSON.stringify({ errors: [{ message: text }] }),
      ]) {
        const error = sourceErrorFor('GET https://ets.example/scores?startdate=x', status, body);
        expect(error, `${status} ${body}`).toMatchObject({ kind, code, status });
        expect(error.remedy).toBeTruthy();
      }
    }
  });

  it('answers 403 with what to send ETS support, without retrying', async () => {
    const s = await sandbox({ faults: [{ kind: 'status', status: 403 }], errorFormat: 'json' });
    const { c } = client(s);
    const error = await failure(
      c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z')),
    );
    expect(error).toMatchObject({ kind: 'forbidden', code: 'forbidden', status: 403 });
    expect(error.remedy).toMatch(
      /institution, the time \(UTC\), this message and the request details — never the key/,
    );
    expect(s.requests).toHaveLength(1);
  });

  it('survives a burst of 500s: retries, then smaller windows; counts consecutive 500s', async () => {
    const s = await sandbox({ faults: [{ kind: 'status', status: 500, count: 3 }] });
    const { c, events } = client(s);
    const from = new Date('2026-10-01T00:00:00Z');
    const to = new Date('2026-10-09T00:00:00Z');
    const entries = await collect(c.fetch(from, to));
    const { start, end } = s.data.select(from, to);
    expect(entries).toHaveLength(end - start);
    const responses = events.map((e) => JSON.parse(e)).filter((e) => e.type === 'response');
    expect(responses.slice(0, 3).map((e) => e.consecutiveServerErrors)).toEqual([1, 2, 3]);
    expect(responses.at(-1).consecutiveServerErrors).toBe(0);
    expect(events.some((e) => e.includes('"type":"split"'))).toBe(true);
    expect(c.stats.consecutiveServerErrors).toBe(0);
  });

  it("gives up on 500s when the retry budget is spent, with ETS's advice", async () => {
    const s = await sandbox({ faults: [{ kind: 'status', status: 500, count: 100 }] });
    const { c } = client(s, {
      retry: { retries: 2, baseDelayMs: 1, maxDelayMs: 2 },
      minSplitDays: 30,
    });
    const error = await failure(
      c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z')),
    );
    expect(error).toMatchObject({ kind: 'unavailable', code: 'server-error', status: 500 });
    expect(error.remedy).toMatch(/5–10 minutes/);
    expect(s.requests).toHaveLength(3);
    expect(c.stats.consecutiveServerErrors).toBe(3);
  });

  it('honours Retry-After on 429', async () => {
    const s = await sandbox({ faults: [{ kind: 'status', status: 429, retryAfter: 1 }] });
    const { c, events } = client(s);
    await collect(c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z')));
    const retry = events.map((e) => JSON.parse(e)).find((e) => e.type === 'retry');
    expect(retry.delayMs).toBeGreaterThanOrEqual(1000);
    expect(retry.error).toMatchObject({ kind: 'rate-limit', status: 429 });
  });

  it('times out a hung request and retries it', async () => {
    const s = await sandbox({ faults: [{ kind: 'hang' }] });
    const { c, events } = client(s, { idleTimeoutMs: 200 });
    const entries = await collect(
      c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-03T00:00:00Z')),
    );
    expect(entries.length).toBeGreaterThan(0);
    expect(events.map((e) => JSON.parse(e)).find((e) => e.type === 'retry').error).toMatchObject({
      kind: 'timeout',
    });
  });

  it('re-fetches a body cut off mid-stream without repeating records', async () => {
    const s = await sandbox({ faults: [{ kind: 'truncate', afterBytes: 40_000, count: 2 }] });
    const { c, events } = client(s);
    const from = new Date('2026-09-01T00:00:00Z');
    const entries = await collect(c.fetch(from, NOW));
    const { start, end } = s.data.select(from, NOW);
    expect(events.filter((e) => e.includes('"code":"truncated"'))).toHaveLength(2);
    expect(new Set(ids(entries)).size).toBe(entries.length);
    expect(entries).toHaveLength(end - start);
  });

  it('enforces the whole-response deadline on a slow body', async () => {
    const s = await sandbox({ faults: [{ kind: 'slow', delayMs: 150, count: 10 }] });
    const { c } = client(s, {
      deadlineMs: 300,
      retry: { retries: 1, baseDelayMs: 1, maxDelayMs: 1 },
    });
    const error = await failure(c.fetch(new Date('2026-07-04T00:00:00Z'), NOW));
    expect(error).toMatchObject({ kind: 'timeout', code: 'timeout' });
  });

  it('never follows a redirect: the other host never sees the key', async () => {
    const seen: IncomingHttpHeaders[] = [];
    const other = createServer((req, res) => {
      seen.push(req.headers);
      res.end('');
    });
    other.listen(0, '127.0.0.1');
    await once(other, 'listening');
    const target = `http://127.0.0.1:${(other.address() as AddressInfo).port}/steal?x=1`;
    try {
      const s = await sandbox({ faults: [{ kind: 'redirect', location: target }] });
      const { c, events } = client(s);
      const error = await failure(
        c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z')),
      );
      expect(error).toMatchObject({ kind: 'config', code: 'redirect', status: 302 });
      expect(error.message).toContain(
        `redirect to http://127.0.0.1:${(other.address() as AddressInfo).port}, not followed`,
      );
      expect(error.message).not.toContain('steal');
      expect(seen).toEqual([]);
      expect(everywhere(error, events)).not.toMatch(/CANARY/);
    } finally {
      other.close();
    }
  });

  it('a 200 whose body is not scores is a protocol error, not a dead letter: one test per shape', async () => {
    const shapes: [string, string, string, RegExp][] = [
      ['a bare ok', 'scorelink', 'ok', /it is text whose first line is 2 characters long/],
      ['ok and a line break', 'scorelink', 'OK\r\n', /first line is 2 characters long/],
      [
        "a proxy's login page",
        'scorelink',
        '<!DOCTYPE html><html><body>Sign in</body></html>',
        /it is an HTML or XML document/,
      ],
      ['JSON while ScoreLink was asked', 'scorelink', '{"data":[]}', /it is JSON/],
      ['a message while JSON was asked', 'json', '{"message":"maintenance"}', /no "data" array/],
      [
        'text while JSON was asked',
        'json',
        'ok',
        /the body is not JSON: it holds no object or array/,
      ],
    ];
    for (const [name, format, body, message] of shapes) {
      const s = await sandbox({ faults: [{ kind: 'body', body, count: 10 }] });
      const { c } = client(s, { format: format as 'scorelink' | 'json', retry: { retries: 0 } });
      const error = await failure(
        c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z')),
      );
      expect(error, name).toBeInstanceOf(SourceError);
      expect(error, name).toMatchObject({ kind: 'parse', code: 'bad-body' });
      expect(error.message, name).toMatch(
        /^\[toefl-access\] GET http:\/\/127\.0\.0\.1:\d+\/scores\?/,
      );
      expect(error.message, name).toMatch(message);
      expect(error.remedy, name).toMatch(/check the base URL/);
    }
    // An empty body is no records, not an error.
    const empty = await sandbox({ faults: [{ kind: 'body', body: '', count: 10 }] });
    const { c } = client(empty);
    expect(
      await collect(c.fetch(new Date('2026-10-01T00:00:00Z'), new Date('2026-10-02T00:00:00Z'))),
    ).toEqual([]);
  });

  it('keeps the key out of every error, event and log line across failures', async () => {
    const s = await sandbox({
      faults: [
        { kind: 'status', status: 500 },
        { kind: 'hang' },
        { kind: 'truncate', afterBytes: 5000 },
        { kind: 'status', status: 503 },
        { kind: 'status', status: 403 },
      ],
    });
    const { c, events } = client(s, { idleTimeoutMs: 200, minSplitDays: 30 });
    const error = await failure(c.fetch(new Date('2026-09-01T00:00:00Z'), NOW));
    expect(error.kind).toBe('forbidden');
    expect(events.length).toBeGreaterThan(8);
    const text = everywhere(error, events);
    expect(text).not.toContain(CANARY_KEY);
    expect(text).not.toMatch(/CANARY/);
  });

  it('refuses a base URL with credentials in it, and an empty key', () => {
    expect(() =>
      createToeflAccessClient({ baseUrl: 'https://user:pw@ets.example/scores', authcode: 'x' }),
    ).toThrow(/must not hold a user name or password/);
    expect(() =>
      createToeflAccessClient({ baseUrl: 'ftp://ets.example/scores', authcode: 'x' }),
    ).toThrow(/ftp: is not supported/);
    expect(() =>
      createToeflAccessClient({ baseUrl: 'https://ets.example/scores', authcode: '' }),
    ).toThrow(/key is empty/);
  });
});
