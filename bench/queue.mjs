// A 100,000-record backfill through worker mode: two `scorebridge worker` processes on a
// redis-server of the benchmark's own (append-only file, fsync every second, as recommended for
// production), the same sandbox data and file destination as the inline backfill benchmark.
// Measured: records/s from enqueue to the run's end, Redis commands per record (INFO stats),
// and each worker's peak RSS (VmHWM).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { queueControl } from '@scorebridge/runtime';
import { startSandbox } from '@scorebridge/sandbox';
import { Redis } from 'ioredis';
import { startRedis } from '../test/harness/redis.mjs';

const RECORDS = 100_000;
const WORKERS = 2;
const bin = fileURLToPath(new URL('../packages/cli/bin/scorebridge.js', import.meta.url));

export async function queueBackfill() {
  const now = new Date('2026-11-01T00:00:00Z');
  const sandbox = await startSandbox({ seed: 3, records: RECORDS, days: 90, now });
  const redis = await startRedis({ own: true, appendfsync: 'everysec' });
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-queue-'));
  const pipeline = join(dir, 'bench.yaml');
  writeFileSync(
    pipeline,
    `name: bench
source:
  baseUrl: \${env:SB_URL}
  authcode: \${env:SB_KEY}
destinations:
  - id: files
    type: file
    batchSize: 1000
    options:
      directory: ${join(dir, 'out')}
      format: ndjson
`,
  );
  const env = {
    ...process.env,
    SB_URL: sandbox.scoresUrl,
    SB_KEY: sandbox.authcode,
    SCOREBRIDGE_DATA_KEY: `k1:${Buffer.alloc(32, 9).toString('base64')}`,
    SCOREBRIDGE_REDIS_PREFIX: redis.prefix,
    SCOREBRIDGE_REDIS_URL: redis.url,
  };
  const workers = [];
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
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
    const { runId } = await control.enqueueBackfill('bench', new Date('2026-08-01T00:00:00Z'), now);
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
