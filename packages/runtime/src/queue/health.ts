import type { Queue, Worker } from 'bullmq';
import { stalledWorkerAlert } from '../alerts/alerts.js';
import type { RedisConnection as Redis } from '../redis.js';
import type { PipelineContext } from '../run/context.js';

/** What the liveness endpoint reports. */
export interface Health {
  /** `ok`: connected and jobs flow (or there is nothing to do); `stalled`: work waits and nothing moves; `down`: Redis unreachable. */
  readonly status: 'ok' | 'stalled' | 'down';
  readonly redis: string;
  readonly waiting: number;
  readonly active: number;
  readonly lastActivityAt: string | null;
}

const HEALTH_DEADLINE_MS = 2000;

/**
 * Worker liveness: jobs taken and finished are tracked; waiting work with nothing moving for
 * `staleMs` is "stalled", and an incident for every pipeline with a Slack channel.
 */
export function workerHealth(options: {
  readonly redis: Redis;
  readonly workers: readonly Worker[];
  readonly queue: (name: string) => Queue;
  readonly pipelines: () => readonly PipelineContext[];
  readonly staleMs: number;
  readonly workerName: string;
}) {
  const { redis, workers } = options;
  let lastActivity: number | null = null;
  let active = 0;

  async function flowing(): Promise<Health> {
    let waiting = 0;
    for (const w of workers) {
      // A destination's paused or rate-limited jobs are delayed, not waiting: not stalled.
      waiting += await options.queue(w.name).getWaitingCount();
    }
    const recent = lastActivity !== null && Date.now() - lastActivity < options.staleMs;
    const moving = active > 0 || waiting === 0 || recent;
    if (waiting === 0) lastActivity = Date.now();
    return {
      status: moving && workers.every((w) => w.isRunning()) ? 'ok' : 'stalled',
      redis: redis.status,
      waiting,
      active,
      lastActivityAt: at(lastActivity),
    };
  }

  async function health(): Promise<Health> {
    const down = (): Health => ({
      status: 'down',
      redis: redis.status,
      waiting: 0,
      active,
      lastActivityAt: at(lastActivity),
    });
    if (redis.status !== 'ready') return down();
    // Commands wait for Redis to come back; the liveness answer must not.
    return Promise.race([flowing(), sleep(HEALTH_DEADLINE_MS).then(down)]);
  }

  // A worker that stopped taking jobs is an incident for every pipeline with a Slack channel.
  const watch = setInterval(
    () => {
      health()
        .then(async (h) => {
          for (const p of options.pipelines()) {
            if (h.status === 'stalled')
              await p.alerter?.open(stalledWorkerAlert(options.workerName, h.waiting));
            else if (h.status === 'ok')
              await p.alerter?.resolve(`worker-stalled:${options.workerName}`);
          }
        })
        .catch(() => undefined);
    },
    Math.min(60_000, options.staleMs),
  );
  watch.unref();

  return {
    health,
    /** Counts a worker's jobs as activity. */
    track(w: Worker) {
      w.on('active', () => {
        active++;
        lastActivity = Date.now();
      });
      const done = () => {
        active = Math.max(0, active - 1);
        lastActivity = Date.now();
      };
      w.on('completed', done);
      w.on('failed', done);
    },
    stop() {
      clearInterval(watch);
    },
  };
}

const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
