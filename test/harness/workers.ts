import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import {
  dataKeys,
  loadPipeline,
  queueControl,
  type RunOutcome,
  startWorkers,
  type WorkerHandle,
} from '@scorebridge/runtime';
import { Redis } from 'ioredis';
import {
  ADAPTERS,
  FAST_CLIENT,
  FIRST_RUN,
  NOW,
  type Setup,
  type SetupOptions,
  setup,
  testClock,
} from './pipeline.js';
import { startRedis, type TestRedis } from './redis.mjs';

/**
 * The worker-mode harness: a pipeline set-up (sandbox, pipeline file, output directories) on a
 * Redis of the test's own, driven either in this process (`start`, where a test can look inside
 * the queues) or as `scorebridge worker` / `backfill` processes, as operators run it. Runs end
 * their windows at the tests' clock ({@link NOW}).
 */

const bin = fileURLToPath(new URL('../../packages/cli/bin/scorebridge.js', import.meta.url));
/** A data key for tests (worker mode refuses to start without one). */
export const DATA_KEY = `k1:${Buffer.alloc(32, 7).toString('base64')}`;

/** A `scorebridge worker` process, with what it wrote to stderr. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly log: () => string;
  /** Resolves when the worker says it started. */
  readonly started: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

/** What a CLI process printed, and how it ended. */
export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface WorkerSetup extends Setup {
  readonly redis: TestRedis;
  /** A connection of the test's own, for looking inside Redis. */
  readonly conn: Redis;
  /** Worker mode in this process, on the tests' clock; closed with the set-up. */
  start(extra?: Partial<Parameters<typeof startWorkers>[0]>): Promise<WorkerHandle>;
  /** Queues a backfill of the pipeline (by default {@link FIRST_RUN} to {@link NOW}); its run id. */
  enqueue(from?: Date, to?: Date): Promise<string>;
  /** Polls a run until it is over. */
  wait(runId: string): Promise<RunOutcome>;
  /** A backfill of {@link FIRST_RUN} to {@link NOW}, followed to the end, by the workers started with `start`. */
  backfill(): Promise<RunOutcome>;
  /** A `scorebridge worker` process. */
  worker(args?: string[]): WorkerProcess;
  /** `scorebridge backfill` from {@link FIRST_RUN} to {@link NOW}, followed to the end. */
  backfillCommand(args?: string[]): Promise<CliResult>;
  /** Any `scorebridge` command, with the set-up's environment unless `env` is given. */
  cli(args: string[], env?: NodeJS.ProcessEnv): Promise<CliResult>;
}

export async function workerSetup(
  options: SetupOptions & { ownRedis?: boolean } = {},
): Promise<WorkerSetup> {
  const redis = await startRedis({ own: options.ownRedis });
  const s = await setup({
    ...options,
    env: {
      ...options.env,
      SCOREBRIDGE_DATA_KEY: DATA_KEY,
      SCOREBRIDGE_REDIS_PREFIX: redis.prefix,
      SCOREBRIDGE_REDIS_URL: redis.url,
    },
  });
  const conn = new Redis(redis.url, { maxRetriesPerRequest: null });
  conn.on('error', () => undefined);
  const handles: WorkerHandle[] = [];
  const children: ChildProcess[] = [];
  const iso = (d: Date) => d.toISOString();

  const cli = async (args: string[], env: NodeJS.ProcessEnv = s.env): Promise<CliResult> => {
    const child = spawn(process.execPath, [bin, ...args], {
      env,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (c: Buffer) => {
      stdout += c.toString();
    });
    child.stderr.on('data', (c: Buffer) => {
      stderr += c.toString();
    });
    const [code] = (await once(child, 'exit')) as [number | null];
    return { code, stdout, stderr };
  };
  const control = <T>(use: (c: ReturnType<typeof queueControl>) => Promise<T>) => {
    const c = queueControl(conn, redis.prefix);
    return use(c).finally(() => c.close());
  };

  const h: WorkerSetup = {
    ...s,
    redis,
    conn,
    async start(extra = {}) {
      const handle = await startWorkers({
        redisUrl: redis.url,
        prefix: redis.prefix,
        pipelines: [loadPipeline(s.pipelineFile, { adapters: ADAPTERS, env: s.env })],
        adapters: ADAPTERS,
        keys: dataKeys({ SCOREBRIDGE_DATA_KEY: DATA_KEY }),
        lockMs: 2000,
        client: FAST_CLIENT,
        clock: testClock(),
        logger: process.env.SB_DEBUG
          ? { debug() {}, info: console.error, warn: console.error, error: console.error }
          : undefined,
        ...extra,
      });
      handles.push(handle);
      return handle;
    },
    enqueue: (from = FIRST_RUN, to = NOW) =>
      control(async (c) => (await c.enqueueBackfill('test', from, to)).runId),
    wait: (runId) =>
      control(async (c) => {
        for (;;) {
          const p = await c.progress(runId);
          if (p.state === 'done') return p.outcome!;
          if (p.state === 'failed') throw new Error(p.reason);
          await new Promise((r) => setTimeout(r, 100));
        }
      }),
    async backfill() {
      return h.wait(await h.enqueue());
    },
    worker(args = []) {
      const child = spawn(
        process.execPath,
        [bin, 'worker', s.pipelineFile, '--lock-seconds', '2', ...args],
        { env: s.env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      children.push(child);
      let log = '';
      const started = new Promise<void>((resolve, reject) => {
        child.stderr!.on('data', (c: Buffer) => {
          log += c.toString();
          if (log.includes('worker started')) resolve();
        });
        child.once('exit', () => reject(new Error(`the worker exited before starting:\n${log}`)));
      });
      started.catch(() => undefined);
      const exited = once(child, 'exit').then(([code, signal]) => ({
        code: code as number | null,
        signal: signal as string | null,
      }));
      return { child, log: () => log, started, exited };
    },
    backfillCommand: (args = []) =>
      cli(['backfill', s.pipelineFile, '--from', iso(FIRST_RUN), '--to', iso(NOW), ...args]),
    cli,
    async close() {
      for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
      for (const handle of handles.splice(0).reverse()) await handle.close(2000);
      conn.disconnect();
      await s.close();
      await redis.stop();
    },
  };
  return h;
}
