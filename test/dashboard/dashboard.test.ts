import { existsSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';
import { afterEach, describe, expect, it } from 'vitest';
import { realClockEnv } from '../harness/real-clock.mjs';
import { type WorkerSetup, workerSetup } from '../harness/workers.js';

/**
 * The dashboard in a real browser: Debian's Chromium driven by playwright-core signs in, sees a
 * pipeline on the ScoreBridge page and a failed job in Bull Board, and saves screenshots to
 * test-artifacts/. (.ci/run installs Chromium when it is missing; nothing is installed here.)
 */

const CHROMIUM = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const ARTIFACTS = join(process.cwd(), 'test-artifacts');
const USER = 'admissions-ops';
const PASSWORD = 'CANARY-dashboard-password-7';

let s: WorkerSetup | undefined;
afterEach(async () => {
  await s?.close();
  s = undefined;
});

describe('the dashboard', () => {
  it('signs in, shows a pipeline and a failed job, and refuses strangers', async () => {
    if (!CHROMIUM) throw new Error('Chromium is not installed (Debian: apt-get install chromium)');
    s = await workerSetup({
      sandbox: { records: 120 },
      env: { SCOREBRIDGE_DASHBOARD_USER: USER, SCOREBRIDGE_DASHBOARD_PASSWORD: PASSWORD },
      destinationsYaml: `  - id: files
    type: file
    options:
      directory: \${env:SB_OUT}
      format: ndjson
  - id: broken
    type: file
    options:
      directory: /etc/hostname/drop
      format: ndjson`,
    });
    s.env.SB_OUT = join(s.dir, 'files');
    const worker = s.worker(['--dashboard', '0']);
    await worker.started;
    await expect.poll(() => /dashboard on http:\/\/[^:]+:(\d+)\//.test(worker.log())).toBe(true);
    const port = Number(/dashboard on http:\/\/[^:]+:(\d+)\//.exec(worker.log())![1]);
    const base = `http://127.0.0.1:${port}`;
    const backfill = await s.backfillCommand();
    expect(backfill.code).toBe(4); // the broken destination failed

    for (const path of ['/', '/queues', '/queues/api/queues'])
      expect((await fetch(`${base}${path}`)).status).toBe(401);

    mkdirSync(ARTIFACTS, { recursive: true });
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      env: realClockEnv(),
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-quic',
        '--no-first-run',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
      ],
    });
    try {
      const context = await browser.newContext({
        httpCredentials: { username: USER, password: PASSWORD },
        viewport: { width: 1280, height: 900 },
      });
      const page = await context.newPage();
      await page.goto(`${base}/`);
      const pipeline = page.locator('section[data-pipeline="test"]');
      await expect.poll(() => pipeline.locator('h2').textContent()).toMatch(/^test /);
      await expect.poll(() => pipeline.textContent()).toMatch(/broken.*file.*none yet/s);
      await expect.poll(() => pipeline.textContent()).toMatch(/FAILED/);
      // A badge says how the pipeline is doing, in words (not colour alone).
      expect(await pipeline.locator('.badge').getAttribute('data-health')).toBe('failing');
      expect(await pipeline.locator('.badge').textContent()).toBe('Failing');
      expect(await pipeline.locator('svg[role="img"] title').first().textContent()).toBe(
        'Records delivered per day',
      );
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-overview.png'), fullPage: true });

      // A run in progress shows with its counts; the page refreshes itself, and once the run
      // is over it is in the history instead.
      s!.sandbox.faults.add({ kind: 'slow', delayMs: 500, count: 6 });
      const queued = await s!.backfillCommand(['--no-wait', '--json']);
      const runId = JSON.parse(queued.stdout).runId as string;
      await page.goto(`${base}/`);
      const running = pipeline.locator('.running');
      await expect
        .poll(async () => {
          await page.reload();
          return running.getAttribute('data-run').catch(() => null);
        })
        .toBe(runId);
      expect(await running.textContent()).toMatch(
        /Run in progress .*(waiting for a worker|slices fetched \d+ of \d+ · jobs done \d+)/,
      );
      await page.screenshot({
        path: join(ARTIFACTS, 'dashboard-run-in-progress.png'),
        fullPage: true,
      });
      expect(await page.locator('meta[http-equiv="refresh"]').getAttribute('content')).toBe('15');
      await s!.wait(runId);
      await page.reload();
      expect(await running.count()).toBe(0);
      expect(await pipeline.locator('.runs li').count()).toBe(2);

      // The record lookup: by appointment number, what each destination confirmed.
      const number = String(s.sandbox.data.record(3).fields.appointmentNumber);
      await page.getByLabel('Appointment or registration number').fill(number);
      await page.getByRole('button', { name: 'Trace' }).click();
      await page.waitForURL(/\/trace\?/);
      const trace = page.locator('section.trace');
      await expect.poll(() => trace.textContent()).toMatch(/the first version met/);
      expect(await trace.textContent()).toMatch(/files \(file\)yes/);
      expect(await trace.textContent()).toMatch(/broken \(file\)no.*not delivered/s);
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-trace.png'), fullPage: true });

      await page.goto(`${base}/queues/queue/deliver?status=failed`);
      const failed = page.getByText(/failed: ENOTDIR/).first();
      await failed.waitFor({ timeout: 20_000 });
      await page.screenshot({ path: join(ARTIFACTS, 'dashboard-failed-job.png'), fullPage: true });
      expect(await page.content()).not.toContain(PASSWORD);
    } finally {
      await browser.close();
    }
  });
});
