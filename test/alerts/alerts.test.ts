import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { EXPIRED_KEY, PENDING_ACCOUNT_KEY } from '@scorebridge/sandbox';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../adapters/webhook/src/receiver.test-helpers.js';
import { NOW, type Setup, setup } from '../harness/pipeline.js';
import { startSalesforceEmulator } from '../salesforce/emulator.js';
import { startSlackReceiver } from '../slack/receiver.js';

/**
 * Slack alerts from inline runs: each cause triggered for real (sandbox and emulator faults),
 * one message per incident, a "resolved" follow-up when it clears, within Slack's limits, never a
 * secret or a test taker's data.
 */

const BIN = fileURLToPath(new URL('../../packages/cli/bin/scorebridge.js', import.meta.url));
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

const SLACK = (extra = '') => `notifications:
  slack:
    webhookUrl: \${env:SB_SLACK}
    mention: '<!subteam^S0ADMISSIONS>'
${extra}`;

async function withSlack(options: Parameters<typeof setup>[0] & { slackExtra?: string } = {}) {
  const slack = await startSlackReceiver();
  cleanups.push(slack.close);
  const s = await setup({
    ...options,
    extra: `${options.extra ?? ''}\n${SLACK(options.slackExtra)}`,
    env: { ...options.env, SB_SLACK: slack.url },
  });
  cleanups.push(() => s.close());
  return { slack, s };
}

/** The sandbox's people, for canaries: names and e-mail addresses of five characters or more. */
function personalData(s: Setup): string[] {
  const out = new Set<string>();
  for (let i = 0; i < s.sandbox.data.size; i++) {
    const f = s.sandbox.data.record(i).fields;
    for (const v of [f.lastName, f.firstName, f.email])
      if (typeof v === 'string' && v.trim().length >= 5) out.add(v.trim());
  }
  return [...out];
}

/** A Salesforce destination on the emulator at $SF_URL, with client credentials from $SF_SECRET. */
const salesforceYaml = (extra = '') => `  - id: crm
    type: salesforce
    options:
      loginUrl: \${env:SF_URL}
      auth: { type: client-credentials, clientId: app, clientSecret: '\${env:SF_SECRET}' }
      profile: eda${extra}`;

function expectClean(all: string, canaries: readonly string[]) {
  for (const c of canaries)
    expect(all.includes(c), `a Slack message holds ${c.slice(0, 4)}…`).toBe(false);
}

describe('Slack alerts', () => {
  it('an expired key: one alert with ETS remedy, no repeat while it lasts, a resolved follow-up once fixed', async () => {
    const { slack, s } = await withSlack({ sandbox: { records: 50 } });
    const good = s.env.SB_KEY!;
    s.env.SB_KEY = EXPIRED_KEY;
    await s.run();
    await s.run();
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]!.text).toMatch(
      /test: TOEFL Access rejected the API key \(expired or wrong\)/,
    );
    expect(slack.all()).toContain('Generate a new key in TOEFL Access → Integrations');
    expect(slack.all()).toContain('<!subteam^S0ADMISSIONS>');
    // `scorebridge status` shows the open incident.
    const status = spawnSync(
      process.execPath,
      [BIN, 'status', s.pipelineFile, '--state-dir', s.stateDir],
      { env: s.env, encoding: 'utf8' },
    );
    expect(status.stdout).toMatch(
      /Open alerts:\n {2}TOEFL Access rejected the API key \(expired or wrong\) \(source:key-rejected, since /,
    );
    s.env.SB_KEY = good;
    const fixed = await s.run();
    expect(fixed.ok).toBe(true);
    expect(slack.posts).toHaveLength(2);
    expect(slack.posts[1]!.text).toMatch(/Resolved: test: TOEFL Access rejected the API key/);
    expectClean(slack.all(), [EXPIRED_KEY, good, slack.url, ...personalData(s)]);
  });

  it('a pending account and a malformed key each name their own remedy', async () => {
    const { slack, s } = await withSlack({ sandbox: { records: 20 } });
    s.env.SB_KEY = PENDING_ACCOUNT_KEY;
    await s.run();
    expect(slack.posts[0]!.text).toMatch(/could not validate the API key \(new account pending/);
    expect(slack.all()).toMatch(/pending for two business days/);
    s.env.SB_KEY = 'this is not a key!';
    await s.run();
    expect(slack.posts[1]!.text).toMatch(/The TOEFL Access API key is malformed/);
    expect(slack.all()).toMatch(/Generate a new key in TOEFL Access/);
    expectClean(slack.all(), [PENDING_ACCOUNT_KEY, 'this is not a key!']);
  });

  it('a 403 from TOEFL Access', async () => {
    const { slack, s } = await withSlack({
      sandbox: { records: 20, faults: [{ kind: 'status', status: 403 }] },
    });
    await s.run();
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]!.text).toMatch(/TOEFL Access refused access \(HTTP 403\)/);
    expect(slack.all()).toMatch(/Contact ETS support/);
  });

  it('HTTP 500s in a row from TOEFL Access', async () => {
    const { slack, s } = await withSlack({
      sandbox: { records: 20, faults: [{ kind: 'status', status: 500, count: 3 }] },
    });
    const summary = await s.run();
    expect(summary.ok).toBe(true); // retried, smaller windows, fetched in the end
    expect(slack.posts.map((p) => p.text)).toEqual([
      expect.stringMatching(/TOEFL Access answered 3 times in a row with a server error/),
    ]);
    await s.run();
    expect(slack.posts[1]!.text).toMatch(/Resolved: .*server error/);
  });

  it('a destination misconfigured, then fixed', async () => {
    const { slack, s } = await withSlack({
      sandbox: { records: 30 },
      destinationsYaml: `  - id: drop
    type: file
    options:
      directory: \${env:SB_DIR}
      format: ndjson`,
      env: { SB_DIR: '/etc/hostname/drop' },
    });
    await s.run();
    expect(slack.posts[0]!.text).toMatch(/drop is misconfigured/);
    s.env.SB_DIR = `${s.dir}/drop`;
    await s.run();
    // One incident, one resolution (its cursor never moved: there was no lag to report apart).
    expect(slack.posts.map((p) => p.text)).toEqual([
      expect.stringMatching(/drop is misconfigured/),
      expect.stringMatching(/^✅ Resolved: test: drop is misconfigured$/),
    ]);
  });

  it('a webhook endpoint that answered 410 Gone', async () => {
    const hook = await startReceiver(
      ['whsec_c2xhY2stdGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tzISE='],
      () => 410,
    );
    cleanups.push(hook.close);
    const { slack, s } = await withSlack({
      sandbox: { records: 20 },
      env: { SB_WHSEC: 'whsec_c2xhY2stdGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tzISE=' },
      destinationsYaml: `  - id: hook
    type: webhook
    options:
      url: ${hook.url}
      secrets: ['\${env:SB_WHSEC}']
      allowHttp: true
      allowPrivateNetwork: true`,
    });
    await s.run();
    expect(slack.posts[0]!.text).toMatch(
      /The hook endpoint asked not to be called again \(disabled\)/,
    );
    expectClean(slack.all(), ['whsec_c2xhY2stdGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tzISE=', hook.url]);
  });

  it("a destination that refuses ScoreBridge's credentials", async () => {
    const org = await startSalesforceEmulator({ clientId: 'app', clientSecret: 'the-right-one' });
    cleanups.push(() => org.close());
    const { slack, s } = await withSlack({
      sandbox: { records: 20 },
      env: { SF_SECRET: 'CANARY-ROTATED-SECRET', SF_URL: org.url },
      destinationsYaml: salesforceYaml(),
    });
    await s.run();
    await s.run();
    // Two failing runs, one message (its cursor fell behind too: an incident of its own).
    expect(slack.posts.filter((p) => /credentials/.test(p.text)).map((p) => p.text)).toEqual([
      expect.stringMatching(/test: crm refused ScoreBridge's credentials/),
    ]);
    expect(slack.all()).toMatch(/check the connected app/);
    expectClean(slack.all(), ['CANARY-ROTATED-SECRET']);
  });

  it('the Salesforce API allowance exhausted', async () => {
    const org = await startSalesforceEmulator({
      clientId: 'app',
      clientSecret: 'CANARY-SF-SECRET',
    });
    cleanups.push(() => org.close());
    org.usage.used = org.usage.limit;
    const { slack, s } = await withSlack({
      sandbox: { records: 20 },
      env: { SF_SECRET: 'CANARY-SF-SECRET', SF_URL: org.url },
      destinationsYaml: salesforceYaml('\n      matching: { onUnmatched: create }'),
    });
    await s.run();
    expect(slack.posts[0]!.text).toMatch(/Salesforce API allowance exhausted for crm/);
    expect(slack.all()).toMatch(/Deliveries pause and resume by themselves/);
    expectClean(slack.all(), ['CANARY-SF-SECRET']);
  });

  it('dead letters: counts per kind, once while they stay open', async () => {
    const { slack, s } = await withSlack({ sandbox: { records: 200, corrupt: { every: 25 } } });
    await s.run();
    await s.run();
    expect(slack.posts).toHaveLength(1);
    expect(slack.posts[0]!.text).toMatch(/\d+ record\(s\) need attention \(dead letters\)/);
    expect(slack.all()).toMatch(/This run: \d+ parse/);
    expect(slack.all()).toMatch(/scorebridge dlq list/);
    expectClean(slack.all(), personalData(s));
  });

  it('a cursor that has not moved for too long, and a key older than the rotation period', async () => {
    const { slack, s } = await withSlack({
      sandbox: { records: 20 },
      source: '  keyIssuedOn: 2026-01-05',
      slackExtra: '    cursorStaleHours: 24\n    keyRotationDays: 90',
    });
    await s.run();
    expect(slack.posts.map((p) => p.text)).toEqual([
      expect.stringMatching(/The TOEFL Access API key is more than 90 days old/),
    ]);
    // Three days later, runs fail (ETS refuses access): the cursor stays behind.
    s.sandbox.faults.add({ kind: 'status', status: 403, count: 50 });
    await s.run({ now: new Date(NOW.getTime() + 3 * 86_400_000) });
    const texts = slack.posts.map((p) => p.text).join('\n');
    expect(texts).toMatch(/files has received nothing new for more than 24 hours/);
    expect(texts).toMatch(/refused access \(HTTP 403\)/);
  });

  it('a run whose Slack is unreachable still ends, and logs why (without the URL) as JSON lines', async () => {
    const { slack, s } = await withSlack({ sandbox: { records: 20 } });
    await slack.close();
    s.env.SB_KEY = EXPIRED_KEY;
    // Asynchronously: the sandbox answers from this process.
    const child = spawn(process.execPath, [BIN, 'run', s.pipelineFile, '--state-dir', s.stateDir], {
      env: s.env,
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const [status] = (await once(child, 'exit')) as [number];
    const result = { status, stderr };
    expect(result.status).toBe(3);
    const logged = result.stderr
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { level: number; msg: string });
    expect(logged).toContainEqual(
      expect.objectContaining({
        level: 40,
        msg: expect.stringMatching(/a Slack alert could not be sent: Slack could not be reached/),
      }),
    );
    expect(result.stderr).not.toContain('CANARY-SLACK-PATH');
    expect(result.stderr).not.toContain(EXPIRED_KEY);
  });

  it('paces messages to about one a second, honours a 429, and keeps within Block Kit limits', async () => {
    const { slack, s } = await withSlack({
      sandbox: { records: 20 },
      destinationsYaml: Array.from(
        { length: 4 },
        (_, i) => `  - id: broken${i}
    type: file
    options:
      directory: /etc/hostname/x${'y'.repeat(3000)}${i}
      format: ndjson`,
      ).join('\n'),
    });
    slack.script.push({ status: 429, retryAfter: 1 });
    await s.run();
    // Four misconfigured destinations (and their cursors, behind): every message arrives.
    expect(slack.posts.filter((p) => /is misconfigured/.test(p.text))).toHaveLength(4);
    expect(slack.refused.filter((r) => r.status === 400)).toEqual([]);
    expect(slack.refused.filter((r) => r.status === 429)).toHaveLength(1);
    for (let i = 1; i < slack.posts.length; i++)
      expect(slack.posts[i]!.at - slack.posts[i - 1]!.at).toBeGreaterThanOrEqual(950);
    expect(slack.all()).toContain('…');
  });
});
