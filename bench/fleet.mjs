// A fleet: two `scorebridge worker` processes over a directory of 1,000 generated pipelines (half
// to a file destination, half to a webhook receiver), on a redis-server of the benchmark's own.
// Measured in one run:
// - start-up: from spawn to the worker's "worker started" line (files loaded, 1,000 schedules
//   upserted);
// - Redis connections per process (CLIENT LIST, less the benchmark's own connection), once idle;
// - idle Redis commands per second per process (INFO total_commands_processed, which counts the commands inside
//   scripts too, over 60 s: the stalled-job checks and announcements included; no run
//   due: every schedule is a daily cron twelve hours away);
// - RSS per process, idle (VmRSS) and at its peak (VmHWM);
// - from a due schedule to its run starting: ten pipelines are rewritten to a cron a few seconds
//   ahead, the workers reloaded (SIGHUP), and each run job's processedOn compared with the time
//   its scheduler made it due (the end of its job id).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { connectRedis, QUEUES } from '@scorebridge/runtime';
import { startSandbox } from '@scorebridge/sandbox';
import { Queue } from 'bullmq';
import { startRedis } from '../test/harness/redis.mjs';

const PIPELINES = 1000;
const WORKERS = 2;
const DUE = 10;
const IDLE_SECONDS = 60;
const bin = fileURLToPath(new URL('../packages/cli/bin/scorebridge.js', import.meta.url));
const SECRET = 'whsec_YmVuY2htYXJrLWJlbmNobWFyay1iZW5jaG1hcmstMTI=';

/** One institution's pipeline file: the sandbox as its source, a file or a webhook destination. */
function pipelineYaml(i, dir, schedule) {
  const destination =
    i % 2
      ? `  - id: hook
    type: webhook
    options:
      url: \${env:SB_HOOK}
      secrets: ['\${env:SB_HOOK_SECRET}']
      allowHttp: true
      allowPrivateNetwork: true`
      : `  - id: files
    type: file
    options:
      directory: ${join(dir, 'out', String(i))}
      format: ndjson`;
  return `name: inst-${String(i).padStart(4, '0')}
schedule:
  cron: "${schedule}"
source:
  baseUrl: \${env:SB_URL}
  authcode: \${env:SB_KEY}
destinations:
${destination}
`;
}

const status = (pid, field) =>
  Number(
    new RegExp(`${field}:\\s+(\\d+) kB`).exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1],
  ) / 1024;

function startWorker(dir, env) {
  const started = performance.now();
  const child = spawn(process.execPath, [bin, 'worker', dir, '--log-level', 'info'], {
    env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let log = '';
  child.stderr.on('data', (c) => {
    log += c;
  });
  const ready = new Promise((resolve, reject) => {
    const check = () => log.includes('worker started') && resolve(performance.now() - started);
    child.stderr.on('data', check);
    child.once('exit', () => reject(new Error(`a worker exited:\n${log}`)));
  });
  return { child, ready, log: () => log };
}

export async function fleet() {
  const now = new Date();
  const sandbox = await startSandbox({ seed: 5, records: 200, days: 20, now });
  const receiver = spawn(
    process.execPath,
    [fileURLToPath(new URL('./webhook-receiver.mjs', import.meta.url))],
    { stdio: ['ignore', 'pipe', 'inherit'] },
  );
  const [line] = await once(receiver.stdout, 'data');
  const redis = await startRedis({ own: true });
  const conn = await connectRedis(redis.url);
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-fleet-'));
  const files = join(dir, 'pipelines');
  mkdirSync(files);
  const idle = `0 ${(now.getUTCHours() + 12) % 24} * * *`;
  const file = (i) => join(files, `inst-${String(i).padStart(4, '0')}.yaml`);
  for (let i = 0; i < PIPELINES; i++) writeFileSync(file(i), pipelineYaml(i, dir, idle));
  const env = {
    ...process.env,
    SB_URL: sandbox.scoresUrl,
    SB_KEY: sandbox.authcode,
    SB_HOOK: String(line).trim(),
    SB_HOOK_SECRET: SECRET,
    SCOREBRIDGE_DATA_KEY: `k1:${Buffer.alloc(32, 9).toString('base64')}`,
    SCOREBRIDGE_REDIS_PREFIX: redis.prefix,
    SCOREBRIDGE_REDIS_URL: redis.url,
  };
  const workers = [];
  const queue = new Queue(QUEUES.run, { connection: conn, prefix: `${redis.prefix}:bull` });
  try {
    const startupMs = [];
    for (let i = 0; i < WORKERS; i++) {
      const w = startWorker(files, env);
      workers.push(w);
      startupMs.push(await w.ready);
    }
    const schedulers = await queue.getJobSchedulersCount();
    const clients = async () =>
      (await conn.client('LIST')).split('\n').filter((l) => l.startsWith('id=')).length - 1;
    // Past start-up's own commands (and each worker's first announcement) before measuring.
    await new Promise((r) => setTimeout(r, 3000));
    const connections = await clients();
    const commands = async () =>
      Number(/total_commands_processed:(\d+)/.exec(await conn.info('stats'))[1]);
    const before = await commands();
    const t0 = performance.now();
    await new Promise((r) => setTimeout(r, IDLE_SECONDS * 1000));
    // Less the two INFO commands of the measurement itself.
    const idleCommands = (await commands()) - before - 1;
    const idleSeconds = (performance.now() - t0) / 1000;
    const idleRssMb = workers.map((w) => status(w.child.pid, 'VmRSS'));

    // Ten schedules made due a few seconds from now, the workers reloaded.
    const at = new Date(Date.now() + 8000);
    const due = `${at.getUTCSeconds()} ${at.getUTCMinutes()} ${at.getUTCHours()} * * *`;
    for (let i = 0; i < DUE; i++) writeFileSync(file(i), pipelineYaml(i, dir, due));
    const reloaded = workers.map((w) => w.log().split('pipelines-reloaded').length);
    const reloadStarted = performance.now();
    for (const w of workers) w.child.kill('SIGHUP');
    for (const [k, w] of workers.entries())
      while (w.log().split('pipelines-reloaded').length === reloaded[k])
        await new Promise((r) => setTimeout(r, 20));
    const reloadMs = performance.now() - reloadStarted;
    let started = [];
    for (;;) {
      const jobs = await queue.getJobs(['completed', 'failed']);
      started = jobs.filter((j) => j.id.startsWith('repeat:'));
      if (started.length >= DUE) break;
      if (Date.now() > at.getTime() + 60_000) throw new Error('the due runs did not finish');
      await new Promise((r) => setTimeout(r, 200));
    }
    const failed = started.filter((j) => j.failedReason);
    if (failed.length) throw new Error(`a due run failed: ${failed[0].failedReason}`);
    // A scheduler's job id ends in the time it is due (repeat:<scheduler>:<ms>).
    const lagMs = started.map((j) => j.processedOn - Number(j.id.split(':').at(-1)));
    return {
      pipelines: PIPELINES,
      schedulers,
      startupMs,
      connectionsPerProcess: connections / WORKERS,
      idleCommandsPerSecondPerProcess: idleCommands / idleSeconds / WORKERS,
      idleRssMb,
      peakRssMb: workers.map((w) => status(w.child.pid, 'VmHWM')),
      reloadMs,
      dueToStartMs: { median: median(lagMs), max: Math.max(...lagMs), runs: lagMs.length },
    };
  } finally {
    for (const w of workers) w.child.kill('SIGTERM');
    await Promise.all(
      workers.map((w) => (w.child.exitCode === null ? once(w.child, 'exit') : null)),
    );
    await queue.close();
    conn.disconnect();
    await redis.stop();
    receiver.kill();
    await sandbox.close();
  }
}

const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

if (import.meta.url === `file://${process.argv[1]}`) console.log(await fleet());
