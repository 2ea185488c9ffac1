import {
  createFileStateStore,
  createRedisStateStore,
  queueControl,
  type StateStore,
  type WorkerHandle,
} from '@scorebridge/runtime';
import type { Setup, SetupOptions } from '../harness/pipeline.js';
import { setup } from '../harness/pipeline.js';
import { workerSetup } from '../harness/workers.js';

/**
 * The two executors behind one face, for the contract suite: the same scenario runs inline (a
 * file state directory, as `scorebridge run` does) and in worker mode (BullMQ workers on a Redis
 * of the test's own, two deliveries at once per destination, so that jobs fail at the same
 * moment). Runs end their windows at the tests' clock.
 */

export type Mode = 'inline' | 'worker';
export const MODES: readonly Mode[] = ['inline', 'worker'];

/** What a run did, as both executors record it. */
export interface Outcome {
  readonly ok: boolean;
  /** The run did not start: another run of the pipeline was going (worker mode's words). */
  readonly skipped?: string;
  readonly destinations: readonly {
    readonly id: string;
    readonly delivered: number;
    readonly unchanged: number;
    readonly deadLettered: number;
    readonly failed?: string;
  }[];
}

export interface Executor {
  readonly mode: Mode;
  readonly s: Setup;
  /** The pipeline's state, as this executor keeps it. */
  readonly store: StateStore;
  /** A regular run (a schedule's tick): its window ends now, cursors move. */
  run(): Promise<Outcome>;
  /** A backfill of [from, to]: cursors stay. */
  backfill(from: Date, to: Date): Promise<Outcome>;
  /** Loads the pipeline again (its secrets changed): workers restart; inline runs load it anyway. */
  reload(): Promise<void>;
  close(): Promise<void>;
}

/**
 * Worker-mode retries for the suite: two tries, quickly. (Inline runs try once: the harness sets
 * `deliveryRetries: 0`.) How many tries each executor makes is one of its documented differences.
 */
export const QUEUE_YAML = 'queue:\n  attempts: 2\n  backoffSeconds: 0.05';

export async function executor(mode: Mode, options: SetupOptions = {}): Promise<Executor> {
  const extra = `${options.extra ?? ''}\n${QUEUE_YAML}`;
  if (mode === 'inline') {
    const s = await setup({ ...options, extra });
    const store = createFileStateStore(s.stateDir);
    const outcome = (summary: Awaited<ReturnType<Setup['run']>>): Outcome => ({
      ok: summary.ok,
      destinations: summary.destinations.map((d) => ({
        id: d.id,
        delivered: d.delivered,
        unchanged: d.unchanged,
        deadLettered: d.deadLettered,
        ...(d.failed ? { failed: d.failed.message } : {}),
      })),
    });
    return {
      mode,
      s,
      store,
      run: async () => outcome(await s.run()),
      backfill: async (from, to) => outcome(await s.run({ from, to })),
      reload: async () => {},
      close: () => s.close(),
    };
  }
  const w = await workerSetup({ ...options, extra });
  let handle: WorkerHandle | undefined = await w.start({ concurrency: 2 });
  const control = queueControl(w.conn, w.redis.prefix);
  const follow = (runId: string): Promise<Outcome> => w.wait(runId);
  return {
    mode,
    s: w,
    store: createRedisStateStore(w.conn, { prefix: w.redis.prefix }),
    async run() {
      const { jobId, runId } = await control.enqueueRun('test');
      for (;;) {
        const started = await control.runStarted(jobId);
        if (started?.skipped) return { ok: false, skipped: started.skipped, destinations: [] };
        if (started) return started.slices === 0 ? { ok: true, destinations: [] } : follow(runId);
        const failure = await control.runJobFailure(jobId);
        if (failure) throw new Error(failure);
        await new Promise((r) => setTimeout(r, 50));
      }
    },
    backfill: async (from, to) => follow(await w.enqueue(from, to)),
    async reload() {
      await handle?.close(2000);
      handle = await w.start({ concurrency: 2 });
    },
    async close() {
      await control.close();
      await w.close();
    },
  };
}
