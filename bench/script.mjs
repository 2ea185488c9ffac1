// `scorebridge run` against the script an admissions office writes today (naive-script.mjs):
// the same sandbox, the same 90-day window, CSV out, at 10k, 30k and 100k records. Each is a
// child process from spawn to exit (start-up included), the two interleaved, best of three;
// `scorebridge run` keeps its state as in production (a fresh state folder each time, every write
// synced). Peak RSS and CPU time are each child's own (rss-at-exit.mjs, preloaded).
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { benchSetup, NOW } from './backfill.mjs';

const SIZES = [10_000, 30_000, 100_000];
const ROUNDS = 3;
const FROM = new Date('2026-08-03T00:00:00Z');
const here = (p) => fileURLToPath(new URL(p, import.meta.url));
const bin = here('../packages/cli/bin/scorebridge.js');

/** Runs `args` under node with the RSS probe; resolves to wall seconds, CPU seconds, peak MB. */
async function timed(args, env) {
  const started = performance.now();
  const child = spawn(process.execPath, ['--import', here('./rss-at-exit.mjs'), ...args], {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr.on('data', (c) => {
    err += c;
  });
  const code = await new Promise((resolve) => child.once('exit', resolve));
  const seconds = (performance.now() - started) / 1000;
  if (code !== 0) throw new Error(`${args.join(' ')} exited ${code}:\n${err}`);
  const [, kb, cpu] = /peak-rss-kb (\d+) cpu-us (\d+)/.exec(err);
  return { seconds, cpuSeconds: Number(cpu) / 1e6, peakRssMb: Number(kb) / 1024 };
}

const rows = (file) => readFileSync(file, 'utf8').split('\n').filter(Boolean).length - 1;
const best = (runs) => runs.reduce((a, b) => (b.seconds < a.seconds ? b : a));

export async function againstScript(sizes = SIZES) {
  const results = [];
  for (const records of sizes) {
    const { sandbox, dir, pipeline, env } = await benchSetup('script', {
      records,
      seed: 11,
      format: 'csv',
    });
    const script = [];
    const ours = [];
    const served = [];
    try {
      for (let round = 0; round < ROUNDS; round++) {
        const csv = join(dir, `script-${round}.csv`);
        script.push({
          ...(await timed(
            [
              here('./naive-script.mjs'),
              env.SB_URL,
              env.SB_KEY,
              FROM.toISOString(),
              NOW.toISOString(),
              csv,
            ],
            env,
          )),
          rows: rows(csv),
        });
        served.push(
          await timed(
            [
              here('./naive-script.mjs'),
              env.SB_URL,
              env.SB_KEY,
              FROM.toISOString(),
              NOW.toISOString(),
              '--drain',
            ],
            env,
          ),
        );
        const state = join(dir, `state-${round}`);
        ours.push(
          await timed(
            [
              bin,
              'run',
              pipeline,
              '--from',
              FROM.toISOString(),
              '--to',
              NOW.toISOString(),
              '--state-dir',
              state,
              '-q',
            ],
            env,
          ),
        );
      }
    } finally {
      await sandbox.close();
    }
    const s = best(script);
    const o = best(ours);
    const d = best(served);
    results.push({
      records,
      rows: s.rows,
      script: s,
      scorebridge: o,
      sandboxAlone: d,
      ratio: s.seconds / o.seconds,
      // No client finishes before the sandbox has served the window: the most any can reach.
      ceiling: s.seconds / d.seconds,
      cpuMicrosPerRecord: {
        script: (s.cpuSeconds / records) * 1e6,
        scorebridge: (o.cpuSeconds / records) * 1e6,
      },
    });
  }
  return results;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const sizes = process.argv.slice(2).map(Number).filter(Boolean);
  console.log(JSON.stringify(await againstScript(sizes.length ? sizes : SIZES), null, 2));
}
