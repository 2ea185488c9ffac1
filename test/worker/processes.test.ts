import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { prng } from '@scorebridge/sandbox';
import { afterEach, describe, expect, it } from 'vitest';
import { FIRST_RUN, groundTruth, NOW, storedVersions } from '../harness/pipeline.js';
import { type WorkerProcess, type WorkerSetup, workerSetup } from '../harness/workers.js';

/**
 * Worker mode as operators run it: `scorebridge worker` processes and `scorebridge backfill` on a
 * real redis-server, killed, restarted and stopped the way machines are.
 */

let s: WorkerSetup | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

const TWO_DESTINATIONS = [
  { id: 'first', format: 'ndjson' as const, batchSize: 10 },
  { id: 'second', format: 'ndjson' as const, batchSize: 25 },
];

/** Each output directory holds every record version of the sandbox once. */
async function expectCompleteAndUnduplicated(setup: WorkerSetup, ids: readonly string[]) {
  const truth = await groundTruth(setup.sandbox);
  expect(truth.size).toBeGreaterThan(0);
  for (const id of ids) {
    const stored = storedVersions(setup.out[id]!);
    expect(stored.length - new Set(stored).size, `${id}: duplicates`).toBe(0);
    expect(new Set(stored), `${id}: everything, nothing else`).toEqual(truth);
  }
}

describe('scorebridge worker', () => {
  it('two worker processes share one backfill; the result is complete and unduplicated', async () => {
    s = await workerSetup({ sandbox: { records: 1500 }, destinations: TWO_DESTINATIONS });
    const workers = [0, 1].map(() => s!.worker(['--metrics-port', '0', '--health-port', '0']));
    await Promise.all(workers.map((w) => w.started));
    const result = await s.backfillCommand();
    expect(result.code, result.stderr).toBe(0);
    expect(result.stdout).toMatch(
      /done: 1500 fetched in \d+ slice\(s\), 0 unreadable; delivered by 2 worker\(s\)/,
    );
    // Each key once, at its newest version: the originals of re-sent reports are superseded.
    const newest = (await groundTruth(s.sandbox)).size;
    expect(newest).toBeLessThan(1500);
    expect(result.stdout).toContain(
      `first: ${newest} delivered, 0 unchanged, ${1500 - newest} superseded`,
    );
    await expectCompleteAndUnduplicated(s, ['first', 'second']);

    // Again: everything is held already.
    const again = await s.backfillCommand();
    expect(again.stdout).toContain(
      `first: 0 delivered, ${newest} unchanged, ${1500 - newest} superseded`,
    );
    const status = await s.cli(['status', s.pipelineFile]);
    expect(status.stdout).toMatch(
      new RegExp(`first \\(file\\): .*${newest} record versions confirmed; 0 dead letter`),
    );
    expect(status.stdout).toMatch(/\n {2}deliver\s+0 waiting, 0 active, 0 delayed, 0 failed/);
    // Both workers announced themselves, each serving the pipeline.
    expect(status.stdout).toMatch(
      /Workers on this Redis: 2\n.*test among them.*\n.*test among them/,
    );

    // Logs are JSON lines; each worker serves its metrics and its liveness.
    const lines = workers[0]!.log().trim().split('\n');
    expect(lines.every((l) => typeof JSON.parse(l).msg === 'string')).toBe(true);
    let delivered = 0;
    for (const w of workers) {
      const port = (what: string) =>
        Number(new RegExp(`${what} on http://[^:]+:(\\d+)/`).exec(w.log())![1]);
      const metrics = await (
        await fetch(`http://127.0.0.1:${port('Prometheus metrics')}/metrics`)
      ).text();
      expect(metrics).toMatch(/scorebridge_queue_jobs\{queue="deliver",state="failed"\} 0/);
      expect(metrics).toMatch(/# TYPE scorebridge_source_response_seconds histogram/);
      delivered += Number(
        /scorebridge_records_delivered_total\{pipeline="test",destination="first"\} (\d+)/.exec(
          metrics,
        )?.[1] ?? 0,
      );
      // Without --host, health and metrics listen on the loopback address only.
      expect(w.log()).toMatch(/liveness on http:\/\/127\.0\.0\.1:\d+\/health/);
      const health = await fetch(`http://127.0.0.1:${port('liveness')}/health`);
      expect(health.status).toBe(200);
      expect(await health.json()).toMatchObject({ status: 'ok', redis: 'ready' });
    }
    // Two runs of 1,500: the first delivered the newest of each key, the second found them held.
    expect(delivered).toBe(newest);
  });

  it('skips a pipeline it cannot load (a secret not set on this worker), says so in the log and /health, and runs the others', async () => {
    s = await workerSetup({ sandbox: { records: 200 }, destinations: TWO_DESTINATIONS });
    const elsewhere = join(s.dir, 'elsewhere.yaml');
    writeFileSync(
      elsewhere,
      readFileSync(s.pipelineFile, 'utf8')
        .replace(/^name: .*$/m, 'name: elsewhere')
        .replace('${env:SB_KEY}', '${env:SB_KEY_NOT_ON_THIS_WORKER}'),
    );
    const w = s.worker([elsewhere, '--health-port', '0']);
    await w.started;
    expect(w.log()).toMatch(/elsewhere\.yaml: skipped: this worker cannot load the pipeline/);
    expect(w.log()).toContain('SB_KEY_NOT_ON_THIS_WORKER');
    await expect.poll(() => w.log()).toMatch(/liveness on http:/);
    const port = Number(/liveness on http:\/\/[^:]+:(\d+)\//.exec(w.log())![1]);
    const health = (await (await fetch(`http://127.0.0.1:${port}/health`)).json()) as {
      status: string;
      skipped: { file: string; problems: string[] }[];
    };
    expect(health.status).toBe('ok');
    expect(health.skipped.map((k) => k.file)).toEqual([elsewhere]);
    const result = await s.backfillCommand();
    expect(result.code, result.stderr).toBe(0);
    await expectCompleteAndUnduplicated(s, ['first', 'second']);
  });

  it('SIGHUP reloads the pipeline files: a fixed file is served, a removed one unscheduled, and status lists what is skipped', async () => {
    const h = await workerSetup({ sandbox: { records: 200 }, destinations: TWO_DESTINATIONS });
    s = h;
    const fleet = join(h.dir, 'fleet');
    mkdirSync(fleet);
    const yaml = readFileSync(s.pipelineFile, 'utf8');
    const elsewhere = join(fleet, 'elsewhere.yaml');
    writeFileSync(
      elsewhere,
      yaml
        .replace(/^name: .*$/m, 'name: elsewhere')
        .replace('${env:SB_KEY}', '${env:SB_KEY_NOT_ON_THIS_WORKER}'),
    );
    const retired = join(fleet, 'retired.yaml');
    // Due on 1 January only: nothing runs meanwhile.
    writeFileSync(
      retired,
      `${yaml.replace(/^name: .*$/m, 'name: retired')}schedule:\n  cron: '0 3 1 1 *'\n`,
    );
    const w = s.worker([fleet]);
    await w.started;
    const schedules = async () => (await h.cli(['schedule', 'list'])).stdout;
    expect(await schedules()).toMatch(/^retired: cron 0 3 1 1 \*/m);
    const skippedIn = async () => (await h.cli(['status', h.pipelineFile])).stdout;
    await expect
      .poll(skippedIn)
      .toMatch(
        /Skipped pipeline files[^\n]*\n {2}\S+: \S+elsewhere\.yaml \(elsewhere\): .*SB_KEY_NOT_ON_THIS_WORKER/,
      );

    // The site fixes one file and retires another; the worker is told, not restarted.
    writeFileSync(elsewhere, yaml.replace(/^name: .*$/m, 'name: elsewhere'));
    rmSync(retired);
    w.child.kill('SIGHUP');
    await expect.poll(() => w.log()).toMatch(/reloaded the pipeline files/);
    const reloaded = w
      .log()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l))
      .find((l) => l.event === 'pipelines-reloaded');
    expect(reloaded).toMatchObject({
      added: ['elsewhere'],
      changed: [],
      removed: ['retired'],
      unscheduled: ['retired'],
      skipped: [],
    });
    expect(await schedules()).not.toMatch(/retired/);
    await expect.poll(skippedIn).not.toMatch(/Skipped pipeline files/);
    const run = await s.cli([
      'backfill',
      elsewhere,
      '--from',
      FIRST_RUN.toISOString(),
      '--to',
      NOW.toISOString(),
    ]);
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^done: 200 fetched/m);
  });

  it('refuses to start without a data key or with an unsafe prefix, saying what to set', async () => {
    s = await workerSetup();
    const { SCOREBRIDGE_DATA_KEY: _, ...noKey } = s.env;
    const missing = await s.cli(['worker', s.pipelineFile], noKey);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(
      /SCOREBRIDGE_DATA_KEY is not set: worker mode encrypts the records it stages in Redis/,
    );
    const prefix = await s.cli(['worker', s.pipelineFile], {
      ...s.env,
      SCOREBRIDGE_REDIS_PREFIX: 'scorebridge',
    });
    expect(prefix.code).toBe(2);
    expect(prefix.stderr).toMatch(/SCOREBRIDGE_REDIS_PREFIX must start with a hash tag/);
  });

  it('a backfill of a pipeline no worker has is refused, with the reason', async () => {
    s = await workerSetup({ sandbox: { records: 20 } });
    await s.worker().started;
    const other = join(s.dir, 'other.yaml');
    writeFileSync(other, readFileSync(s.pipelineFile, 'utf8').replace('name: test', 'name: other'));
    const result = await s.cli(['backfill', other, '--from', FIRST_RUN.toISOString()]);
    expect(result.code).toBe(2);
    expect(result.stderr).toMatch(
      /the workers refused the backfill: this worker has no pipeline "other": start every worker with the same pipeline files/,
    );
  });

  it('kill -9 of workers at random points, again and again: nothing lost, nothing duplicated', async () => {
    s = await workerSetup({ sandbox: { records: 4000 }, destinations: TWO_DESTINATIONS });
    const live: WorkerProcess[] = [s.worker(), s.worker()];
    await Promise.all(live.map((w) => w.started));
    const backfill = s.backfillCommand();
    let finished = false;
    void backfill.then(() => {
      finished = true;
    });
    const rand = prng(5);
    let kills = 0;
    while (!finished && kills < 8) {
      await new Promise((r) => setTimeout(r, 150 + Math.floor(rand() * 500)));
      if (finished) break;
      const i = Math.floor(rand() * live.length);
      live[i]!.child.kill('SIGKILL');
      await live[i]!.exited;
      kills++;
      live[i] = s.worker();
      await live[i]!.started;
    }
    const result = await backfill;
    expect(kills, 'workers were killed while the backfill ran').toBeGreaterThanOrEqual(3);
    expect(result.code, result.stderr).toBe(0);
    await expectCompleteAndUnduplicated(s, ['first', 'second']);
  });

  it('Redis killed and restarted mid-run: processing resumes by itself and nothing is lost', async () => {
    s = await workerSetup({
      ownRedis: true,
      sandbox: { records: 3000 },
      destinations: TWO_DESTINATIONS,
    });
    const worker = s.worker();
    await worker.started;
    const backfill = s.backfillCommand();
    // Deliveries are under way.
    await expect.poll(() => storedVersions(s!.out.first!).length).toBeGreaterThan(0);
    await s.redis.kill!();
    await new Promise((r) => setTimeout(r, 1500));
    await s.redis.restart!();
    const result = await backfill;
    expect(result.code, `${result.stderr}\n${worker.log()}`).toBe(0);
    expect(worker.log()).toMatch(/redis: connected again/);
    await expectCompleteAndUnduplicated(s, ['first', 'second']);
  });

  it('SIGTERM with work in flight: exits within its budget, and a restart finishes the work', async () => {
    s = await workerSetup({
      sandbox: { records: 800, faults: [{ kind: 'hang' }] },
      destinations: [{ id: 'files', format: 'ndjson', batchSize: 50 }],
    });
    const first = s.worker(['--shutdown-seconds', '2']);
    await first.started;
    const backfill = s.backfillCommand();
    // The first request hangs: a fetch job is in hand.
    await expect.poll(() => s!.sandbox.requests.length).toBeGreaterThan(0);
    const stopping = performance.now();
    first.child.kill('SIGTERM');
    const exit = await first.exited;
    const waitedMs = performance.now() - stopping;
    expect(exit.code).toBe(0);
    // The budget, as the worker measured it from the signal to letting go (timers may fire a
    // little late under load); and the process exits instead of waiting for the hanging request,
    // which would hold it for the source's idle timeout (60 s).
    const stopped = first
      .log()
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; tookMs?: number })
      .find((l) => /^stopped with jobs unfinished/.test(l.msg));
    expect(stopped, first.log()).toBeDefined();
    expect(stopped!.tookMs).toBeLessThanOrEqual(2000 + 500);
    expect(waitedMs).toBeLessThan(20_000);

    const second = s.worker();
    await second.started;
    const result = await backfill;
    expect(result.code, `${result.stderr}\n${second.log()}`).toBe(0);
    await expectCompleteAndUnduplicated(s, ['files']);
  });
});
