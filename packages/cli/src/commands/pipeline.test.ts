import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import {
  copyFileSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { clockFrom } from '@scorebridge/runtime';
import { type Sandbox, startSandbox } from '@scorebridge/sandbox';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fileDestinationsYaml, pipelineYaml } from '../../../../test/harness/pipeline.js';
import { startRedis } from '../../../../test/harness/redis.mjs';
import { run as runAt } from '../testing/run.test-helpers.js';

const bin = fileURLToPath(new URL('../../bin/scorebridge.js', import.meta.url));
const demoPipeline = fileURLToPath(new URL('../../../../pipelines/demo.yaml', import.meta.url));
/** The commands' "now": half a day after the sandbox's last report. */
const NOW = new Date('2026-11-01T12:00:00Z');
const run = (args: string[]) => runAt(args, '', clockFrom(NOW));
let s: Sandbox;
beforeAll(async () => {
  s = await startSandbox({
    seed: 8,
    records: 300,
    days: 60,
    now: new Date('2026-11-01T00:00:00Z'),
    corrupt: { every: 60 },
  });
  process.env.SB_CLI_URL = s.scoresUrl;
  process.env.SB_CLI_KEY = s.authcode;
});
afterAll(async () => {
  delete process.env.SB_CLI_URL;
  delete process.env.SB_CLI_KEY;
  await s.close();
});

/** `dir/cli.yaml` on the sandbox: a file destination `out` in `fileFormat`, or these destinations. */
function pipeline(
  dir: string,
  format: 'json' | 'scorelink',
  fileFormat: 'ndjson' | 'csv' | 'scorelink',
  destinations = fileDestinationsYaml([
    { id: 'out', format: fileFormat, directory: join(dir, 'out') },
  ]),
): string {
  const file = join(dir, 'cli.yaml');
  writeFileSync(
    file,
    pipelineYaml({
      name: 'cli',
      baseUrl: '${env:SB_CLI_URL}',
      authcode: '${env:SB_CLI_KEY}',
      format,
      firstRunStart: new Date('2026-08-01T00:00:00Z'),
      destinations,
    }),
  );
  return file;
}

describe('pipeline commands', () => {
  it('run prints a summary table and exits 1 when records were dead-lettered; status and dlq list show them', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-run-'));
    const file = pipeline(dir, 'scorelink', 'ndjson');
    const state = join(dir, 'state');
    const first = await run(['run', file, '--state-dir', state]);
    expect(first.code).toBe(1);
    expect(first.stderr).toMatch(
      /scorebridge: cli: 2026-08-01T00:00:00 → .* UTC in \d+ requests: 300 records fetched, 5 unreadable/,
    );
    // DELIVERED UNCHANGED SUPERSEDED REFUSED FILTERED DEAD-LETTERED: the 295 readable records
    // add up, and the originals of re-sent reports are superseded, never sent.
    const [, delivered, superseded] =
      /scorebridge: out \(file\)\s+(\d+)\s+0\s+(\d+)\s+0\s+0\s+0\s+\d{4}-/
        .exec(first.stderr)!
        .map(Number);
    expect(delivered! + superseded!).toBe(295);
    expect(superseded).toBeGreaterThan(0);
    const again = await run(['run', file, '--state-dir', state]);
    expect(again.stderr).toMatch(/scorebridge: out \(file\)\s+0\s+\d+/);
    const status = await run(['status', file, '--state-dir', state]);
    expect(status.stdout).toMatch(
      new RegExp(
        `out \\(file\\): cursor \\d{4}-\\d\\d-\\d\\dT[\\d:]+ UTC; ${delivered} record versions confirmed; 0 dead letter\\(s\\)`,
      ),
    );
    expect(status.stdout).toMatch(/source: 5 unreadable record\(s\) as dead letters/);
    // The history says what each run did, per destination, and that it left dead letters.
    expect(status.stdout).toMatch(
      new RegExp(
        `\n {2}\\d{4}-[\\d-]+T[\\d:.]+Z ok, letters out ${delivered} delivered, ${superseded} superseded; 5 unreadable(; updates: [^\n]+)?\n {2}\\d{4}-[\\d-]+T[\\d:.]+Z ok, letters out 0 delivered, \\d+ unchanged(, \\d+ superseded)?; \\d+ unreadable\n`,
      ),
    );
    const list = await run(['dlq', 'list', file, '--state-dir', state]);
    expect(list.stdout.trim().split('\n')).toHaveLength(6);
    expect(list.stdout).toMatch(
      /parse\s+\*\s+.*line \d+, field dateOfBirth \(530–537\): not a valid YYYYMMDD date/,
    );
  });

  it('--json gives run, status, dlq list and validate one stable document each; --quiet keeps cron silent', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-json-'));
    const file = pipeline(dir, 'scorelink', 'ndjson');
    const state = join(dir, 'state');
    const ran = await run(['run', file, '--state-dir', state, '--json']);
    expect(ran.code).toBe(1);
    const summary = JSON.parse(ran.stdout);
    expect(summary).toMatchObject({
      version: 1,
      kind: 'run',
      pipeline: 'cli',
      ok: true,
      exit: 1,
      dryRun: false,
      fetched: 300,
      parseIssues: 5,
      sourceFailed: null,
      destinations: [{ id: 'out', type: 'file', unchanged: 0, deadLettered: 0, failed: null }],
    });
    const [out] = summary.destinations;
    expect(out.delivered + out.superseded).toBe(295);
    expect(summary.destinations[0].cursor).toMatch(/^\d{4}-\d\d-\d\dT/);
    expect(ran.stderr).not.toMatch(/DESTINATION/);

    const status = JSON.parse((await run(['status', file, '--state-dir', state, '--json'])).stdout);
    expect(status).toMatchObject({
      version: 1,
      kind: 'status',
      pipeline: 'cli',
      state,
      destinations: [{ id: 'out', type: 'file', confirmed: out.delivered, deadLetters: 0 }],
      sourceDeadLetters: 5,
      incidents: [],
      queues: null,
    });
    expect(status.runs).toHaveLength(1);
    expect(status.runs[0]).toMatchObject({ ok: true, parseIssues: 5 });

    const letters = JSON.parse(
      (await run(['dlq', 'list', file, '--state-dir', state, '--json'])).stdout,
    );
    expect(letters).toMatchObject({ version: 1, kind: 'dead-letters', pipeline: 'cli' });
    expect(letters.letters).toHaveLength(5);
    expect(letters.letters[0]).toMatchObject({ kind: 'parse', destination: '*' });

    const bad = join(dir, 'bad.yaml');
    writeFileSync(bad, 'name: Bad!\n');
    const checked = await run(['validate', file, bad, '--json']);
    expect(checked.code, checked.stderr + checked.stdout).toBe(2);
    const validation = JSON.parse(checked.stdout);
    expect(validation).toMatchObject({
      version: 1,
      kind: 'validation',
      ok: false,
      files: [
        { file, ok: true, pipeline: 'cli', destinations: ['out'] },
        { file: bad, ok: false },
      ],
    });
    expect(validation.files[1].problems.length).toBeGreaterThan(0);
    expect(checked.stderr).toBe('');

    // --quiet: problems only. The unreadable records met again are one (the table says so) …
    const problems = await run(['run', file, '--state-dir', state, '--quiet']);
    expect(problems.code).toBe(1);
    expect(problems.stderr).toMatch(/unreadable record\(s\) were filed as dead letters/);
    expect(problems.stderr).not.toMatch(/slice \d+\//);
    // … and a run with nothing wrong prints nothing at all (cron mails no one).
    const quiet = await run([
      ...['run', file, '--state-dir', state, '--quiet'],
      ...['--from', '2026-07-01', '--to', '2026-07-02'],
    ]);
    expect([quiet.code, quiet.stdout, quiet.stderr]).toEqual([0, '', '']);
  });

  it('Ctrl-C stops a run where it stands, says so, exits 130 and is in the history as interrupted; the next run carries on', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-int-'));
    const file = pipeline(dir, 'scorelink', 'ndjson');
    const state = join(dir, 'state');
    s.faults.add({ kind: 'slow', delayMs: 400, count: 20 });
    const child = spawn(process.execPath, [bin, 'run', file, '--state-dir', state], {
      env: process.env,
    });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString('utf8');
    });
    try {
      await expect
        .poll(() => stderr)
        .toMatch(/slice 1 \(.*\): \d+ records fetched so far, \d+% of the window/);
      child.kill('SIGINT');
      const [code] = await once(child, 'close');
      expect(code).toBe(130);
    } finally {
      s.faults.clear();
      child.kill('SIGKILL');
    }
    expect(stderr).toMatch(/interrupted: stopping after the batch in hand/);
    const status = await run(['status', file, '--state-dir', state]);
    expect(status.stdout).toMatch(/\n {2}\S+ INTERRUPTED {1,}out \d+ delivered/);
    const next = await run(['run', file, '--state-dir', state]);
    expect(next.code).toBe(1);
    const held = readdirSync(join(dir, 'out')).flatMap((f) =>
      readFileSync(join(dir, 'out', f), 'utf8')
        .trim()
        .split('\n'),
    );
    // Each key once, at its newest version, as one uninterrupted run (a dry run) would deliver.
    const whole = JSON.parse(
      (await run(['run', file, '--state-dir', join(dir, 'fresh'), '--dry-run', '--json'])).stdout,
    ).destinations[0];
    expect(whole.delivered + whole.superseded).toBe(295);
    expect(held).toHaveLength(whole.delivered);
    expect(new Set(held.map((l) => JSON.parse(l).recordKey)).size).toBe(whole.delivered);
  });

  it('trace follows one report by appointment number: its versions, their windows and classes, and what each destination confirmed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-trace-'));
    const file = pipeline(dir, 'scorelink', 'ndjson');
    const state = join(dir, 'state');
    await run(['run', file, '--state-dir', state]);
    const resent = Array.from({ length: s.data.size }, (_, i) => s.data.record(i)).find(
      (r) => r.resent && (r.fields.dateOfBirth as string | null) !== null,
    )!;
    const number = String(resent.fields.appointmentNumber);
    const traced = await run(['trace', file, number, '--state-dir', state]);
    expect(traced.code).toBe(0);
    const lines = traced.stdout.trim().split('\n');
    expect(lines[0]).toMatch(new RegExp(`^1234\\|\\d\\d\\|${number}\\|`));
    expect(lines.filter((l) => l.startsWith('  version '))).toHaveLength(2);
    expect(lines[1]).toMatch(/: the first version met$/);
    expect(lines[3]).toMatch(/: an update, (mybest-changed|scores-changed|other-fields)$/);
    // One run read both: only the newer was sent; the older is superseded, never sent.
    expect(lines[2]).toBe('    out (file): not sent: superseded by the newer version');
    expect(lines[4]).toBe('    out (file): confirmed');
    const json = JSON.parse(
      (await run(['trace', file, number, '--state-dir', state, '--json'])).stdout,
    );
    expect(json).toMatchObject({ version: 1, kind: 'trace', appointmentNumber: number });
    expect(json.versions.map((v: { superseded: boolean }) => v.superseded)).toEqual([true, false]);
    expect(json.versions[1].destinations).toEqual([
      { id: 'out', type: 'file', confirmed: true, deadLetters: [] },
    ]);
    const none = await run(['trace', file, '999', '--state-dir', state]);
    expect(none.code).toBe(1);
    expect(none.stdout).toMatch(/No report with appointment\/registration number 999/);
  });

  it('dlq replay re-delivers rejected records once the cause is fixed', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-dlq-'));
    // JSON records have no ScoreLink line to write: every record is rejected.
    const file = pipeline(dir, 'json', 'scorelink');
    const state = join(dir, 'state');
    // A dry run already knows: nothing would be delivered, every newest readable version refused.
    const dry = await run(['run', file, '--state-dir', state, '--dry-run', '--json']);
    const would = JSON.parse(dry.stdout).destinations[0];
    expect(would).toMatchObject({ delivered: 0 });
    const refused = would.deadLettered as number;
    expect(refused + would.superseded).toBe(297);
    const first = await run(['run', file, '--state-dir', state]);
    expect(first.code).toBe(1);
    const letters = (await run(['dlq', 'list', file, '--state-dir', state])).stdout;
    expect(letters).toMatch(/rejected\s+out\s+1234\|/);
    expect(letters).toMatch(/no ScoreLink line to write/);
    // The fix: write CSV instead. Replay fetches the windows again and delivers just those records.
    writeFileSync(file, readFileSync(file, 'utf8').replace('format: scorelink', 'format: csv'));
    const replay = await run(['dlq', 'replay', file, '--state-dir', state]);
    // The rejected records now deliver; the 3 unreadable ones (bad dates) stay open, as they should.
    expect(replay.stderr).toContain(
      `replayed ${refused + 3} dead letter(s): ${refused} resolved, 3 still open`,
    );
    expect(replay.code).toBe(1);
    const open = (await run(['dlq', 'list', file, '--state-dir', state])).stdout
      .trim()
      .split('\n')
      .slice(1);
    expect(open).toHaveLength(3);
    expect(
      open.every((l) => /\bparse\b.*field dateOfBirth: not a valid YYYYMMDD date/.test(l)),
    ).toBe(true);
    const csv = readdirSync(join(dir, 'out')).filter((f) => f.endsWith('.csv'));
    const rows = csv.flatMap((f) =>
      readFileSync(join(dir, 'out', f), 'utf8')
        .trim()
        .split('\n')
        .slice(1),
    );
    expect(rows).toHaveLength(refused);
  });

  it('check tests the key and every destination, and says what to do when one fails', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-check-'));
    const file = pipeline(dir, 'scorelink', 'ndjson');
    const good = await run(['check', file]);
    expect(good.code).toBe(0);
    expect(good.stdout).toMatch(
      /^ok {4}source: TOEFL Access accepted the key \(\d+ records reported in the last 24 hours\)\nok {4}out \(file\)\n$/,
    );
    // A destination directory that is a file, and an expired key.
    rmSync(join(dir, 'out'), { recursive: true });
    writeFileSync(join(dir, 'out'), 'not a directory');
    // Only a destination fails: the exit status is run's for that (4), not the source's (3).
    const destination = await run(['check', file]);
    expect(destination.code).toBe(4);
    expect(destination.stdout).toMatch(/^ok {4}source: /);
    expect(destination.stdout).toMatch(/FAIL {2}out \(file\): /);
    const json = await run(['check', file, '--json']);
    expect(json.code).toBe(4);
    expect(JSON.parse(json.stdout)).toMatchObject({
      version: 1,
      kind: 'check',
      pipeline: 'cli',
      ok: false,
      exit: 4,
      source: { ok: true, records: expect.any(Number) },
      destinations: [
        {
          id: 'out',
          type: 'file',
          ok: false,
          error: { kind: 'config', message: expect.stringMatching(/writing a test file/) },
        },
      ],
    });
    const key = process.env.SB_CLI_KEY;
    process.env.SB_CLI_KEY = Buffer.from('expired-key:sandbox').toString('base64');
    const bad = await run(['check', file]);
    process.env.SB_CLI_KEY = key;
    expect(bad.code).toBe(3);
    expect(bad.stdout).toMatch(
      /FAIL {2}source: \[toefl-access\] GET .* → 401 Authcode validation failed\n {6}what to do: ETS rejected the key/,
    );
    expect(bad.stdout).toMatch(
      /FAIL {2}out \(file\): \[file\] writing a test file in .*\/out failed: (ENOTDIR|EEXIST)\n {6}what to do: Make .* a directory this user can write to/,
    );
  });

  it("check prints a destination's notes under its ok line, and in --json", async () => {
    const { startSalesforceEmulator } = await import('../../../../test/salesforce/emulator.js');
    const org = await startSalesforceEmulator({ clientId: 'sb-app', clientSecret: 'sb-secret' });
    try {
      const dir = mkdtempSync(join(tmpdir(), 'sb-cli-notes-'));
      const file = pipeline(
        dir,
        'json',
        'ndjson',
        `
  - id: crm
    type: salesforce
    options:
      loginUrl: ${org.url}
      auth: { type: client-credentials, clientId: sb-app, clientSecret: '\${env:SB_SF_SECRET}' }
      profile: education-cloud`,
      );
      process.env.SB_SF_SECRET = 'sb-secret';
      const text = await run(['check', file]);
      expect(text.code).toBe(0);
      expect(text.stdout).toContain(
        'ok    crm (salesforce)\n      note: PersonExamination.ExaminationDate is a Date/Time field: dates are written as 12:00 UTC of the day\n      note: PersonExamination.Name is an auto-number field: ScoreBridge leaves it out\n',
      );
      const json = JSON.parse((await run(['check', file, '--json'])).stdout);
      expect(json.destinations[0].notes).toHaveLength(2);
    } finally {
      await org.close();
    }
  });

  it('validate reports every problem with file:line:column', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-val-'));
    const bad = join(dir, 'bad.yaml');
    writeFileSync(
      bad,
      'name: x\nsource:\n  baseUrl: https://x.example/scores\n  authcode: inline-secret\ndestinations: []\n',
    );
    const { code, stderr } = await run(['validate', bad, demoPipeline]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      `${bad}:4:13: source.authcode: this is a secret; give it by reference`,
    );
    expect(stderr).toMatch(/bad\.yaml:5:15: destinations: /);
  });

  it('keeps state in Redis with --redis: a second run delivers nothing, status reads it there', async () => {
    const redis = await startRedis();
    let cleanup = async () => {};
    try {
      const dir = mkdtempSync(join(tmpdir(), 'sb-cli-redis-'));
      // A pipeline name of its own: with REDIS_URL this may be a shared Redis.
      const name = `cli-${randomBytes(4).toString('hex')}`;
      const file = pipeline(dir, 'scorelink', 'ndjson');
      writeFileSync(file, readFileSync(file, 'utf8').replace('name: cli', `name: ${name}`));
      cleanup = async () => {
        const client = new Redis(redis.url);
        const keys = await client.keys(`{scorebridge}:${name}:*`);
        if (keys.length > 0) await client.del(...keys);
        client.disconnect();
      };
      // Redis URLs may carry a password; it is never printed.
      const url = new URL(redis.url);
      const first = await run(['run', file, '--redis', url.toString()]);
      const [, delivered, superseded] = /out \(file\)\s+(\d+)\s+0\s+(\d+)/
        .exec(first.stderr)!
        .map(Number);
      expect(delivered! + superseded!).toBe(295);
      const second = await run(['run', file, '--redis', url.toString()]);
      expect(second.stderr).toMatch(/out \(file\)\s+0\s+\d+/);
      const status = await run(['status', file, '--redis', url.toString()]);
      expect(status.stdout).toContain(`state in ${url.toString()}`);
      expect(status.stdout).toContain(`${delivered} record versions confirmed`);
      expect(status.stdout).toContain(`${name} (`);
      expect(readdirSync(dir)).not.toContain('.scorebridge');
      const wrong = await run(['status', file, '--redis', 'redis://user:CANARYPASS@127.0.0.1:1']);
      expect(wrong.code).toBe(2);
      expect(wrong.stderr).toMatch(/cannot reach Redis at redis:\/\/\*\*\*@127\.0\.0\.1:1/);
      expect(wrong.stderr).not.toContain('CANARYPASS');
    } finally {
      await cleanup();
      await redis.stop();
    }
  });

  it('dry run shows what would be delivered and writes nothing', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-cli-dry-'));
    const file = pipeline(dir, 'scorelink', 'ndjson');
    const { stderr } = await run(['run', file, '--dry-run', '--state-dir', join(dir, 'state')]);
    expect(stderr).toMatch(/dry run \(nothing delivered or written\)/);
    expect(stderr).toMatch(/WOULD DELIVER/);
    expect(readdirSync(dir)).toEqual(['cli.yaml']);
  });

  it('npm run demo works with no Redis and no credentials, from any directory, and a rerun delivers nothing new', () => {
    // A copy of the repository's demo files (its paths are relative to the pipeline file).
    const repo = mkdtempSync(join(tmpdir(), 'sb-demo-'));
    const layout = fileURLToPath(
      new URL('../../../sandbox/layouts/ibt26-sandbox.json', import.meta.url),
    );
    mkdirSync(join(repo, 'pipelines'));
    mkdirSync(join(repo, 'packages', 'sandbox', 'layouts'), { recursive: true });
    copyFileSync(demoPipeline, join(repo, 'pipelines', 'demo.yaml'));
    copyFileSync(layout, join(repo, 'packages', 'sandbox', 'layouts', 'ibt26-sandbox.json'));
    const demo = (cwd: string) =>
      spawnSync(
        process.execPath,
        [bin, 'demo', '--pipeline', join(repo, 'pipelines', 'demo.yaml'), '--records', '400'],
        { cwd, encoding: 'utf8' },
      );
    const first = demo(repo);
    expect(first.status, first.stderr).toBe(0);
    const [, delivered, superseded] = /csv \(file\)\s+(\d+)\s+0\s+(\d+)/
      .exec(first.stderr)!
      .map(Number);
    expect(delivered! + superseded!).toBe(400);
    expect(first.stderr).toContain(
      `files in ${repo}/demo-output/csv and ${repo}/demo-output/ndjson`,
    );
    expect(first.stderr).toContain(`state in ${repo}/.scorebridge/state/demo/`);
    expect(readdirSync(join(repo, 'demo-output', 'csv')).length).toBeGreaterThan(0);
    const elsewhere = mkdtempSync(join(tmpdir(), 'sb-demo-cwd-'));
    const second = demo(elsewhere);
    expect(second.status).toBe(0);
    expect(second.stderr).toMatch(/csv \(file\)\s+0\s+\d+/);
    expect(readdirSync(elsewhere)).toEqual([]);
  });
});
