import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { EXPIRED_KEY } from '@scorebridge/sandbox';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../adapters/webhook/src/receiver.test-helpers.js';
import {
  everyVersion,
  FIRST_RUN,
  groundTruth,
  NOW,
  storedVersions,
  webhookDestinationYaml,
} from '../harness/pipeline.js';
import { startSlackReceiver } from '../slack/receiver.js';
import { type Executor, executor, MODES, type Mode } from './executors.js';

/**
 * The executor contract: every scenario runs on the inline runner and on worker mode, and both
 * must end the same. Where they must differ (how often a delivery is tried; worker mode's
 * stalled-worker alert), docs/design.md says so and why; nothing here is skipped for one mode.
 */

const DAY = 86_400_000;
const HOUR = 3_600_000;
const SECRET = 'whsec_Y29udHJhY3Qtc3VpdGUtc2VjcmV0LWZvci13ZWJob29rcyEh';
const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

async function make(mode: Mode, options: Parameters<typeof executor>[1] = {}) {
  const e = await executor(mode, options);
  cleanups.push(() => e.close());
  return e;
}

async function receiver(rule?: (body: string) => number | undefined) {
  const r = await startReceiver([SECRET], rule);
  cleanups.push(r.close);
  return r;
}

/** A file drop `files` and a webhook `hook` on `url`. */
const twoDestinations = (dir: string, url: string) => `  - id: files
    type: file
    batchSize: 50
    options:
      directory: ${dir}/out/files
      format: ndjson
${webhookDestinationYaml(url, 50)}`;

const versionsOf = (r: Awaited<ReturnType<typeof receiver>>) =>
  r.records().map((x) => `${x.recordKey}#${x.contentHash}`);

async function slackFor(mode: Mode, options: Parameters<typeof executor>[1] & { slack?: string }) {
  const slack = await startSlackReceiver();
  cleanups.push(slack.close);
  const e = await make(mode, {
    ...options,
    extra: `${options.extra ?? ''}
notifications:
  slack:
    webhookUrl: \${env:SB_SLACK}
${options.slack ?? ''}`,
    env: { ...options.env, SB_SLACK: slack.url, SB_WHSEC: SECRET },
  });
  return { slack, e };
}

describe.each(MODES)('the %s executor', (mode) => {
  it('delivers every record version once, and nothing the second time', async () => {
    const e = await make(mode, { sandbox: { records: 300 } });
    const first = await e.run();
    expect(first.ok).toBe(true);
    const truth = await groundTruth(e.s.sandbox);
    const stored = storedVersions(e.s.out.files!);
    expect(stored).toHaveLength(truth.size);
    expect(new Set(stored)).toEqual(truth);
    expect(first.destinations[0]!.delivered).toBe(truth.size);
    const second = await e.run();
    expect(second.destinations[0]!.delivered).toBe(0);
    expect(storedVersions(e.s.out.files!)).toHaveLength(truth.size);
  });

  it('sends a re-sent, changed report as an update, and the newest version of every key stands', async () => {
    const hook = await receiver();
    const e = await make(mode, {
      sandbox: { records: 400 },
      destinationsYaml: webhookDestinationYaml(hook.url, 40),
      env: { SB_WHSEC: SECRET },
    });
    const middle = new Date('2026-09-01T00:00:00Z');
    await e.backfill(FIRST_RUN, middle);
    const early = versionsOf(hook).length;
    const later = await e.backfill(FIRST_RUN, NOW);
    expect(later.destinations[0]!.delivered).toBeGreaterThan(0);
    const newest = new Map<string, string>();
    for (const v of versionsOf(hook)) newest.set(v.split('#')[0]!, v);
    expect(new Set(newest.values())).toEqual(await groundTruth(e.s.sandbox));
    expect(versionsOf(hook).length).toBeGreaterThan(early);
    const runs = await e.store.runs('test');
    const updates = Object.values(runs.at(-1)!.updates ?? {}).reduce((a, b) => a + (b ?? 0), 0);
    expect(updates).toBeGreaterThan(0);
  });

  it('delivers a later version met in a window that starts before the one its original was met in', async () => {
    // Windows are cut differently by each run (a crash, a catch-up, a backfill). A version is
    // ordered by the window it was met in: the re-sent report below is met in a window starting
    // ten days before the original's, and must still be the newer one, sent as an update.
    const hook = await receiver();
    const e = await make(mode, {
      sandbox: { records: 400 },
      destinationsYaml: webhookDestinationYaml(hook.url, 40),
      env: { SB_WHSEC: SECRET },
    });
    const data = e.s.sandbox.data;
    const all = Array.from({ length: data.size }, (_, i) => data.record(i));
    const sameKey = (a: (typeof all)[number], b: (typeof all)[number]) =>
      a.fields.appointmentNumber === b.fields.appointmentNumber &&
      a.fields.testDate === b.fields.testDate;
    // A re-sent report within 19 days of its original, both well inside the sandbox's window.
    const [original, resent] = all
      .filter((r) => r.resent)
      .map((r) => [all.find((o) => !o.resent && sameKey(o, r))!, r] as const)
      .find(([o, r]) => {
        const gap = r.reportedAt.getTime() - o.reportedAt.getTime();
        return gap > 0 && gap < 19 * DAY && o.reportedAt.getTime() - 10 * DAY > FIRST_RUN.getTime();
      })!;
    const at = original.reportedAt.getTime();
    await e.backfill(new Date(at - HOUR), new Date(at + HOUR));
    const wide = await e.backfill(
      new Date(at - 10 * DAY),
      new Date(resent.reportedAt.getTime() + HOUR),
    );
    expect(wide.ok).toBe(true);
    // The receiver got the original, then the re-sent version: the newest of its key.
    const got = hook
      .records()
      .filter(
        (x) =>
          (x as { appointmentNumber?: unknown }).appointmentNumber ===
          original.fields.appointmentNumber,
      );
    expect(got).toHaveLength(2);
    const [key] = got[0]!.recordKey.split('#');
    const newest = [...(await groundTruth(e.s.sandbox))].find((v) => v.startsWith(`${key}#`));
    expect(`${got[1]!.recordKey}#${got[1]!.contentHash}`).toBe(newest);
    const runs = await e.store.runs('test');
    expect(
      Object.values(runs.at(-1)!.updates ?? {}).reduce((a, b) => a + (b ?? 0), 0),
    ).toBeGreaterThan(0);
  });

  it('adds nothing when a backfill covers what was delivered, and leaves the cursor alone', async () => {
    const e = await make(mode, { sandbox: { records: 200 } });
    await e.run();
    const cursor = await e.store.cursor('test', 'files');
    const count = storedVersions(e.s.out.files!).length;
    const backfill = await e.backfill(new Date('2026-08-01T00:00:00Z'), NOW);
    expect(backfill.destinations[0]).toMatchObject({ delivered: 0 });
    expect(backfill.destinations[0]!.unchanged).toBeGreaterThan(0);
    expect(storedVersions(e.s.out.files!)).toHaveLength(count);
    expect(await e.store.cursor('test', 'files')).toEqual(cursor);
  });

  it('holds back only the failing destination: its cursor stays, the other moves on', async () => {
    const hook = await receiver(() => 503);
    const drop = mkdtempSync(join(tmpdir(), 'sb-contract-'));
    const e = await make(mode, {
      // Records in every slice: no slice is confirmed for the failing destination.
      sandbox: { records: 200, days: 160 },
      destinationsYaml: twoDestinations(drop, hook.url),
      env: { SB_WHSEC: SECRET },
    });
    const run = await e.run();
    expect(run.ok).toBe(false);
    expect(run.destinations.find((d) => d.id === 'hook')!.failed).toBeTruthy();
    expect(run.destinations.find((d) => d.id === 'files')!.failed).toBeUndefined();
    expect(await e.store.cursor('test', 'hook')).toBeUndefined();
    expect(await e.store.cursor('test', 'files')).toBeDefined();
    expect(new Set(storedVersions(`${drop}/out/files`))).toEqual(await groundTruth(e.s.sandbox));
  });

  it('moves the cursor of a destination that failed part way over nothing it did not take', async () => {
    // The receiver takes four batches, then fails for good: inline, those are the newest
    // slices' (read first); worker mode, whichever came first. Either way the cursor may pass
    // only reports the destination holds (or that a newer version of theirs replaced).
    let taken = 0;
    const hook = await receiver(() => (++taken > 4 ? 503 : undefined));
    const e = await make(mode, {
      sandbox: { records: 200, days: 160 },
      destinationsYaml: webhookDestinationYaml(hook.url, 5),
      env: { SB_WHSEC: SECRET },
    });
    const run = await e.run();
    expect(run.destinations[0]!.failed).toBeTruthy();
    const cursor = (await e.store.cursor('test', 'hook'))?.getTime() ?? FIRST_RUN.getTime();
    const data = e.s.sandbox.data;
    const { start, end } = data.select(FIRST_RUN, NOW);
    const versions = await everyVersion(e.s.sandbox);
    const held = new Set(versionsOf(hook));
    const newest = await groundTruth(e.s.sandbox);
    const passed = versions.filter(
      (v, i) => data.record(start + i).reportedAt.getTime() <= cursor && newest.has(v),
    );
    expect(end - start).toBe(versions.length);
    expect(held.size).toBeGreaterThan(0);
    expect(held.size).toBeLessThan(newest.size);
    expect(passed.filter((v) => !held.has(v))).toEqual([]);
  });

  it('gives a batch up as retryable dead letters, and a later run delivers and resolves them', async () => {
    let down = true;
    const hook = await receiver(() => (down ? 503 : undefined));
    const e = await make(mode, {
      sandbox: { records: 120 },
      destinationsYaml: webhookDestinationYaml(hook.url, 30),
      env: { SB_WHSEC: SECRET },
    });
    const failed = await e.run();
    expect(failed.ok).toBe(false);
    const letters = await e.store.deadLetters('test');
    expect(letters.length).toBeGreaterThan(0);
    expect(letters.every((l) => l.retryable && l.destination === 'hook')).toBe(true);
    expect(letters.every((l) => /^not delivered: /.test(l.reason))).toBe(true);
    down = false;
    const healed = await e.run();
    expect(healed.ok).toBe(true);
    expect(await e.store.deadLetters('test')).toEqual([]);
    expect(await e.store.intents('test', 'hook')).toEqual([]);
    const held = new Map<string, string>();
    for (const v of versionsOf(hook)) held.set(v.split('#')[0]!, v);
    expect(new Set(held.values())).toEqual(await groundTruth(e.s.sandbox));
  });

  describe('alerts: one message per incident, with concurrent jobs', () => {
    it('an expired key: one alert however many runs fail, and one "resolved" once fixed', async () => {
      const { slack, e } = await slackFor(mode, { sandbox: { records: 50 } });
      const good = e.s.env.SB_KEY!;
      e.s.env.SB_KEY = EXPIRED_KEY;
      await e.reload();
      await e.run();
      await e.run();
      expect(slack.posts.map((p) => p.text)).toEqual([
        expect.stringMatching(/TOEFL Access rejected the API key \(expired or wrong\)/),
      ]);
      e.s.env.SB_KEY = good;
      await e.reload();
      await e.run();
      expect(slack.posts.map((p) => p.text)).toEqual([
        expect.stringMatching(/rejected the API key/),
        expect.stringMatching(/Resolved: .*rejected the API key/),
      ]);
      expect(await e.store.incidents('test')).toEqual({});
    });

    it('a webhook answering 410 over several slices: one message', async () => {
      const hook = await receiver(() => 410);
      const { slack, e } = await slackFor(mode, {
        // Records in every slice, so that no slice is confirmed in either executor.
        sandbox: { records: 200, days: 150 },
        destinationsYaml: webhookDestinationYaml(hook.url, 10),
      });
      await e.run();
      expect(slack.posts.map((p) => p.text)).toEqual([
        expect.stringMatching(/The hook endpoint asked not to be called again \(disabled\)/),
      ]);
    });

    it('a destination misconfigured over several slices: one message, and one "resolved" once fixed', async () => {
      const { slack, e } = await slackFor(mode, {
        sandbox: { records: 100, days: 150 },
        destinationsYaml: `  - id: drop
    type: file
    batchSize: 10
    options:
      directory: \${env:SB_DROP}
      format: ndjson`,
        env: { SB_DROP: '/etc/hostname/drop' },
      });
      await e.run();
      expect(slack.posts.map((p) => p.text)).toEqual([
        expect.stringMatching(/drop is misconfigured/),
      ]);
      e.s.env.SB_DROP = `${e.s.dir}/drop`;
      await e.reload();
      await e.run();
      expect(slack.posts.map((p) => p.text)).toEqual([
        expect.stringMatching(/drop is misconfigured/),
        expect.stringMatching(/^✅ Resolved: test: drop is misconfigured$/),
      ]);
    });

    it('HTTP 500s in a row from TOEFL Access: one alert, resolved by a clean run', async () => {
      const { slack, e } = await slackFor(mode, {
        // Six 500s: slices fetched side by side (worker mode) each count their own streak, so
        // one of two of them meets at least three in a row.
        sandbox: { records: 30, faults: [{ kind: 'status', status: 500, count: 6 }] },
      });
      const run = await e.run();
      expect(run.ok).toBe(true);
      expect(slack.posts.map((p) => p.text)).toEqual([
        expect.stringMatching(/TOEFL Access answered [3-6] times in a row with a server error/),
      ]);
      await e.run();
      expect(slack.posts[1]!.text).toMatch(/Resolved: .*server error/);
    });

    it('dead letters: new ones counted once by kind, no repeat while they stay open', async () => {
      const { slack, e } = await slackFor(mode, {
        sandbox: { records: 200, corrupt: { every: 25 } },
      });
      await e.run();
      await e.backfill(FIRST_RUN, NOW);
      const open = (await e.store.deadLetters('test')).length;
      expect(open).toBeGreaterThan(0);
      expect(slack.posts.map((p) => p.text)).toEqual([
        expect.stringMatching(new RegExp(`^🔴 test: ${open} record\\(s\\) need attention`)),
      ]);
      expect(slack.all()).toContain(`This run: ${open} parse`);
    });

    it('a key older than the rotation period', async () => {
      const { slack, e } = await slackFor(mode, {
        sandbox: { records: 20 },
        source: '  keyIssuedOn: 2026-01-05',
        slack: '    keyRotationDays: 90',
      });
      await e.run();
      await e.run();
      expect(slack.posts.map((p) => p.text)).toEqual([
        expect.stringMatching(/The TOEFL Access API key is more than 90 days old/),
      ]);
    });
  });
});

describe('one run of a pipeline at a time, across the executors', () => {
  it('a worker-mode run waits for an inline run, and an inline run for a worker-mode run', async () => {
    const e: Executor = await make('worker', { sandbox: { records: 50 } });
    // An inline run (`scorebridge run --redis`) holds the pipeline: the workers' run is skipped.
    const release = await e.store.lock('test');
    const skipped = await e.run();
    expect(skipped.skipped).toMatch(/an inline run \(scorebridge run\) is still going/);
    await release();
    // A worker-mode run holds the run slot: an inline run on the same state is refused.
    expect(await e.store.takeRunSlot('test', 'test.elsewhere', { seconds: 604_800 })).toEqual({
      taken: true,
    });
    const { code, stderr } = await (
      e.s as unknown as { cli(args: string[]): Promise<{ code: number | null; stderr: string }> }
    ).cli(['run', e.s.pipelineFile, '--redis', e.s.env.SCOREBRIDGE_REDIS_URL!]);
    expect(code).not.toBe(0);
    expect(stderr).toMatch(/has a worker-mode run going \(test\.elsewhere\)/);
    await e.store.releaseRunSlot('test', 'test.elsewhere');
    expect((await e.run()).ok).toBe(true);
  });
});
