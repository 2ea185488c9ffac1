import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { EXPIRED_KEY, type Sandbox, startSandbox } from '@scorebridge/sandbox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { run } from '../testing/run.test-helpers.js';

const bin = fileURLToPath(new URL('../../bin/scorebridge.js', import.meta.url));
const CANARY_KEY = Buffer.from('canary:CANARYSECRET77').toString('base64');
let s: Sandbox;
beforeAll(async () => {
  s = await startSandbox({
    seed: 2,
    records: 400,
    days: 60,
    now: new Date('2026-11-01T00:00:00Z'),
    authcode: CANARY_KEY,
  });
});
afterAll(() => s.close());
afterEach(() => {
  delete process.env.SB_TEST_KEY;
  s.faults.clear();
});

const args = (from = '2026-09-03', to = '2026-11-01') => [
  'fetch',
  '--base-url',
  s.scoresUrl,
  '--authcode-env',
  'SB_TEST_KEY',
  '--from',
  from,
  '--to',
  to,
];

describe('scorebridge fetch', () => {
  it('fetches a window in slices and prints the records, with progress on stderr', async () => {
    process.env.SB_TEST_KEY = CANARY_KEY;
    const { code, stdout, stderr } = await run(args());
    expect(code).toBe(0);
    const records = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    const { start, end } = s.data.select(
      new Date('2026-09-03T00:00:00Z'),
      new Date('2026-11-01T00:00:00Z'),
    );
    expect(records).toHaveLength(end - start);
    expect(records[0]).toMatchObject({ institutionCode: '1234', recordKey: expect.any(String) });
    expect(stderr).toMatch(
      /fetching 2026-09-03T00:00:00–2026-11-01T00:00:00 from 127\.0\.0\.1:\d+ in 2 requests of at most 30 days/,
    );
    expect(stderr).toMatch(
      /done in [\d.]+ s: \d+ records: \d+ good, 0 with issues \(2 requests, 0 retries\)/,
    );
    expect(stdout + stderr).not.toMatch(/CANARY/);
  });

  it('shows retries and carries on through a burst of server errors', async () => {
    process.env.SB_TEST_KEY = CANARY_KEY;
    s.faults.add({ kind: 'status', status: 503, count: 1 });
    const { code, stderr } = await run([...args('2026-10-01', '2026-10-03'), '--out', 'csv']);
    expect(code).toBe(0);
    expect(stderr).toMatch(/→ 503 Internal Server Error; retrying in [\d.]+ s/);
  });

  it('after an HTTP 500 says at once that it waits 5–10 minutes, as ETS advises, not after the wait', async () => {
    s.faults.add({ kind: 'status', status: 500, count: 1 });
    const child = spawn(process.execPath, [bin, ...args('2026-10-01', '2026-10-03')], {
      env: { ...process.env, SB_TEST_KEY: CANARY_KEY },
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    child.stdout.resume();
    try {
      await expect
        .poll(() => stderr)
        .toMatch(/→ 500 Internal Server Error; retrying in (\d+)\.\d s\n/);
      const seconds = Number(/retrying in (\d+)\.\d s/.exec(stderr)![1]);
      expect(seconds).toBeGreaterThanOrEqual(300);
      expect(seconds).toBeLessThanOrEqual(600);
      // It is still waiting: the line came before the pause, not after it.
      expect(child.exitCode).toBeNull();
    } finally {
      child.kill('SIGTERM');
      await once(child, 'close');
    }
  });

  it('says what to do when the key is rejected, with exit status 3 and no retry', async () => {
    process.env.SB_TEST_KEY = EXPIRED_KEY;
    const before = s.requests.length;
    const { code, stderr } = await run(args('2026-10-01', '2026-10-02'));
    expect(code).toBe(3);
    expect(stderr).toMatch(
      /scorebridge: error: \[toefl-access\] GET http:\/\/127\.0\.0\.1:\d+\/scores\?startdate=2026-10-01T00%3A00%3A00&enddate=2026-10-02T00%3A00%3A00&type=TOEFL&reportby=scorelinkbyreportdate → 401 Authcode validation failed\n/,
    );
    expect(stderr).toMatch(
      /scorebridge: what to do: ETS rejected the key: it is wrong or has expired/,
    );
    expect(s.requests.length - before).toBe(1);
  });

  it('explains a missing key variable and a bad date, with exit status 2', async () => {
    const missing = await run(args());
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/the environment variable SB_TEST_KEY is not set/);
    process.env.SB_TEST_KEY = CANARY_KEY;
    const date = await run(args('2026-13-01'));
    expect(date.code).toBe(2);
    expect(date.stderr).toMatch(/--from: "2026-13-01" is not a date/);
  });

  it('--plan prints the requests a window needs and makes none; --json as data', async () => {
    const before = s.requests.length;
    const text = await run([...args('2026-09-03', '2026-11-01'), '--plan']);
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(
      /^2 requests of at most 30 days to 127\.0\.0\.1:\d+ \(none made\):\n {2}startdate=2026-09-03T00:00:00 enddate=2026-10-02T12:00:00\n {2}startdate=2026-10-02T11:59:59 enddate=2026-11-01T00:00:00\n$/,
    );
    const json = JSON.parse(
      (await run([...args('2026-09-03', '2026-11-01'), '--plan', '--json'])).stdout,
    );
    expect(json).toMatchObject({ version: 1, kind: 'fetch-plan', maxWindowDays: 30 });
    expect(json.slices).toEqual([
      { startdate: '2026-09-03T00:00:00', enddate: '2026-10-02T12:00:00' },
      { startdate: '2026-10-02T11:59:59', enddate: '2026-11-01T00:00:00' },
    ]);
    expect(s.requests.length).toBe(before);
  });

  it('tells how to test a new key with a small range', async () => {
    const { stdout } = await run(['fetch', '--help']);
    expect(stdout).toMatch(/ETS advises testing a new key with a small date range first/);
  });
});
