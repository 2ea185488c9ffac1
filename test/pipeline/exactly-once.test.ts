import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, readdirSync, readFileSync, watch, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createRedisStateStore } from '@scorebridge/runtime';
import { prng } from '@scorebridge/sandbox';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../adapters/webhook/src/receiver.test-helpers.js';
import {
  everyVersion,
  FIRST_RUN,
  groundTruth,
  NOW,
  SANDBOX_NOW,
  setup,
  storedVersions,
  webhookDestinationYaml,
} from '../harness/pipeline.js';
import { workerSetup } from '../harness/workers.js';
import { startSalesforceEmulator } from '../salesforce/emulator.js';

/**
 * Invariant 7 of the design, driven from outside: an independent receiver that verifies every
 * Standard Webhooks signature and keeps what it receives, compared with the sandbox's own data.
 */

const SECRET = 'whsec_ZXhhY3RseS1vbmNlLXRlc3Qtc2VjcmV0LWZvci13ZWJob29rcyE=';
const bin = fileURLToPath(new URL('../../packages/cli/bin/scorebridge.js', import.meta.url));
const open: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const close of open.splice(0).reverse()) await close();
});

type Received = { id: string; records: { recordKey: string; contentHash: string }[] };

/** Every complete, verified message a receiver got (answered or not), with its records. */
function messagesOf(receiver: Awaited<ReturnType<typeof startReceiver>>): Received[] {
  return receiver.seen
    .filter((m) => m.verified)
    .map((m) => {
      const data = (JSON.parse(m.body) as { data: { records?: Received['records'] } }).data;
      return { id: m.id, records: data.records ?? [] };
    });
}

/** For each record version, the webhook-ids it arrived under. */
function idsByVersion(messages: readonly Received[]): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  for (const m of messages)
    for (const r of m.records) {
      const v = `${r.recordKey}#${r.contentHash}`;
      out.set(v, (out.get(v) ?? new Set()).add(m.id));
    }
  return out;
}

/**
 * A webhook `hook`, a Salesforce org `crm` (EDA; its URL and secret in SF_URL and SF_SECRET) and
 * a file drop `files` (in SB_OUT), with these batch sizes.
 */
function threeDestinations(
  hookUrl: string,
  [hook, crm, files]: [number, number, number],
  profile = 'profile: eda',
) {
  return `${webhookDestinationYaml(hookUrl, hook)}
  - id: crm
    type: salesforce
    batchSize: ${crm}
    options:
      loginUrl: \${env:SF_URL}
      auth: { type: client-credentials, clientId: sb-app, clientSecret: '\${env:SF_SECRET}' }
      ${profile}
      matching: { onUnmatched: create }
  - id: files
    type: file
    batchSize: ${files}
    options:
      directory: \${env:SB_OUT}
      format: ndjson`;
}

type Counts = Record<'filtered' | 'unchanged' | 'delivered' | 'deadLettered', number> & {
  readonly id: string;
  readonly superseded?: number;
  readonly refused?: number;
};

/** A run's summary adds up per destination: every record read lands in exactly one count. */
function expectAddsUp(run: {
  fetched: number;
  parseIssues: number;
  destinations: readonly Counts[];
}) {
  for (const d of run.destinations) {
    const placed =
      run.parseIssues +
      d.filtered +
      d.unchanged +
      (d.superseded ?? Number.NaN) +
      (d.refused ?? Number.NaN) +
      d.delivered +
      d.deadLettered;
    expect([d.id, placed]).toEqual([d.id, run.fetched]);
  }
}

describe('exactly once per version (inline run, kill -9)', () => {
  it('kills at once, mid-message, before the answer and as a temp file appears: 0 lost, 0 versions under two webhook-ids, 0 .partial files', async () => {
    // Each message is held before the answer, as a slow receiver does; a kill meanwhile leaves
    // the message received but its answer lost: the case an intent exists for.
    let trigger: ((stage: 'headers' | 'body', n: number) => void) | undefined;
    const receiver = await startReceiver([SECRET], undefined, {
      holdMs: 60,
      onMessage: (stage, n) => trigger?.(stage, n),
    });
    open.push(receiver.close);
    const s = await setup({
      sandbox: { records: 20_000, days: 150 },
      env: { SB_WHSEC: SECRET },
      destinationsYaml: `${webhookDestinationYaml(receiver.url, 250)}
  - id: files
    type: file
    batchSize: 400
    options:
      directory: \${env:SB_OUT}
      format: ndjson`,
    });
    open.push(s.close);
    const out = join(s.dir, 'files');
    mkdirSync(out, { recursive: true });
    s.env.SB_OUT = out;

    // Each run forms its batches differently (here the site tunes batchSize after each crash;
    // as well, a later run's window ends later, so its slices start elsewhere) — except the
    // batch left pending, which must go out again exactly as it was.
    const rand = prng(13);
    const yaml = readFileSync(s.pipelineFile, 'utf8');
    const start = () => {
      const size = 120 + Math.floor(rand() * 260);
      writeFileSync(s.pipelineFile, yaml.replace('batchSize: 250', `batchSize: ${size}`));
      return spawn(process.execPath, [bin, 'run', s.pipelineFile, '--state-dir', s.stateDir], {
        env: s.env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
    };
    const kill = (child: ChildProcess) => {
      if (child.exitCode === null) child.kill('SIGKILL');
    };
    const modes = ['at once', 'mid-message', 'before the answer', 'temp file'] as const;
    const kills: string[] = [];
    for (let i = 0; i < 12; i++) {
      const mode = modes[i % modes.length]!;
      const child = start();
      const exited = once(child, 'exit');
      const seenBefore = receiver.seen.length;
      // Spread over the delivery: the k-th message (or temp file) of this run.
      const k = 1 + Math.floor(rand() * 6);
      let count = 0;
      const watcher =
        mode === 'temp file'
          ? watch(out, (_, name) => {
              if (name?.startsWith('.partial-') && ++count === k) kill(child);
            })
          : undefined;
      trigger =
        mode === 'mid-message' || mode === 'before the answer'
          ? (stage) => {
              if (stage === (mode === 'mid-message' ? 'headers' : 'body') && ++count === k)
                kill(child);
            }
          : undefined;
      if (mode === 'at once') setTimeout(() => kill(child), Math.floor(rand() * 400));
      const [, signal] = (await exited) as [number | null, string | null];
      watcher?.close();
      trigger = undefined;
      if (signal === 'SIGKILL') kills.push(`${mode} (${receiver.seen.length - seenBefore} new)`);
    }
    expect(kills.length, kills.join(', ')).toBeGreaterThanOrEqual(10);

    const last = spawn(
      process.execPath,
      [bin, 'run', s.pipelineFile, '--state-dir', s.stateDir, '--json'],
      { env: s.env, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    last.stdout!.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    last.stderr!.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const [code] = (await once(last, 'exit')) as [number | null];
    expect(code, stderr).toBe(0);
    // The last run's summary adds up, per destination, after all those kills.
    const summary = JSON.parse(stdout) as {
      fetched: number;
      parseIssues: number;
      destinations: Record<string, number | string>[];
    };
    for (const d of summary.destinations) {
      const n = (k: string) => d[k] as number;
      const sum = n('filtered') + n('unchanged') + n('superseded') + n('refused') + n('delivered');
      expect([d.id, sum + n('deadLettered') + summary.parseIssues]).toEqual([
        d.id,
        summary.fetched,
      ]);
    }

    // `scorebridge run` ends its window at the real now: so does what it is compared with.
    const truth = await groundTruth(s.sandbox, FIRST_RUN, new Date());
    const messages = messagesOf(receiver);
    const ids = idsByVersion(messages);
    // Nothing lost: every newest version was received, and nothing else (no older version).
    expect(new Set(ids.keys())).toEqual(truth);
    // No version under two webhook-ids: a receiver deduplicating on webhook-id stores it once.
    const twice = [...ids].filter(([, set]) => set.size > 1);
    expect(twice.length, `versions under two webhook-ids: ${twice.length}`).toBe(0);
    // A webhook-id always carries the same records.
    const bodies = new Map<string, string>();
    for (const m of messages) {
      const list = m.records.map((r) => r.contentHash).join(',');
      expect(bodies.get(m.id) ?? list).toBe(list);
      bodies.set(m.id, list);
    }
    // The file destination: each newest version once, and no temporary file left behind.
    const stored = storedVersions(out);
    expect(stored.length).toBe(new Set(stored).size);
    expect(new Set(stored)).toEqual(truth);
    expect(readdirSync(out).filter((f) => f.startsWith('.partial-'))).toEqual([]);
  }, 240_000);
});

describe.each(['inline', 'worker mode'] as const)('a refused version (%s)', (executor) => {
  it('is sent once until replayed, once more on replay with the same webhook-id, over overlapping windows', async () => {
    // The first 3 messages are refused (400), every later one is taken.
    const receiver = await startReceiver([SECRET], undefined);
    open.push(receiver.close);
    receiver.script.push({ status: 400 }, { status: 400 }, { status: 400 });
    const options = {
      sandbox: { records: 600 },
      env: { SB_WHSEC: SECRET },
      destinationsYaml: webhookDestinationYaml(receiver.url, 40),
    };
    let runs: (() => Promise<unknown>)[];
    let replay: () => Promise<{ code: number | null; stderr: string }>;
    let letters: () => Promise<{ id: string; contentHash?: string }[]>;
    if (executor === 'inline') {
      const s = await setup(options);
      open.push(s.close);
      runs = [() => s.run(), () => s.run({ from: FIRST_RUN, to: NOW })];
      const { run } = await import('../../packages/cli/src/testing/run.test-helpers.js');
      replay = async () => {
        Object.assign(process.env, s.env);
        return run(['dlq', 'replay', s.pipelineFile, '--state-dir', s.stateDir]);
      };
      const { createFileStateStore } = await import('@scorebridge/runtime');
      letters = () => createFileStateStore(s.stateDir).deadLetters('test');
    } else {
      const w = await workerSetup(options);
      open.push(w.close);
      await w.start();
      runs = [() => w.backfill(), () => w.backfill()];
      replay = () => w.cli(['dlq', 'replay', w.pipelineFile]);
      const { createRedisStateStore } = await import('@scorebridge/runtime');
      letters = () => createRedisStateStore(w.conn, { prefix: w.redis.prefix }).deadLetters('test');
    }
    await runs[0]!();
    const refusedMessages = receiver.seen.filter((m) => m.status === 400);
    expect(refusedMessages).toHaveLength(3);
    const refused = new Set(
      refusedMessages.flatMap((m) =>
        (JSON.parse(m.body).data.records as { contentHash: string }[]).map((r) => r.contentHash),
      ),
    );
    expect((await letters()).map((l) => l.contentHash).sort()).toEqual([...refused].sort());
    // A second run over the same (overlapping) window: the refused versions are not sent again.
    await runs[1]!();
    const sentTimes = (hash: string) =>
      receiver.seen.filter((m) =>
        (JSON.parse(m.body).data.records as { contentHash: string }[]).some(
          (r) => r.contentHash === hash,
        ),
      );
    for (const h of refused) expect(sentTimes(h)).toHaveLength(1);
    expect(await letters()).toHaveLength(refused.size);
    // Replayed: each sent once more, under the webhook-id it was refused under; then resolved.
    const replayed = await replay();
    expect(replayed.code, replayed.stderr).toBe(0);
    for (const h of refused) {
      const times = sentTimes(h);
      expect(times.map((m) => m.status)).toEqual([400, 204]);
      expect(times[1]!.id).toBe(times[0]!.id);
    }
    expect(await letters()).toEqual([]);
    // Every newest version is held once.
    const held = receiver.records().map((r) => `${r.recordKey}#${r.contentHash}`);
    expect(held.length).toBe(new Set(held).size);
  }, 60_000);
});

describe('newest last, in worker mode with slow first answers', () => {
  it('no key’s older version arrives after its newer one, at the webhook, Salesforce and file destinations', async () => {
    // The first answers are slow: slices that finish first must not let an older version win.
    const receiver = await startReceiver([SECRET], undefined, {
      holdMs: (n) => (n <= 4 ? 1500 : 0),
    });
    open.push(receiver.close);
    const org = await startSalesforceEmulator({ clientId: 'sb-app', clientSecret: 'sb-secret' });
    open.push(() => org.close());
    const w = await workerSetup({
      sandbox: { records: 3000, days: 150 },
      env: { SB_WHSEC: SECRET, SB_OUT: '', SF_SECRET: 'sb-secret', SF_URL: org.url },
      destinationsYaml: threeDestinations(receiver.url, [50, 100, 60]),
    });
    open.push(w.close);
    w.env.SB_OUT = join(w.dir, 'files');
    await w.start({ concurrency: 4 });
    // Two runs: the first half of the range, then all of it (overlapping): a key re-sent in the
    // second half arrives after its original from the first.
    const MID = new Date((FIRST_RUN.getTime() + NOW.getTime()) / 2);
    await w.wait(await w.enqueue(FIRST_RUN, MID));
    const second = await w.wait(await w.enqueue(FIRST_RUN, NOW));
    expect(second.ok).toBe(true);
    expectAddsUp(second);
    const order = await everyVersion(w.sandbox);
    const place = new Map(order.map((v, i) => [v, i]));
    const arrivals = new Map<string, number[]>();
    for (const m of messagesOf(receiver))
      for (const r of m.records) {
        const list = arrivals.get(r.recordKey) ?? [];
        list.push(place.get(`${r.recordKey}#${r.contentHash}`)!);
        arrivals.set(r.recordKey, list);
      }
    const backwards = [...arrivals].filter(([, list]) =>
      list.some((p, i) => i > 0 && p < list[i - 1]!),
    );
    expect(backwards).toEqual([]);
    // Each key ends at its newest version, and some keys did get two versions, in order.
    const truth = await groundTruth(w.sandbox);
    const lastOf = [...arrivals].map(([, list]) => order[list.at(-1)!]!);
    expect(new Set(lastOf)).toEqual(truth);
    expect([...arrivals.values()].some((list) => new Set(list).size > 1)).toBe(true);
    // What each run could send: the newest of each key in its window. The file destination and
    // Salesforce got exactly those (never a superseded version), and every key's newest.
    const sendable = new Set([...(await groundTruth(w.sandbox, FIRST_RUN, MID)), ...truth]);
    const files = storedVersions(w.env.SB_OUT);
    expect(files.length).toBe(new Set(files).size);
    expect(files.filter((v) => !sendable.has(v))).toEqual([]);
    expect([...truth].filter((v) => !files.includes(v))).toEqual([]);
    const store = createRedisStateStore(w.conn, { prefix: w.redis.prefix });
    const crm = await store.ledger('test', 'crm');
    expect([...crm].filter((h) => ![...sendable].some((v) => v.endsWith(`#${h}`)))).toEqual([]);
    expect([...truth].filter((v) => !crm.has(v.slice(v.indexOf('#') + 1)))).toEqual([]);
    expect((await store.deadLetters('test')).filter((l) => l.destination === 'crm')).toEqual([]);
    // One Test per key in the org (upserted by key), each upserted without an error.
    expect(new Set(org.records('hed__Test__c').map((t) => t.ScoreBridge_Key__c)).size).toBe(
      truth.size,
    );
  }, 120_000);
});

/**
 * The org's own object, keeping each key's content hash: what the org holds is then a version,
 * to compare with the newest ETS served. Above `bulkThreshold` rows, Bulk API 2.0 writes them.
 */
const CUSTOM_CRM = (bulkThreshold: number) => `profile: custom
      custom:
        object: TOEFL_Score__c
        externalId: ScoreBridge_Key__c
        contactField: Contact__c
        fields: { Total__c: ibtTotal, Test_Date__c: testDate, Content_Hash__c: contentHash }
      bulkThreshold: ${bulkThreshold}`;

/** Each key the org holds, with the version (content hash) it holds it at. */
const orgVersions = (org: Awaited<ReturnType<typeof startSalesforceEmulator>>) =>
  org.records('TOEFL_Score__c').map((r) => `${r.ScoreBridge_Key__c}#${r.Content_Hash__c}`);

/** Calls that write to the org (sObject Collections and Bulk API). */
const writes = (org: Awaited<ReturnType<typeof startSalesforceEmulator>>) =>
  (org.calls.collections ?? 0) + (org.calls.bulk ?? 0);

describe('a year-long first run with re-sent reports', () => {
  // Collections: batches of 150 rows, 200 a call. Bulk: batches of 600, one job each. The org
  // refuses every row of a call or job that names one external id twice (DUPLICATE_VALUE).
  for (const [mode, path] of [
    ['inline', 'Collections'],
    ['inline', 'Bulk'],
    ['worker', 'Collections'],
    ['worker', 'Bulk'],
  ] as const)
    it(`${mode}, Salesforce through ${path}: each key once at its newest version at every destination, 0 dead letters; a re-run writes 0`, async () => {
      const receiver = await startReceiver([SECRET]);
      open.push(receiver.close);
      const org = await startSalesforceEmulator({ clientId: 'sb-app', clientSecret: 'sb-secret' });
      open.push(() => org.close());
      const sizes: [number, number, number] = [80, path === 'Bulk' ? 600 : 150, 200];
      const options = {
        sandbox: { records: 2500, days: 365 },
        env: { SB_WHSEC: SECRET, SB_OUT: '', SF_SECRET: 'sb-secret', SF_URL: org.url },
        destinationsYaml: threeDestinations(
          receiver.url,
          sizes,
          CUSTOM_CRM(path === 'Bulk' ? 100 : 2000),
        ),
      };
      const from = new Date(SANDBOX_NOW.getTime() - 366 * 86_400_000);
      let runOnce: () => Promise<Parameters<typeof expectAddsUp>[0] & { ok: boolean }>;
      let env: NodeJS.ProcessEnv;
      let sandbox: Parameters<typeof groundTruth>[0];
      let deadLetters: () => Promise<unknown[]>;
      if (mode === 'inline') {
        const s = await setup(options);
        open.push(s.close);
        ({ env, sandbox } = s);
        env.SB_OUT = join(s.dir, 'files');
        runOnce = () => s.run({ from, to: NOW });
        const { createFileStateStore } = await import('@scorebridge/runtime');
        deadLetters = () => createFileStateStore(s.stateDir).deadLetters('test');
      } else {
        const w = await workerSetup(options);
        open.push(w.close);
        ({ env, sandbox } = w);
        env.SB_OUT = join(w.dir, 'files');
        await w.start({ concurrency: 4 });
        runOnce = async () => w.wait(await w.enqueue(from, NOW));
        const store = createRedisStateStore(w.conn, { prefix: w.redis.prefix });
        deadLetters = () => store.deadLetters('test');
      }
      const summary = await runOnce();
      expect(summary.ok).toBe(true);
      const truth = await groundTruth(sandbox, from, NOW);
      const versions = await everyVersion(sandbox, from, NOW);
      expect(versions.length - truth.size).toBeGreaterThan(20); // re-sent reports, many of them
      expectAddsUp(summary);
      expect(await deadLetters()).toEqual([]);
      // The org holds every key once, at the newest version ETS served.
      const held = orgVersions(org);
      expect(held.length).toBe(new Set(held).size);
      expect(new Set(held)).toEqual(truth);
      // Bulk: a job per batch of the object; Collections: none (Contacts are created either way).
      const jobs = [...org.bulkJobs.values()].map((j) => j.object);
      if (path === 'Bulk') expect(jobs.length).toBeGreaterThan(2);
      else expect(jobs).toEqual([]);
      // The webhook and the file drop: one version per key, the newest.
      const hooked = receiver.records().map((r) => `${r.recordKey}#${r.contentHash}`);
      expect(hooked.length).toBe(new Set(hooked).size);
      expect(new Set(hooked)).toEqual(truth);
      const files = storedVersions(env.SB_OUT!);
      expect(files.length).toBe(new Set(files).size);
      expect(new Set(files)).toEqual(truth);

      // The same year again: nothing is new, nothing is written.
      const before = { writes: writes(org), messages: receiver.seen.length };
      const again = await runOnce();
      expect(again.ok).toBe(true);
      expect(again.destinations.map((d) => [d.id, d.delivered])).toEqual([
        ['hook', 0],
        ['crm', 0],
        ['files', 0],
      ]);
      expect({ writes: writes(org), messages: receiver.seen.length }).toEqual(before);
      expect(new Set(orgVersions(org))).toEqual(truth);
    }, 120_000);
});

describe('a replay refused again (inline)', () => {
  it('keeps the dead letter open with the new reason; a later replay that succeeds resolves it', async () => {
    const receiver = await startReceiver([SECRET]);
    open.push(receiver.close);
    receiver.script.push({ status: 400 });
    const s = await setup({
      sandbox: { records: 60 },
      env: { SB_WHSEC: SECRET },
      destinationsYaml: webhookDestinationYaml(receiver.url, 500),
    });
    open.push(s.close);
    await s.run();
    const { createFileStateStore } = await import('@scorebridge/runtime');
    const store = createFileStateStore(s.stateDir);
    const first = await store.deadLetters('test');
    expect(first.length).toBeGreaterThan(0);
    expect(new Set(first.map((l) => l.code))).toEqual(new Set(['HTTP_400']));
    const { run } = await import('../../packages/cli/src/testing/run.test-helpers.js');
    const replay = () => {
      Object.assign(process.env, s.env);
      return run(['dlq', 'replay', s.pipelineFile, '--state-dir', s.stateDir]);
    };
    receiver.script.push({ status: 422 });
    expect((await replay()).code).toBe(1);
    const again = await store.deadLetters('test');
    // One open letter per version, now with the new reason (the old one resolved in its favour).
    expect(again.map((l) => l.contentHash).sort()).toEqual(first.map((l) => l.contentHash).sort());
    expect(new Set(again.map((l) => l.code))).toEqual(new Set(['HTTP_422']));
    expect((await replay()).code).toBe(0);
    expect(await store.deadLetters('test')).toEqual([]);
    // The refused message: sent three times in all, under one webhook-id.
    const refusedId = receiver.seen.find((m) => m.status === 400)!.id;
    expect(receiver.seen.filter((m) => m.id === refusedId).map((m) => m.status)).toEqual([
      400, 422, 204,
    ]);
    expect(receiver.seen.filter((m) => m.status === 422).map((m) => m.id)).toEqual([refusedId]);
  });
});
