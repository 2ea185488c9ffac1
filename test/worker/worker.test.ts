import { readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  createRedisStateStore,
  dataKeys,
  loadPipeline,
  QUEUES,
  queueControl,
  type RunOutcome,
  startWorkers,
  type WorkerHandle,
} from '@scorebridge/runtime';
import { Queue } from 'bullmq';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../adapters/webhook/src/receiver.test-helpers.js';
import { startRedis, type TestRedis } from '../harness/redis.mjs';
import {
  ADAPTERS,
  FAST_CLIENT,
  groundTruth,
  type Setup,
  setup,
  storedVersions,
} from '../pipeline/harness.js';
import { startSalesforceEmulator } from '../salesforce/emulator.js';
import { startSlackReceiver } from '../slack/receiver.js';
import { DATA_KEY, FROM } from './harness.js';

/**
 * Worker mode in one process (`startWorkers`), where a test can look inside: Redis itself, the
 * queues, the state, the liveness report.
 */

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

interface Harness {
  readonly s: Setup;
  readonly redis: TestRedis;
  readonly conn: Redis;
  start(extra?: Partial<Parameters<typeof startWorkers>[0]>): Promise<WorkerHandle>;
  backfill(): Promise<RunOutcome>;
  enqueue(from?: Date, to?: Date): Promise<string>;
  wait(runId: string): Promise<RunOutcome>;
}

async function harness(
  options: Parameters<typeof setup>[0] & { ownRedis?: boolean } = {},
): Promise<Harness> {
  const redis = await startRedis({ own: options.ownRedis });
  cleanups.push(() => redis.stop());
  const s = await setup(options);
  cleanups.push(() => s.close());
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  conn.on('error', () => undefined);
  cleanups.push(async () => conn.disconnect());
  const pipeline = () => loadPipeline(s.pipelineFile, { adapters: ADAPTERS, env: s.env });
  const h: Harness = {
    s,
    redis,
    conn,
    async start(extra = {}) {
      const handle = await startWorkers({
        redisUrl: redis.url,
        prefix: redis.prefix,
        pipelines: [pipeline()],
        adapters: ADAPTERS,
        keys: dataKeys({ SCOREBRIDGE_DATA_KEY: DATA_KEY }),
        lockMs: 2000,
        client: FAST_CLIENT,
        logger: process.env.SB_DEBUG
          ? { debug() {}, info: console.error, warn: console.error, error: console.error }
          : undefined,
        ...extra,
      });
      cleanups.push(() => handle.close(2000));
      return handle;
    },
    async enqueue(from = new Date(FROM), to = new Date()) {
      const control = queueControl(conn, redis.prefix);
      try {
        return (await control.enqueueBackfill('test', from, to)).runId;
      } finally {
        await control.close();
      }
    },
    async wait(runId) {
      const control = queueControl(conn, redis.prefix);
      try {
        for (;;) {
          const p = await control.progress(runId);
          if (p.state === 'done') return p.outcome!;
          if (p.state === 'failed') throw new Error(p.reason);
          await new Promise((r) => setTimeout(r, 100));
        }
      } finally {
        await control.close();
      }
    },
    async backfill() {
      return h.wait(await h.enqueue());
    },
  };
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
  const { start, end } = s.sandbox.data.select(new Date(FROM), new Date());
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
    h.s.env.SB_OUT = join(h.s.dir, 'out', 'files');
    const handle = await h.start();
    // Deliveries held back, so that records are staged in Redis when it is scanned.
    const deliverers = handle.workers.filter((w) => w.name.startsWith('deliver.'));
    await Promise.all(deliverers.map((w) => w.pause()));
    const runId = await h.enqueue();
    const fetch = new Queue(QUEUES.fetch, { connection: h.conn, prefix: `${h.redis.prefix}:bull` });
    cleanups.push(() => fetch.close());
    await expect
      .poll(async () => (await fetch.getCompletedCount()) + (await fetch.getFailedCount()), {
        timeout: 10_000,
      })
      .toBe(6);
    const staged = await dumpRedis(h.conn, h.redis.prefix);
    expect(staged.match(/v1\.k1\.[\w-]+\.[\w-]+\.[\w-]+/g)?.length).toBeGreaterThan(10);
    const canaries = [CANARY_KEY, CANARY_SECRET, WHSEC, CANARY_WEBHOOK, ...personalData(h.s)];
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

  it('delivers a record on the second two slices share once, though both slices fetch it', async () => {
    const h = await harness({ sandbox: { records: 600 } });
    await h.start();
    // A window of two 20-day slices whose shared second is a record's report time.
    const record = h.s.sandbox.data.record(300);
    const at = record.reportedAt.getTime();
    const DAY = 86_400_000;
    const runId = await h.enqueue(new Date(at - 20 * DAY), new Date(at + 20 * DAY + 1000));
    const outcome = await h.wait(runId);
    expect(outcome.slices).toBe(2);
    const key = (await groundTruth(h.s.sandbox, record.reportedAt, new Date(at + 1)))
      .values()
      .next().value!;
    const stored = storedVersions(h.s.out.files!);
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
    await expect
      .poll(async () => (await store.runs('test')).length, { timeout: 15_000 })
      .toBeGreaterThanOrEqual(2);
    const cursor = await store.cursor('test', 'files');
    expect(cursor!.getTime()).toBeGreaterThan(Date.now() - 60_000);
    const stored = storedVersions(h.s.out.files!);
    expect(stored.length).toBe(new Set(stored).size);
    expect(new Set(stored)).toEqual(await groundTruth(h.s.sandbox, new Date(FROM), new Date()));
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
    expect(letters.length).toBe(200);
    expect(letters[0]).toMatchObject({ kind: 'rejected', destination: 'files' });
    expect(letters[0]!.reason).toMatch(/^not delivered: /);
    const deliver = new Queue('deliver.test.files', {
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
    const out = join(h.s.dir, 'fixed');
    writeFileSync(
      h.s.pipelineFile,
      readFileSync(h.s.pipelineFile, 'utf8').replace('/etc/hostname/scorebridge', out),
    );
    await h.start();
    const second = await h.backfill();
    expect(second.ok).toBe(true);
    expect(second.destinations[0]!.delivered).toBe(200);
    expect(await store.deadLetters('test')).toEqual([]);
    expect(new Set(storedVersions(out)).size).toBe(200);
  });

  it("keeps to a destination's rate limit across workers", async () => {
    const h = await harness({
      sandbox: { records: 300 },
      destinationsYaml: `  - id: files
    type: file
    batchSize: 25
    rateLimit: { max: 2, perSeconds: 0.5 }
    options:
      directory: \${env:SB_OUT}
      format: ndjson`,
    });
    h.s.env.SB_OUT = join(h.s.dir, 'limited');
    await h.start();
    await h.start();
    const outcome = await h.backfill();
    expect(outcome.destinations[0]!.delivered).toBe(300);
    // At least 12 batches (more where slices end), at most 2 started in any 500 ms.
    const times = readdirSync(h.s.env.SB_OUT)
      .map((f) => statSync(join(h.s.env.SB_OUT!, f)).mtimeMs)
      .sort((a, b) => a - b);
    expect(times.length).toBeGreaterThanOrEqual(12);
    for (let i = 0; i + 2 < times.length; i++)
      expect(times[i + 2]! - times[i]!).toBeGreaterThanOrEqual(450);
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
    h.s.env.SB_OUT = join(h.s.dir, 'files');
    const logged: Record<string, unknown>[] = [];
    const collect = (_: string, fields?: Record<string, unknown>) => {
      if (fields) logged.push(fields);
    };
    await h.start({ logger: { debug() {}, info() {}, warn: collect, error: collect } });
    org.usage.used = org.usage.limit;
    const runId = await h.enqueue();
    const crm = new Queue('deliver.test.crm', {
      connection: h.conn,
      prefix: `${h.redis.prefix}:bull`,
    });
    cleanups.push(() => crm.close());
    await expect.poll(() => crm.getRateLimitTtl(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(logged.some((f) => f.event === 'salesforce-api-limit')).toBe(true);
    // The other destination goes on meanwhile.
    await expect
      .poll(() => storedVersions(h.s.env.SB_OUT!).length, { timeout: 3000 })
      .toBeGreaterThan(0);
    expect(org.records('hed__Test__c')).toHaveLength(0);
    org.usage.used = 0; // a new day
    const outcome = await h.wait(runId);
    expect(outcome.ok).toBe(true);
    const crmSummary = outcome.destinations.find((d) => d.id === 'crm')!;
    expect(crmSummary.delivered + crmSummary.unchanged).toBe(outcome.fetched - outcome.parseIssues);
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
    const control = queueControl(h.conn, h.redis.prefix);
    cleanups.push(() => control.close());
    await control.enqueueBackfill('test', new Date(FROM), new Date());
    await expect
      .poll(async () => (await handle.health()).status, { timeout: 5000 })
      .toBe('stalled');
    const stalled = await handle.health();
    expect(stalled.waiting).toBeGreaterThan(0);
    expect(stalled.active).toBe(0);
    for (const w of handle.workers) w.resume();
    await expect.poll(async () => (await handle.health()).status, { timeout: 5000 }).toBe('ok');
    await h.redis.kill!();
    await expect.poll(async () => (await handle.health()).status, { timeout: 5000 }).toBe('down');
    await h.redis.restart!();
    await expect.poll(async () => (await handle.health()).status, { timeout: 10_000 }).toBe('ok');
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
      .poll(() => slack.posts.map((p) => p.text).join('\n'), { timeout: 10_000 })
      .toMatch(/test: Worker .+ stopped taking jobs/);
    for (const w of handle.workers) w.resume();
    await h.wait(runId);
    await expect
      .poll(() => slack.posts.map((p) => p.text).join('\n'), { timeout: 10_000 })
      .toMatch(/Resolved: test: Worker .+ stopped taking jobs/);
    expect(slack.posts.filter((p) => /stopped taking jobs/.test(p.text))).toHaveLength(2);
  });

  it('refuses a Redis that could evict jobs, saying what to change', async () => {
    const h = await harness({ ownRedis: true });
    await h.conn.config('SET', 'maxmemory-policy', 'allkeys-lru');
    await expect(h.start()).rejects.toThrow(
      /maxmemory-policy is allkeys-lru: Redis could evict jobs and state; set it to noeviction/,
    );
  });
});
