import { parseAll } from '@scorebridge/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseFaults } from './faults.js';
import {
  EXPIRED_KEY,
  PENDING_ACCOUNT_KEY,
  type Sandbox,
  sandboxLayout1600,
  startSandbox,
  UNAUTHENTICATED_KEY,
} from './server.js';

const SECOND_KEY = Buffer.from('second-client:secret').toString('base64');
let s: Sandbox;
beforeAll(async () => {
  s = await startSandbox({
    seed: 4,
    records: 300,
    days: 60,
    now: new Date('2026-11-01T00:00:00Z'),
    authcode: [Buffer.from('first-client:secret').toString('base64'), SECOND_KEY],
  });
});
afterAll(() => s.close());

const query =
  'startdate=2026-09-01T00%3A00%3A00&enddate=2026-11-01T00%3A00%3A00&type=TOEFL&reportby=scorelinkbyreportdate';
const get = (path: string, key: string | null = s.authcode) =>
  fetch(`${s.url}${path}`, { headers: key === null ? {} : { authcode: key } });

describe('sandbox HTTP API', () => {
  it('serves ScoreLink records for the window, readable with its own sub-layout', async () => {
    const res = await get(`/scores?${query}`);
    expect(res.status).toBe(200);
    const body = await res.text();
    const lines = body.split('\r\n').filter(Boolean);
    expect(lines).toHaveLength(300);
    expect(lines.every((l) => l.length === 1600)).toBe(true);
    const entries = await parseAll(body, { layouts: [sandboxLayout1600()] });
    expect(entries.every((e) => e.issues.length === 0)).toBe(true);
    const band = entries.find((e) => e.record!.scale === 'ibt26')!.record!;
    expect(band.fields.ibt26Total).toEqual(expect.any(Number));
    // Without the sub-layout the block stays raw, as with ETS's real feed.
    const [plain] = await parseAll(band.raw);
    expect(plain!.record!.fields.ibt26Block).toEqual(expect.any(String));
  });

  it('serves JSON with format=json', async () => {
    const res = await get(`/scores?${query}&format=json`);
    expect(res.headers.get('content-type')).toMatch(/application\/json/);
    const json = (await res.json()) as { data: Record<string, unknown>[] };
    expect(json.data).toHaveLength(300);
    expect(json.data[0]).toMatchObject({ institution_code: '1234' });
  });

  it.each([
    [
      'startdate',
      'enddate=2026-11-01T00:00:00&type=TOEFL&reportby=scorelinkbyreportdate',
      'startdate is required',
    ],
    [
      'enddate',
      'startdate=2026-09-01T00:00:00&type=TOEFL&reportby=scorelinkbyreportdate',
      'enddate is required',
    ],
    [
      'type',
      'startdate=2026-09-01T00:00:00&enddate=2026-11-01T00:00:00&reportby=scorelinkbyreportdate',
      'type/program is required',
    ],
    [
      'reportby',
      'startdate=2026-09-01T00:00:00&enddate=2026-11-01T00:00:00&type=TOEFL',
      'reportby is required',
    ],
    [
      'bad date',
      'startdate=2026-09-01&enddate=2026-11-01T00:00:00&type=TOEFL&reportby=scorelinkbyreportdate',
      'startdate must be an ISO 8601 date-time in UTC (YYYY-MM-DDTHH:mm:ss)',
    ],
    [
      'order',
      'startdate=2026-11-01T00:00:00&enddate=2026-09-01T00:00:00&type=TOEFL&reportby=scorelinkbyreportdate',
      'enddate must be after startdate',
    ],
  ])("refuses a request without %s with 400 and ETS's text", async (_, q, text) => {
    const res = await get(`/scores?${q}`);
    expect(res.status).toBe(400);
    expect(await res.text()).toBe(text);
  });

  it.each([
    [null, 401, 'authcode is required', 'missing'],
    ['not base64 at all', 400, 'Invalid credentials format', 'malformed'],
    [Buffer.from('no-colon').toString('base64'), 400, 'Invalid credentials format', 'malformed'],
    [PENDING_ACCOUNT_KEY, 401, 'Authcode validation failed due to an error', 'pending'],
    [EXPIRED_KEY, 401, 'Authcode validation failed', 'expired'],
    [UNAUTHENTICATED_KEY, 401, 'User is not authenticated', 'not-authenticated'],
    [Buffer.from('someone:else').toString('base64'), 401, 'Authcode validation failed', 'unknown'],
    [SECOND_KEY, 200, undefined, 'valid'],
  ])('judges the key %#', async (key, status, text, judged) => {
    const res = await get(`/scores?${query}`, key);
    expect(res.status).toBe(status);
    if (text) expect(await res.text()).toBe(text);
    expect(s.requests.at(-1)).toMatchObject({ key: judged, status });
  });

  it("serves ETS's 11 sample score sets: 9 on the 0–120 scale, 2 on the 1–6 scale", async () => {
    const entries = await parseAll(await (await get(`/scores/sample-data?${query}`)).text(), {
      layouts: [sandboxLayout1600()],
    });
    expect(entries.map((e) => e.record!.scale)).toEqual([
      ...Array(9).fill('ibt'),
      'ibt26',
      'ibt26',
    ]);
  });

  it('injects faults from the admin API, logs requests without the key', async () => {
    const added = await fetch(`${s.url}/_sandbox/faults`, {
      method: 'POST',
      body: JSON.stringify({ faults: [{ kind: 'status', status: 503, count: 2 }] }),
    });
    expect(await added.json()).toEqual({ pending: 2 });
    expect((await get(`/scores?${query}`)).status).toBe(503);
    expect((await get(`/scores?${query}`)).status).toBe(503);
    expect((await get(`/scores?${query}`)).status).toBe(200);
    const log = await (await fetch(`${s.url}/_sandbox/requests`)).text();
    expect(log).toContain('"fault":"status"');
    expect(log).not.toContain(s.authcode);
  });

  it('reads fault lists as the CLI gives them', () => {
    expect(
      parseFaults(
        '500x3, 403,429:30,hang,slow:200,truncate:5000x2,body:okx2,redirect:http://127.0.0.2:9/scores',
      ),
    ).toEqual([
      { kind: 'status', status: 500, retryAfter: undefined, count: 3 },
      { kind: 'status', status: 403, retryAfter: undefined, count: 1 },
      { kind: 'status', status: 429, retryAfter: 30, count: 1 },
      { kind: 'hang', count: 1 },
      { kind: 'slow', delayMs: 200, count: 1 },
      { kind: 'truncate', afterBytes: 5000, count: 2 },
      { kind: 'body', body: 'ok', count: 2 },
      { kind: 'redirect', location: 'http://127.0.0.2:9/scores', count: 1 },
    ]);
    expect(() => parseFaults('explode')).toThrow(/"explode" is not a fault/);
  });
});
