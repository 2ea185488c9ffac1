// A 100,000-record backfill through worker mode: two `scorebridge worker` processes on a
// redis-server of the benchmark's own (append-only file, fsync every second, as recommended for
// production), the same sandbox data and file destination as the inline backfill benchmark.
// Measured: records/s from enqueue to the run's end, Redis commands per record (INFO stats),
// and each worker's peak RSS (VmHWM).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { connectRedis, queueControl } from '@scorebridge/runtime';
import { startRedis } from '../test/harness/redis.mjs';
import { benchSetup, FROM, NOW } from './backfill.mjs';

const WORKERS = 2;
const bin = fileURLToPath(new URL('../packages/cli/bin/scorebridge.js', import.meta.url));

export async function queueBackfill() {
  const { sandbox, pipeline, env: source } = await benchSetup('queue');
  const redis = await startRedis({ own: true, appendfsync: 'everysec' });
  const env = {
    ...process.env,
    ...source,
    SCOREBRIDGE_DATA_KEY: `k1:${Buffer.alloc(32, 9).toString('base64')}`,
    SCOREBRIDGE_REDIS_PREFIX: redis.prefix,
    SCOREBRIDGE_REDIS_URL: redis.url,
  };
  const workers = [];
  const conn = await connectRedis(redis.url);
  try {
    for (let i = 0; i < WORKERS; i++) {
      const child = spawn(process.execPath, [bin, 'worker', pipeline], {
        env,
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      let log = '';
      await new Promise((resolve, reject) => {
        child.stderr.on('data', (c) => {
          log += c;
          if (log.includes('worker started')) resolve();
        });
        child.once('exit', () => reject(new Error(`a worker exited:\n${log}`)));
      });
      workers.push(child);
    }
    const commands = async () =>
      Number(/total_commands_processed:(\d+)/.exec(await conn.info('stats'))[1]);
    const control = queueControl(conn, redis.prefix);
    const before = await commands();
    const started = process.hrtime.bigint();
    const { runId } = await control.enqueueBackfill('bench', FROM, NOW);
    let progress;
    for (;;) {
      progress = await control.progress(runId);
      if (progress.state === 'done' || progress.state === 'failed') break;
      await new Promise((r) => setTimeout(r, 50));
    }
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    // Less this loop's own polling (about 6 commands a poll).
    const used = (await commands()) - before;
    await control.close();
    if (progress.state !== 'done') throw new Error(`the run failed: ${progress.reason}`);
    const outcome = progress.outcome;
    const delivered = outcome.destinations[0].delivered;
    const peakRssMb = workers.map(
      (w) =>
        Number(/VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${w.pid}/status`, 'utf8'))[1]) / 1024,
    );
    return {
      delivered,
      fetched: outcome.fetched,
      slices: outcome.slices,
      seconds,
      recordsPerSecond: Math.round(delivered / seconds),
      commandsPerRecord: used / delivered,
      peakRssMb,
      byWorker: Object.values(outcome.workers),
    };
  } finally {
    for (const w of workers) w.kill('SIGTERM');
    await Promise.all(workers.map((w) => (w.exitCode === null ? once(w, 'exit') : null)));
    conn.disconnect();
    await redis.stop();
    await sandbox.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await queueBackfill());
