import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planSlices } from '@scorebridge/core';
import { createRedisStateStore, loadPipeline, QUEUES } from '@scorebridge/runtime';
import { Queue } from 'bullmq';
import type { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../adapters/webhook/src/receiver.test-helpers.js';
import {
  ADAPTERS,
  FIRST_RUN,
  groundTruth,
  NOW,
  type Setup,
  storedVersions,
} from '../harness/pipeline.js';
import { type WorkerSetup, workerSetup } from '../harness/workers.js';
import { startSalesforceEmulator } from '../salesforce/emulator.js';
import { startSlackReceiver } from '../slack/receiver.js';

/**
 * Worker mode in one process (`startWorkers`), where a test can look inside: Redis itself, the
 * queues, the state, the liveness report.
 */

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function harness(options: Parameters<typeof workerSetup>[0] = {}): Promise<WorkerSetup> {
  const h = await workerSetup(options);
  cleanups.push(() => h.close());
  return h;
}

/** Every key (of this test's prefix) and every value in Redis, as text. */
async function dumpRedis(conn: Redis, prefix: string): Promise<string> {
  const out: string[] = [];
  for await (const keys of conn.scanStream({ match: `${prefix}*`, count: 500 })) {
    for (const key of keys as string[]) {
      out.push(key);
      const type = await conn.type(key);
      if (type === 'string') out.push((await conn.get(key)) ?? '');
      else if (type === 'hash') out.push(JSON.stringify(await conn.hgetall(key)));
      else if (type === 'list') out.push(...(await conn.lrange(key, 0, -1)));
      else if (type === 'set') out.push(...(await conn.smembers(key)));
      else if (type === 'zset') out.push(...(await conn.zrange(key, '0', '-1')));
      else if (type === 'stream') out.push(JSON.stringify(await conn.xrange(key, '-', '+')));
      else out.push(`(${type})`);
    }
  }
  return out.join('\n');
}

/** Every name, e-mail address and birth date in the sandbox's data (of five characters or more). */
function personalData(s: Setup): Set<string> {
  const values = new Set<string>();
  const { start, end } = s.sandbox.data.select(FIRST_RUN, NOW);
  for (let i = start; i < end; i++) {
    const fields = s.sandbox.data.record(i).fields;
    for (const field of ['lastName', 'firstName', 'email', 'dateOfBirth']) {
      const v = fields[field];
      if (typeof v === 'string' && v.trim().length >= 5) values.add(v.trim());
    }
  }
  expect(values.size).toBeGreaterThan(100);
  return values;
}

const CANARY_SECRET = 'CANARYSECRET42';
const CANARY_KEY = Buffer.from(`canary-7:${CANARY_SECRET}`).toString('base64');
const CANARY_WEBHOOK = 'CANARY-WEBHOOK-SECRET-0123456789';
const WHSEC = `whsec_${Buffer.from(CANARY_WEBHOOK).toString('base64')}`;

describe('worker mode', () => {
  it('leaves no secret and no personal data in Redis, through refusals, retries and unreadable records', async () => {
    let refuse = 0;
    const receiver = await startReceiver([WHSEC], () => (refuse++ % 3 === 0 ? 422 : undefined));
    cleanups.push(receiver.close);
    receiver.script.push({ status: 500 }, { status: 500 });
    const h = await harness({
      sandbox: { records: 400, authcode: CANARY_KEY, corrupt: { every: 37 } },
      env: { SB_WHSEC: WHSEC },
      destinationsYaml: `  - id: files
    type: file
    batchSize: 30
    options:
      directory: \${env:SB_OUT}
      format: ndjson
  - id: hook
    type: webhook
    batchSize: 20
    options:
      url: ${receiver.url}
      secrets: ['\${env:SB_WHSEC}']
      allowHttp: true
      allowPrivateNetwork: true`,
      extra: 'queue:\n  backoffSeconds: 0.05\n  attempts: 2',
    });
    h.env.SB_OUT = join(h.dir, 'out', 'files');
    const handle = await h.start();
    // Deliveries held back, so that records are staged in Redis when it is scanned.
    const deliverers = handle.workers.filter((w) => w.name === QUEUES.deliver);
    await Promise.all(deliverers.map((w) => w.pause()));
    const runId = await h.enqueue();
    const fetch = new Queue(QUEUES.fetch, { connection: h.conn, prefix: `${h.redis.prefix}:bull` });
    cleanups.push(() => fetch.close());
    // Every slice of the window (FIRST_RUN to NOW: 6 of at most 30 days) fetched.
    await expect
      .poll(async () => (await fetch.getCompletedCount()) + (await fetch.getFailedCount()))
      .toBe(planSlices(FIRST_RUN, NOW).length);
    const staged = await dumpRedis(h.conn, h.redis.prefix);
    expect(staged.match(/v2\.k1\.[\w-]+\.[\w-]+\.[\w-]+/g)?.length).toBeGreaterThan(10);
    const canaries = [CANARY_KEY, CANARY_SECRET, WHSEC, CANARY_WEBHOOK, ...personalData(h)];
    for (const canary of canaries)
      expect(staged.includes(canary), `Redis holds ${canary.slice(0, 4)}…`).toBe(false);
    for (const w of deliverers) w.resume();
    const outcome = await h.wait(runId);
    expect(outcome.parseIssues).toBeGreaterThan(0);
    const hook = outcome.destinations.find((d) => d.id === 'hook')!;
    expect(hook.deadLettered).toBeGreaterThan(0);
    expect(receiver.seen.some((x) => x.status === 500)).toBe(true);

    const dump = await dumpRedis(h.conn, h.redis.prefix);
    expect(dump).toContain('.commit'); // the scan sees the queues
    for (const canary of canaries)
      expect(dump.includes(canary), `Redis holds ${canary.slice(0, 4)}…`).toBe(false);
  });

  it('backfill --json: the queued run on stderr, its outcome as one JSON document on stdout', async () => {
    const h = await harness({ sandbox: { records: 150 } });
    await h.start();
    const result = await h.backfillCommand(['--json']);
    expect(result.code, result.stderr).toBe(0);
    expect(result.stderr).toMatch(/^backfill \S+ queued: test, /);
    const outcome = JSON.parse(result.stdout);
    // Each key once, at its newest version: a re-sent report's original is superseded.
    const truth = await groundTruth(h.sandbox);
    expect(truth.size).toBeLessThan(150);
    expect(outcome).toMatchObject({
      version: 1,
      kind: 'backfill',
      state: 'done',
      exit: 0,
      pipeline: 'test',
      ok: true,
      fetched: 150,
      failedSlices: 0,
      destinations: [
        { id: 'files', delivered: truth.size, unchanged: 0, superseded: 150 - truth.size },
      ],
    });
    expect(outcome.runId).toMatch(/^test\./);
    const queued = JSON.parse((await h.backfillCommand(['--json', '--no-wait'])).stdout);
    expect(queued).toMatchObject({ kind: 'backfill', state: 'queued', pipeline: 'test' });
  });

  it('backfill --attach follows a queued run with a fixed total; --cancel stops one, recorded as interrupted', async () => {
    const h = await harness({ sandbox: { records: 150 } });
    const queue = async () => {
      const queued = await h.backfillCommand(['--no-wait', '--json']);
      return JSON.parse(queued.stdout).runId as string;
    };
    // Cancelled before any worker takes it: none of its jobs does anything.
    const doomed = await queue();
    const cancel = await h.cli(['backfill', h.pipelineFile, '--cancel', doomed]);
    expect([cancel.code, cancel.stdout]).toEqual([0, expect.stringMatching(/^cancelled /)]);
    await h.start();
    const stopped = await h.cli(['backfill', h.pipelineFile, '--attach', doomed]);
    expect(stopped.code).toBe(130);
    expect(stopped.stdout).toMatch(/^cancelled: 0 fetched/);
    const kept = await h.wait(doomed);
    expect(kept).toMatchObject({ ok: false, interrupted: true });
    expect(storedVersions(h.out.files!)).toEqual([]);
    // Another, followed by --attach: the planned slices are the total from the first line on.
    const runId = await queue();
    const followed = await h.cli(['backfill', h.pipelineFile, '--attach', runId]);
    expect(followed.code, followed.stderr).toBe(0);
    const totals = [...followed.stderr.matchAll(/slices fetched (\d+) of (\d+)/g)];
    expect(totals.length).toBeGreaterThan(0);
    const slices = planSlices(FIRST_RUN, NOW, 30).length;
    expect(new Set(totals.map((m) => Number(m[2])))).toEqual(new Set([slices]));
    expect(followed.stdout).toMatch(/^done: 150 fetched/);
    expect((await h.cli(['backfill', h.pipelineFile, '--attach', 'other.x'])).stderr).toMatch(
      /other\.x is not a run of test/,
    );
    // Ctrl-C while following: the workers carry on, and it says how to come back.
    h.sandbox.faults.add({ kind: 'slow', delayMs: 400, count: 20 });
    const slow = await queue();
    const child = spawn(
      process.execPath,
      [fileURLToPath(new URL('../../packages/cli/bin/scorebridge.js', import.meta.url))].concat([
        'backfill',
        h.pipelineFile,
        '--attach',
        slow,
      ]),
      { env: h.env },
    );
    let said = '';
    child.stderr.on('data', (c: Buffer) => {
      said += c.toString();
    });
    await expect.poll(() => said).toMatch(/slices fetched/);
    child.kill('SIGINT');
    const [code] = await once(child, 'exit');
    expect(code).toBe(130);
    expect(said).toContain(
      `the workers carry on with ${slow}. Follow it again: scorebridge backfill ${h.pipelineFile} --attach ${slow}`,
    );
    h.sandbox.faults.clear();
    expect((await h.wait(slow)).ok).toBe(true);
  });

  it('delivers a record on the second two slices share once, though both slices fetch it', async () => {
    const h = await harness({ sandbox: { records: 600 } });
    await h.start();
    // A window of two 20-day slices whose shared second is a record's report time.
    const record = h.sandbox.data.record(300);
    const at = record.reportedAt.getTime();
    const DAY = 86_400_000;
    const runId = await h.enqueue(new Date(at - 20 * DAY), new Date(at + 20 * DAY + 1000));
    const outcome = await h.wait(runId);
    expect(outcome.slices).toBe(2);
    const key = (await groundTruth(h.sandbox, record.reportedAt, new Date(at + 1))).values().next()
      .value!;
    const stored = storedVersions(h.out.files!);
    expect(stored.filter((v) => v === key)).toEqual([key]);
    expect(stored.length).toBe(new Set(stored).size);
  });

  it('one job scheduler per pipeline, however many workers start; runs move the cursors', async () => {
    const h = await harness({ sandbox: { records: 300 }, extra: 'schedule:\n  every: 1s' });
    await h.start();
    await h.start();
    const run = new Queue(QUEUES.run, { connection: h.conn, prefix: `${h.redis.prefix}:bull` });
    cleanups.push(() => run.close());
    expect(await run.getJobSchedulersCount()).toBe(1);
    const store = createRedisStateStore(h.conn, { prefix: h.redis.prefix });
    await expect.poll(async () => (await store.runs('test')).length).toBeGreaterThanOrEqual(2);
    // Scheduled runs end their windows at the workers' clock (the tests' NOW, moving on).
    const cursor = await store.cursor('test', 'files');
    expect(cursor!.getTime()).toBeGreaterThanOrEqual(NOW.getTime());
    const stored = storedVersions(h.out.files!);
    expect(stored.length).toBe(new Set(stored).size);
    expect(new Set(stored)).toEqual(await groundTruth(h.sandbox));
    // The pipeline retires: its schedule is listed, then removed by name.
    expect((await h.cli(['schedule', 'list'])).stdout).toMatch(/^test: every 1 s, next \d{4}-/);
    const listed = JSON.parse((await h.cli(['schedule', 'list', '--json'])).stdout);
    expect(listed).toMatchObject({
      version: 1,
      kind: 'schedules',
      schedules: [{ pipeline: 'test', every: 1000, next: expect.stringMatching(/^\d{4}-/) }],
    });
    const removed = await h.cli(['schedule', 'remove', 'test']);
    expect([removed.code, removed.stdout]).toEqual([
      0,
      expect.stringMatching(/^removed the schedule of test;/),
    ]);
    expect(await run.getJobSchedulersCount()).toBe(0);
    expect((await h.cli(['schedule', 'remove', 'test'])).code).toBe(1);
  });

  it('a destination that refuses for good: no retries, dead letters, the cursor held; fixed, it catches up', async () => {
    const h = await harness({
      sandbox: { records: 200 },
      destinationsYaml: `  - id: files
    type: file
    batchSize: 50
    options:
      directory: /etc/hostname/scorebridge
      format: ndjson`,
      extra: 'queue:\n  backoffSeconds: 0.05',
    });
    const handle = await h.start();
    const first = await h.backfill();
    expect(first.ok).toBe(false);
    expect(first.destinations[0]!.failed).toMatch(/delivery job\(s\) failed/);
    const store = createRedisStateStore(h.conn, { prefix: h.redis.prefix });
    const letters = await store.deadLetters('test');
    const truth = await groundTruth(h.sandbox);
    expect(letters.length).toBe(truth.size);
    expect(letters[0]).toMatchObject({ kind: 'rejected', destination: 'files' });
    expect(letters[0]!.reason).toMatch(/^not delivered: /);
    const deliver = new Queue(QUEUES.deliver, {
      connection: h.conn,
      prefix: `${h.redis.prefix}:bull`,
    });
    cleanups.push(() => deliver.close());
    const failed = await deliver.getFailed();
    expect(failed.length).toBeGreaterThan(0);
    expect(failed.every((j) => j.attemptsMade === 1)).toBe(true);
    expect(await store.cursor('test', 'files')).toBeUndefined();

    // The site fixes the directory; the next run delivers everything and the dead letters clear.
    await handle.close(2000);
    const out = join(h.dir, 'fixed');
    writeFileSync(
      h.pipelineFile,
      readFileSync(h.pipelineFile, 'utf8').replace('/etc/hostname/scorebridge', out),
    );
    await h.start();
    const second = await h.backfill();
    expect(second.ok).toBe(true);
    // The batches given up are re-sent first, exactly as they were; the run's own reading of the
    // same records then finds them held.
    // (At least one batch per 50 records; slices end batches early.)
    expect(second.destinations[0]!.delivered).toBe(0);
    expect(second.destinations[0]!.resent).toBeGreaterThanOrEqual(Math.ceil(truth.size / 50));
    expect(second.destinations[0]!.unchanged).toBe(truth.size);
    expect(await store.deadLetters('test')).toEqual([]);
    expect(new Set(storedVersions(out))).toEqual(truth);
  });

  it('one run of a pipeline at a time across modes: a worker tick is skipped while run --redis holds it, and run --redis refuses while a worker run is going', async () => {
    const h = await harness({ sandbox: { records: 150 } });
    await h.start();
    const store = createRedisStateStore(h.conn, { prefix: h.redis.prefix });
    const runs = new Queue(QUEUES.run, { connection: h.conn, prefix: `${h.redis.prefix}:bull` });
    cleanups.push(() => runs.close());
    // An inline run holds the pipeline: a scheduled tick of the workers is skipped, saying why.
    const release = await store.lock('test');
    const tick = await runs.add('run', { pipeline: 'test' });
    await expect
      .poll(async () => (await runs.getJob(tick.id!))?.returnvalue)
      .toMatchObject({ slices: 0, skipped: 'an inline run (scorebridge run) is still going' });
    await release();
    // A worker run going (its source slow): the inline run refuses to start, naming it.
    h.sandbox.faults.add({ kind: 'slow', delayMs: 800, count: 6 });
    const runId = await h.enqueue();
    await expect.poll(() => h.conn.get(`${h.redis.prefix}:test:active-run`)).toBe(runId);
    await expect(store.lock('test')).rejects.toThrow(
      new RegExp(`pipeline test has a worker-mode run going \\(${runId.replace('.', '\\.')}\\)`),
    );
    // The refusal left the lock free, and the run goes on to its end; then the inline run may go.
    expect(await h.conn.exists(`${h.redis.prefix}:test:lock`)).toBe(0);
    expect((await h.wait(runId)).ok).toBe(true);
    const again = await store.lock('test');
    await again();
  });

  it("keeps to a destination's rate limit across workers", async () => {
    const h = await harness({
      sandbox: { records: 300 },
      destinationsYaml: `  - id: files
    type: file
    batchSize: 30
    rateLimit: { max: 2, perSeconds: 1 }
    options:
      directory: \${env:SB_OUT}
      format: ndjson`,
    });
    h.env.SB_OUT = join(h.dir, 'limited');
    // When each delivery was let through its destination's gate, by Redis's clock, from both
    // workers (each with room for many deliveries at once).
    const starts: number[] = [];
    const logger = {
      debug: (_: string, fields?: Record<string, unknown>) => {
        if (fields?.event === 'delivery-admitted') starts.push(fields.at as number);
      },
      info() {},
      warn() {},
      error() {},
    };
    await h.start({ logger, deliveries: 8, concurrency: 8 });
    await h.start({ logger, deliveries: 8, concurrency: 8 });
    const outcome = await h.backfill();
    expect(outcome.destinations[0]!.delivered).toBe((await groundTruth(h.sandbox)).size);
    // At least 10 batches (more where slices end), at most 2 let through in any second; without
    // the gate, eight start within milliseconds.
    starts.sort((a, b) => a - b);
    expect(starts.length).toBeGreaterThanOrEqual(10);
    for (let i = 0; i + 2 < starts.length; i++)
      expect(starts[i + 2]! - starts[i]!, `jobs ${i} and ${i + 2}`).toBeGreaterThanOrEqual(1000);
  });

  it('Salesforce allowance spent: its queue pauses (only its own), an alert-worthy event is logged, and deliveries resume', async () => {
    const org = await startSalesforceEmulator({ clientId: 'sb-app', clientSecret: 'sb-secret' });
    cleanups.push(() => org.close());
    const h = await harness({
      sandbox: { records: 120 },
      env: { SF_SECRET: 'sb-secret', SF_URL: org.url },
      destinationsYaml: `  - id: crm
    type: salesforce
    batchSize: 50
    options:
      loginUrl: \${env:SF_URL}
      auth: { type: client-credentials, clientId: sb-app, clientSecret: '\${env:SF_SECRET}' }
      profile: eda
      matching: { onUnmatched: create }
      limitPauseSeconds: 4
  - id: files
    type: file
    options:
      directory: \${env:SB_OUT}
      format: ndjson`,
    });
    h.env.SB_OUT = join(h.dir, 'files');
    const logged: Record<string, unknown>[] = [];
    const collect = (_: string, fields?: Record<string, unknown>) => {
      if (fields) logged.push(fields);
    };
    await h.start({ logger: { debug() {}, info() {}, warn: collect, error: collect } });
    org.usage.used = org.usage.limit;
    const runId = await h.enqueue();
    const store = createRedisStateStore(h.conn, { prefix: h.redis.prefix });
    await expect.poll(() => store.deliveriesPaused('test', 'crm')).toBeGreaterThan(0);
    expect(await store.deliveriesPaused('test', 'files')).toBe(0);
    expect(logged.some((f) => f.event === 'salesforce-api-limit')).toBe(true);
    // The other destination goes on meanwhile.
    await expect.poll(() => storedVersions(h.env.SB_OUT!).length).toBeGreaterThan(0);
    expect(org.records('hed__Test__c')).toHaveLength(0);
    org.usage.used = 0; // a new day
    const outcome = await h.wait(runId);
    expect(outcome.ok).toBe(true);
    const crmSummary = outcome.destinations.find((d) => d.id === 'crm')!;
    expect(crmSummary.delivered + crmSummary.unchanged + crmSummary.superseded!).toBe(
      outcome.fetched - outcome.parseIssues,
    );
    expect(
      new Set(org.records('hed__Test__c').map((t) => t.ScoreBridge_Key__c)).size,
    ).toBeGreaterThan(50);
  });

  it('reports whether jobs flow: ok when idle, stalled when work waits and nothing moves, down without Redis', async () => {
    const h = await harness({ ownRedis: true, sandbox: { records: 100 } });
    const handle = await h.start({ staleMs: 300 });
    expect((await handle.health()).status).toBe('ok');
    // A worker that silently stopped consuming (as after some Redis failovers).
    await Promise.all(handle.workers.map((w) => w.pause()));
    await h.enqueue();
    await expect.poll(async () => (await handle.health()).status).toBe('stalled');
    const stalled = await handle.health();
    expect(stalled.waiting).toBeGreaterThan(0);
    expect(stalled.active).toBe(0);
    for (const w of handle.workers) w.resume();
    await expect.poll(async () => (await handle.health()).status).toBe('ok');
    await h.redis.kill!();
    await expect.poll(async () => (await handle.health()).status).toBe('down');
    await h.redis.restart!();
    await expect.poll(async () => (await handle.health()).status).toBe('ok');
  });

  it('one incident, one message: two delivery jobs refused at once (410 Gone) send one Slack alert', async () => {
    const slack = await startSlackReceiver();
    cleanups.push(slack.close);
    const hook = await startReceiver([WHSEC], () => 410);
    cleanups.push(hook.close);
    const h = await harness({
      sandbox: { records: 600 },
      env: { SB_SLACK: slack.url, SB_WHSEC: WHSEC },
      destinationsYaml: `  - id: hook
    type: webhook
    batchSize: 5
    options:
      url: ${hook.url}
      secrets: ['\${env:SB_WHSEC}']
      allowHttp: true
      allowPrivateNetwork: true`,
      extra: `queue:\n  concurrency: 4\nnotifications:\n  slack:\n    webhookUrl: \${env:SB_SLACK}`,
    });
    await h.start();
    // Two slices fetched side by side, each adding delivery jobs that the receiver refuses for good.
    const at = h.sandbox.data.record(300).reportedAt.getTime();
    const DAY = 86_400_000;
    const outcome = await h.wait(await h.enqueue(new Date(at - 20 * DAY), new Date(at + 20 * DAY)));
    expect(outcome.slices).toBe(2);
    const deliver = new Queue(QUEUES.deliver, {
      connection: h.conn,
      prefix: `${h.redis.prefix}:bull`,
    });
    cleanups.push(() => deliver.close());
    expect(await deliver.getFailedCount()).toBeGreaterThan(2);
    const disabled = slack.posts.filter((p) => /asked not to be called again/.test(p.text));
    expect(disabled.map((p) => p.text)).toEqual([
      expect.stringMatching(/^🔴 test: The hook endpoint asked not to be called again/),
    ]);
  });

  it('counts only new dead letters: a backfill that re-reads the same unreadable lines sends no reminder', async () => {
    const slack = await startSlackReceiver();
    cleanups.push(slack.close);
    const h = await harness({
      sandbox: { records: 200, corrupt: { every: 25 } },
      env: { SB_SLACK: slack.url },
      extra: 'notifications:\n  slack:\n    webhookUrl: ${env:SB_SLACK}\n    cooldownMinutes: 1',
    });
    let now = NOW;
    await h.start({ clock: () => now });
    const first = await h.backfill();
    expect(first.parseIssues).toBeGreaterThan(0);
    const attention = () => slack.posts.filter((p) => /need attention/.test(p.text));
    expect(attention().map((p) => p.text)).toEqual([expect.stringMatching(/^🔴 test: /)]);
    expect(attention()[0]!.body).toMatch(new RegExp(`This run: ${first.parseIssues} parse`));
    // Two days on (the one-minute cool-down long past), the same window again: no new letter.
    now = new Date(NOW.getTime() + 2 * 86_400_000);
    const second = await h.backfill();
    expect(second.parseIssues).toBe(first.parseIssues);
    expect(attention()).toHaveLength(1);
  });

  it('a worker that stopped taking jobs is a Slack incident, resolved when jobs flow again', async () => {
    const slack = await startSlackReceiver();
    cleanups.push(slack.close);
    const h = await harness({
      sandbox: { records: 50 },
      env: { SB_SLACK: slack.url },
      extra: 'notifications:\n  slack:\n    webhookUrl: ${env:SB_SLACK}',
    });
    const handle = await h.start({ staleMs: 300 });
    await Promise.all(handle.workers.map((w) => w.pause()));
    const runId = await h.enqueue();
    await expect
      .poll(() => slack.posts.map((p) => p.text).join('\n'))
      .toMatch(/test: Worker .+ stopped taking jobs/);
    for (const w of handle.workers) w.resume();
    await h.wait(runId);
    await expect
      .poll(() => slack.posts.map((p) => p.text).join('\n'))
      .toMatch(/Resolved: test: Worker .+ stopped taking jobs/);
    expect(slack.posts.filter((p) => /stopped taking jobs/.test(p.text))).toHaveLength(2);
  });

  it('holds the same few Redis connections whether it serves one pipeline or forty', async () => {
    const h = await harness({
      ownRedis: true,
      destinationsYaml: `  - id: files
    type: file
    options:
      directory: \${env:SB_OUT}
      format: ndjson
  - id: copy
    type: file
    options:
      directory: \${env:SB_OUT}
      format: csv`,
    });
    h.env.SB_OUT = join(h.dir, 'out');
    const yaml = readFileSync(h.pipelineFile, 'utf8');
    const pipelines = (n: number) =>
      Array.from({ length: n }, (_, i) => {
        const file = join(h.dir, `p${i}.yaml`);
        writeFileSync(file, yaml.replace(/^name: test$/m, `name: uni-${i}`));
        return loadPipeline(file, { adapters: ADAPTERS, env: h.env });
      });
    const clients = async () =>
      String(await h.conn.client('LIST'))
        .trim()
        .split('\n').length;
    const before = await clients();
    const connectionsOf = async (n: number) => {
      const handle = await h.start({ pipelines: pipelines(n) });
      await Promise.all(handle.workers.map((w) => w.waitUntilReady()));
      const count = (await clients()) - before;
      await handle.close(2000);
      await expect.poll(clients).toBe(before);
      return count;
    };
    const one = await connectionsOf(1);
    expect(one).toBeGreaterThan(0);
    expect(one).toBeLessThanOrEqual(12);
    expect(await connectionsOf(40)).toBe(one);
  });

  it('refuses a Redis that could evict jobs, saying what to change', async () => {
    const h = await harness({ ownRedis: true });
    await h.conn.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await expect(h.start()).rejects.toThrow(
      /maxmemory-policy is allkeys-lru: Redis could evict jobs and state; set it to noeviction/,
    );
  });
});
