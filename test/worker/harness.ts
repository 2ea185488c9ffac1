import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { startRedis, type TestRedis } from '../harness/redis.mjs';
import { type Setup, setup } from '../pipeline/harness.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/scorebridge.js', import.meta.url));
/** A data key for tests (worker mode refuses to start without one). */
export const DATA_KEY = `k1:${Buffer.alloc(32, 7).toString('base64')}`;
/** The range the pipeline harness's sandbox data lies in. */
export const FROM = '2026-06-01T00:00:00Z';

/** A worker process of `scorebridge worker`, with what it wrote to stderr. */
export interface WorkerProcess {
  readonly child: ChildProcess;
  readonly log: () => string;
  /** Resolves when the worker says it started. */
  readonly started: Promise<void>;
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
}

/** A pipeline set-up (sandbox, pipeline file, output directories) on a Redis of the test's own. */
export interface WorkerSetup extends Setup {
  readonly redis: TestRedis;
  worker(args?: string[]): WorkerProcess;
  /** `scorebridge backfill` from {@link FROM} to now, followed to the end. */
  backfill(args?: string[]): Promise<{ code: number | null; stdout: string; stderr: string }>;
  cli(
    args: string[],
    env?: NodeJS.ProcessEnv,
  ): Promise<{ code: number | null; stdout: string; stderr: string }>;
}

export async function workerSetup(
  options: Parameters<typeof setup>[0] & { ownRedis?: boolean } = {},
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
  const workers: ChildProcess[] = [];
  const cli = async (args: string[], env: NodeJS.ProcessEnv = s.env) => {
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
  return {
    ...s,
    redis,
    worker(args = []) {
      const child = spawn(
        process.execPath,
        [bin, 'worker', s.pipelineFile, '--lock-seconds', '2', ...args],
        { env: s.env, stdio: ['ignore', 'ignore', 'pipe'] },
      );
      workers.push(child);
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
    backfill: (args = []) => cli(['backfill', s.pipelineFile, '--from', FROM, ...args]),
    cli,
    async close() {
      for (const w of workers) if (w.exitCode === null && w.signalCode === null) w.kill('SIGKILL');
      await s.close();
      await redis.stop();
    },
  };
}
