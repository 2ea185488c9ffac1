import { execFileSync, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { planSlices } from '@scorebridge/core';
import { type Sandbox, startSandbox } from '@scorebridge/sandbox';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { FIRST_RUN, fileDestinationsYaml, NOW, pipelineYaml } from '../harness/pipeline.js';
import { workerSetup } from '../harness/workers.js';

/**
 * What a person sees in a terminal: `scorebridge run` in a tmux pane (a real pseudo-terminal),
 * read back with capture-pane.
 */

const bin = fileURLToPath(new URL('../../packages/cli/bin/scorebridge.js', import.meta.url));
const TMUX = spawnSync('tmux', ['-V']).status === 0;
let s: Sandbox;
beforeAll(async () => {
  if (!TMUX) throw new Error('tmux is not installed (Debian: apt-get install tmux)');
  s = await startSandbox({
    seed: 4,
    records: 400,
    days: 60,
    now: new Date('2026-11-01T00:00:00Z'),
  });
});
afterAll(() => s?.close());
const sockets: string[] = [];
afterEach(() => {
  s.faults.clear();
  for (const socket of sockets.splice(0)) spawnSync('tmux', ['-S', socket, 'kill-server']);
});

/** A pipeline of the sandbox; `directory` may be made unwritable to get an error logged. */
function pipelineIn(dir: string, directory = join(dir, 'out')): string {
  const file = join(dir, 'term.yaml');
  writeFileSync(
    file,
    pipelineYaml({
      name: 'term',
      baseUrl: s.scoresUrl,
      authcode: '${env:SB_TERM_KEY}',
      firstRunStart: new Date('2026-08-01T00:00:00Z'),
      destinations: fileDestinationsYaml([{ id: 'csv', format: 'csv', directory, batchSize: 50 }]),
    }),
  );
  return file;
}

/** The environment of the pane: ours, without colour settings unless the test gives them. */
function terminalEnv(extra: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    SB_TERM_KEY: s.authcode,
    TERM: 'xterm-256color',
  };
  delete env.NO_COLOR;
  delete env.FORCE_COLOR;
  return { ...env, ...extra };
}

/** `scorebridge run …` in a fresh tmux pane; `screen()` is what the pane shows. */
function inTerminal(args: string[], env: NodeJS.ProcessEnv = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'sb-term-'));
  const socket = join(dir, 'tmux.sock');
  sockets.push(socket);
  const command = `${process.execPath} ${bin} ${args.join(' ')}; echo "EXIT=$?"; sleep 120`;
  execFileSync(
    'tmux',
    ['-f', '/dev/null', '-S', socket, 'new-session', '-d', '-x', '180', '-y', '30', command],
    {
      env: terminalEnv(env),
    },
  );
  const screen = (escapes = false) =>
    execFileSync('tmux', ['-S', socket, 'capture-pane', '-p', ...(escapes ? ['-e'] : [])], {
      encoding: 'utf8',
    });
  return { dir, screen };
}

describe('run in a terminal', () => {
  it('shows one live status — slice, fetched, rate, what each destination took — then the summary', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-term-p-'));
    s.faults.add({ kind: 'slow', delayMs: 300, count: 3 });
    // A fixed window (the same slices on any day the test runs).
    const window = ['--from', '2026-08-01', '--to', '2026-11-02'];
    const t = inTerminal(['run', pipelineIn(dir), '--state-dir', join(dir, 'state'), ...window]);
    await expect
      .poll(t.screen)
      .toMatch(
        /^slice \d+ \(\d{4}-[^)]+\) · \d+ fetched( \(\d+\/s\))? · csv \d+ delivered · \d+% of the window, about \d+:\d\d left/m,
      );
    // One status, redrawn in place: never two status lines at once.
    expect(t.screen().match(/^slice \d+ /gm)?.length).toBe(1);
    await expect.poll(t.screen).toMatch(/EXIT=0/);
    const end = t.screen();
    // DELIVERED UNCHANGED SUPERSEDED REFUSED: the 400 records add up.
    const [, delivered, superseded] = /scorebridge: csv \(file\)\s+(\d+)\s+0\s+(\d+)\s+0/
      .exec(end)!
      .map(Number);
    expect(delivered! + superseded!).toBe(400);
    expect(end).not.toMatch(/^slice /m);
  });

  it('counts down while a retry waits after an HTTP 500 (5–10 minutes, as ETS advises)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-term-r-'));
    s.faults.add({ kind: 'status', status: 500, count: 1 });
    const t = inTerminal(['run', pipelineIn(dir), '--state-dir', join(dir, 'state')]);
    const countdown = /retrying TOEFL Access in (\d+):(\d\d) after HTTP 500 \(attempt 2 of 6\)/;
    await expect.poll(t.screen).toMatch(countdown);
    const first = countdown.exec(t.screen())!;
    const left = (m: RegExpExecArray) => Number(m[1]) * 60 + Number(m[2]);
    expect(left(first)).toBeGreaterThanOrEqual(4 * 60);
    expect(left(first)).toBeLessThanOrEqual(10 * 60);
    // It moves: a later look shows less time left.
    await expect.poll(() => left(countdown.exec(t.screen()) ?? first)).toBeLessThan(left(first));
  });

  it('fetch says at once, in the terminal, that it waits 5–10 minutes after an HTTP 500', async () => {
    s.faults.add({ kind: 'status', status: 500, count: 1 });
    const t = inTerminal([
      ...['fetch', '--base-url', s.scoresUrl, '--authcode-env', 'SB_TERM_KEY'],
      ...['--from', '2026-10-01', '--to', '2026-10-03', '--out', 'csv'],
    ]);
    await expect.poll(t.screen).toMatch(/→ 500 Internal Server Error; retrying in (\d+)\.\d s/);
    const seconds = Number(/retrying in (\d+)\.\d s/.exec(t.screen())![1]);
    expect(seconds).toBeGreaterThanOrEqual(300);
    expect(t.screen()).not.toMatch(/EXIT=/);
  });

  it('backfill follows the workers on one live line, the planned slices as its total', async () => {
    const w = await workerSetup({ sandbox: { records: 150 } });
    try {
      await w.start();
      s.faults.clear();
      w.sandbox.faults.add({ kind: 'slow', delayMs: 300, count: 6 });
      const t = inTerminal(
        ['backfill', w.pipelineFile, '--from', FIRST_RUN.toISOString(), '--to', NOW.toISOString()],
        w.env,
      );
      const slices = planSlices(FIRST_RUN, NOW, 30).length;
      await expect
        .poll(t.screen)
        .toMatch(new RegExp(`slices fetched \\d+ of ${slices} · jobs done`));
      expect(t.screen().match(/slices fetched/g)?.length).toBe(1);
      await expect.poll(t.screen).toMatch(/EXIT=0/);
      expect(t.screen()).toMatch(/^done: 150 fetched/m);
      // The line's last state stays: every planned slice fetched.
      expect(t.screen()).toMatch(new RegExp(`slices fetched ${slices} of ${slices} · jobs done`));
    } finally {
      await w.close();
    }
  });

  it('--quiet shows nothing when all is well', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-term-q-'));
    const t = inTerminal(['run', pipelineIn(dir), '--state-dir', join(dir, 'state'), '--quiet']);
    await expect.poll(t.screen).toMatch(/EXIT=0/);
    expect(t.screen().trim()).toBe('EXIT=0');
  });

  it('colours log lines on a terminal, and not with NO_COLOR', async () => {
    const logged = async (env: Record<string, string>) => {
      const dir = mkdtempSync(join(tmpdir(), 'sb-term-c-'));
      writeFileSync(join(dir, 'blocked'), 'a file where the directory should be');
      const t = inTerminal(
        ['run', pipelineIn(dir, join(dir, 'blocked', 'out')), '--state-dir', join(dir, 'state')],
        env,
      );
      await expect.poll(t.screen).toMatch(/EXIT=4/);
      const line = t
        .screen(true)
        .split('\n')
        .find((l) => l.includes('giving up for this run'));
      expect(line).toBeDefined();
      return line!;
    };
    const SGR = new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`);
    expect(await logged({})).toMatch(SGR);
    expect(await logged({ NO_COLOR: '1' })).not.toMatch(SGR);
  });
});
