import { hostname } from 'node:os';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import {
  ConfigError,
  createToeflAccessClient,
  type DeliveryBatch,
  type Destination,
  type DestinationAdapter,
  type DestinationLogger,
  isRetryable,
  planSlices,
  type ScoreRecord,
  type SerializedError,
  type Slice,
  serializeError,
  silentLogger,
  type ToeflAccessClientOptions,
  type UpdateClass,
} from '@scorebridge/core';
import {
  DelayedError,
  FlowProducer,
  type Job,
  type JobsOptions,
  Queue,
  UnrecoverableError,
  Worker,
} from 'bullmq';
import {
  alertAfterRun,
  destinationAlert,
  pipelineAlerter,
  serverErrorStreak,
  sourceAlert,
  stalledWorkerAlert,
} from '../alerts/alerts.js';
import { type Clock, systemClock } from '../clock.js';
import { destinationContext, type Pipeline } from '../config/load.js';
import type { DestinationConfig } from '../config/schema.js';
import { connectRedis } from '../redis.js';
import { sourceClientOptions } from '../run/runner.js';
import {
  addCounts,
  batchOf,
  confirmedThrough,
  deliverAndSettle,
  intentOf,
  letter,
  letterId,
  MAX_ROUTINE_PAUSE_SECONDS,
  parseDeadLetters,
  passes,
  planWindow,
  readWindow,
  refusedBy,
  selectForDelivery,
  settledUpdates,
  settlePending,
  type UpdateCounts,
  updateClassifier,
} from '../run/stages.js';
import { createRedisStateStore } from '../state/redis-store.js';
import type { DeadLetter, DeliveryIntent, RunRecord, StateStore } from '../state/store.js';
import { queueControl, type RunProgress } from './control.js';
import { workerMetrics } from './metrics.js';
import { checkRedis } from './redis-checks.js';
import { type DataKey, sealer } from './sealed.js';
import {
  bullPrefix,
  cancelKey,
  commitJobId,
  deliverQueue,
  parseJobId,
  QUEUES,
  RUN_SLOT_SECONDS,
  runIdOf,
  schedulerId,
} from './topology.js';

/** Options of {@link startWorkers}. */
export interface WorkerModeOptions {
  readonly redisUrl: string;
  /** The hash-tagged prefix of every key (see `redisPrefix`). */
  readonly prefix: string;
  readonly pipelines: readonly Pipeline[];
  readonly adapters: readonly DestinationAdapter[];
  /** From SCOREBRIDGE_DATA_KEY: records staged in Redis are sealed with the first. */
  readonly keys: readonly DataKey[];
  /** Deliveries at once per destination in this process (else the pipeline's, else 2). */
  readonly concurrency?: number;
  /** A job's lock; a job whose worker died is taken over after about this long. @default 30000 */
  readonly lockMs?: number;
  /** How long finished jobs are kept. @default { completed: 3600, failed: 7 days } */
  readonly keepSeconds?: { readonly completed: number; readonly failed: number };
  /** Health: waiting work with no job started or finished for this long is "stalled". @default 300000 */
  readonly staleMs?: number;
  readonly logger?: DestinationLogger;
  /** Client settings to override (tests shorten retries). */
  readonly client?: Partial<ToeflAccessClientOptions>;
  /**
   * The time scheduled runs end their windows at, and runs, alerts and cursor ages are dated by
   * (tests fix it; BullMQ's timers keep real time). @default the system clock
   */
  readonly clock?: Clock;
}

/** A running set of workers. */
export interface WorkerHandle {
  /** Whether jobs are flowing (see {@link Health}). */
  health(): Promise<Health>;
  /**
   * Stops taking jobs, lets those in hand finish, and returns within `budgetMs`: jobs still
   * running then are let go of (their locks lapse and another worker, or this one restarted,
   * takes them over).
   */
  close(budgetMs: number): Promise<{ forced: boolean }>;
  /** Warnings from the start-up checks. */
  readonly warnings: readonly string[];
  readonly redisVersion: string;
  /** Prometheus metrics in the text exposition format. */
  metrics(): Promise<{ contentType: string; body: string }>;
  /** The BullMQ workers, for an application that embeds worker mode (and for tests). */
  readonly workers: readonly Worker[];
  /** The queues these workers take jobs from (for a dashboard). */
  readonly queues: readonly Queue[];
  /** The state store the workers use. */
  readonly store: StateStore;
  /** The pipeline's run in flight, with where it stands (for a dashboard), or undefined. */
  runInProgress(pipeline: string): Promise<(RunProgress & { runId: string }) | undefined>;
}

/** What the liveness endpoint reports. */
export interface Health {
  /** `ok`: connected and jobs flow (or there is nothing to do); `stalled`: work waits and nothing moves; `down`: Redis unreachable. */
  readonly status: 'ok' | 'stalled' | 'down';
  readonly redis: string;
  readonly waiting: number;
  readonly active: number;
  readonly lastActivityAt: string | null;
}

/** A run job's data: a scheduled tick, or a backfill's range. */
export interface RunJobData {
  readonly pipeline: string;
  readonly from?: string;
  readonly to?: string;
  readonly backfill?: boolean;
}

interface CommitJobData {
  readonly pipeline: string;
  readonly runId: string;
  readonly window: { readonly from: string; readonly to: string };
  readonly slices: readonly { readonly from: string; readonly to: string }[];
  readonly backfill: boolean;
  readonly startedAt: string;
}

interface FetchJobData {
  readonly pipeline: string;
  readonly runId: string;
  readonly index: number;
  readonly from: string;
  readonly to: string;
}

interface DeliverJobData {
  readonly pipeline: string;
  readonly destination: string;
  readonly index: number;
  readonly window: { readonly from: string; readonly to: string };
  /** The records: JSON, deflated, sealed with AES-256-GCM for this job id ('' for a resend). */
  readonly sealed: string;
  /**
   * A batch an earlier run announced and never settled: this job re-sends it exactly as it was
   * (its window fetched again), before the run's own deliveries start.
   */
  readonly resend?: string;
  readonly count: number;
  /** What each re-sent record changed, by content hash (absent in earlier releases' jobs). */
  readonly updates?: Readonly<Record<string, UpdateClass>>;
}

interface FetchResult {
  readonly fetched: number;
  readonly parseIssues: number;
  /**
   * Parse dead letters this fetch filed first (a line read again in an overlapping window is
   * not new). Absent in results of earlier releases' workers: their `parseIssues` stands in.
   */
  readonly freshParseLetters?: number;
  readonly filtered: number;
  /**
   * Records the destinations held, per destination: counted by earlier releases' fetches; this
   * release's delivery jobs count them (absent).
   */
  readonly unchanged?: Record<string, number>;
  /** The most HTTP 500s in a row the source answered. */
  readonly serverErrors: number;
  /** Re-sent reports met first in this fetch, by what they changed (absent from earlier releases). */
  readonly updates?: UpdateCounts;
}

interface DeliverResult {
  readonly delivered: number;
  readonly rejected: number;
  readonly unmatched: number;
  readonly unchanged: number;
  /** Absent from earlier releases' results. */
  readonly superseded?: number;
  readonly refused?: number;
  /** A resend job: the pending batches it re-sent (its records are not counted as delivered). */
  readonly resent?: number;
  /** The worker process that did it (`host:pid`). */
  readonly worker: string;
}

/** What a run did: the run record kept in the state store, with the run id. */
export interface RunOutcome extends RunRecord {
  readonly runId: string;
  readonly fetched: number;
  readonly slices: number;
  readonly failedSlices: number;
  /** Records delivered by each worker process (`host:pid`). */
  readonly workers: Readonly<Record<string, number>>;
}

/** A run job's answer: the run it started, or why none was started. */
export interface RunStarted {
  readonly runId: string;
  readonly slices: number;
  readonly skipped?: string;
}

/** Claims each content hash for one delivery job in a run: a record is delivered by one job only. */
const CLAIM = `
local out = {}
for i = 3, #ARGV do
  if redis.call('HSETNX', KEYS[1], ARGV[i], ARGV[1]) == 1
    or redis.call('HGET', KEYS[1], ARGV[i]) == ARGV[1] then
    out[#out + 1] = 1
  else
    out[#out + 1] = 0
  end
end
redis.call('EXPIRE', KEYS[1], ARGV[2])
return out`;
/**
 * Takes the pipeline's run slot: free, already ours, or held by a run that is over (ARGV[3]) —
 * unless an inline run (`scorebridge run --redis`) holds the pipeline's lock (KEYS[2]).
 */
const TAKE_SLOT = `
if redis.call('EXISTS', KEYS[2]) == 1 then return 'inline' end
local holder = redis.call('GET', KEYS[1])
if (not holder) or holder == ARGV[1] or holder == ARGV[3] then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
  return 1
end
return holder`;
const RELEASE_SLOT = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;

const DAY_S = 86_400;
const HEALTH_DEADLINE_MS = 2000;
const WORKER_NAME = `${hostname()}:${process.pid}`;

/**
 * Starts worker mode: checks Redis, upserts each pipeline's job scheduler, and runs workers for
 * the run, fetch and commit queues and for each destination's delivery queue. A run is a flow:
 *
 * ```
 * commit (parent: moves each destination's cursor over the slices it confirmed, records the run)
 * ├─ fetch slice 0 ──┐  adds, as further children of commit, sealed delivery jobs
 * ├─ fetch slice 1   ├─ deliver.<pipeline>.<destination>  (per-destination queue, rate limit)
 * └─ …              ─┘
 * ```
 *
 * BullMQ gives at-least-once: a job whose worker died runs again. Nothing is delivered twice
 * for that: each record is claimed by one delivery job per run, confirmed versions are skipped,
 * and a batch announced (intent) but not settled is settled by asking the destination.
 */
export async function startWorkers(options: WorkerModeOptions): Promise<WorkerHandle> {
  const log = options.logger ?? silentLogger;
  const clock = options.clock ?? systemClock;
  // Every connection (ours, and each queue's and worker's) reports a lost Redis: say it once.
  let lastRedisError = '';
  let closing = false;
  const redisError = (error: Error) => {
    if (closing) return;
    if (error.message !== lastRedisError) log.warn(`redis: ${error.message}`);
    lastRedisError = error.message;
  };
  const redis = await connectRedis(options.redisUrl, { onError: redisError });
  redis.on('ready', () => {
    if (lastRedisError) log.info('redis: connected again');
    lastRedisError = '';
  });
  const report = await checkRedis(redis);
  if (report.problems.length > 0) {
    redis.disconnect();
    throw new ConfigError(`Redis is not fit for worker mode:\n- ${report.problems.join('\n- ')}`);
  }
  const { prefix } = options;
  const store = createRedisStateStore(redis, { prefix });
  const seal = sealer(options.keys);
  const lockMs = options.lockMs ?? 30_000;
  const keep = options.keepSeconds ?? { completed: 3600, failed: 7 * DAY_S };
  const retention: Pick<JobsOptions, 'removeOnComplete' | 'removeOnFail'> = {
    removeOnComplete: { age: keep.completed },
    removeOnFail: { age: keep.failed },
  };
  const connection = { connection: redis, prefix: bullPrefix(prefix) };
  const queues = new Map<string, Queue>();
  const queue = (name: string) => {
    let q = queues.get(name);
    if (!q) {
      q = new Queue(name, connection);
      q.on('error', redisError);
      queues.set(name, q);
    }
    return q;
  };
  const flows = new FlowProducer(connection);
  flows.on('error', redisError);
  const metrics = workerMetrics({
    queueDepths: async () =>
      (
        await Promise.all(
          workers.map(async (w) =>
            Object.entries(
              await queue(w.name).getJobCounts('waiting', 'active', 'delayed', 'failed'),
            ).map(([state, count]) => ({ queue: w.name, state, count })),
          ),
        )
      ).flat(),
    cursorAges: async () => {
      const out: { pipeline: string; destination: string; seconds: number }[] = [];
      for (const p of options.pipelines)
        for (const d of p.config.destinations) {
          const cursor = await store.cursor(p.config.name, d.id);
          if (cursor)
            out.push({
              pipeline: p.config.name,
              destination: d.id,
              seconds: (clock().getTime() - cursor.getTime()) / 1000,
            });
        }
      return out;
    },
    usage: () =>
      [...destinations.values()].flatMap(({ pipeline, config, destination }) => {
        const usage = destination.usage?.();
        return usage
          ? [
              {
                pipeline: pipeline.config.name,
                destination: config.id,
                type: config.type,
                ...usage,
              },
            ]
          : [];
      }),
  });
  const pipelines = new Map(options.pipelines.map((p) => [p.config.name, p]));
  const alerters = new Map(
    options.pipelines.map((p) => [p.config.name, pipelineAlerter(p, store, log, clock)]),
  );
  /** The pipeline's Slack alerter, when it has a channel. */
  const alerterOf = (p: Pipeline) => alerters.get(p.config.name);
  const pipelineOf = (name: string) => {
    const p = pipelines.get(name);
    if (!p)
      throw new UnrecoverableError(
        `this worker has no pipeline "${name}": start every worker with the same pipeline files`,
      );
    return p;
  };
  const retries = (p: Pipeline): Pick<JobsOptions, 'attempts' | 'backoff'> => ({
    attempts: p.config.queue?.attempts ?? 8,
    backoff: { type: 'exponential', delay: (p.config.queue?.backoffSeconds ?? 10) * 1000 },
  });
  const stateKey = (pipeline: string, ...parts: string[]) => [prefix, pipeline, ...parts].join(':');
  /** A run cancelled by `scorebridge backfill --cancel`: its remaining jobs do nothing. */
  const cancelled = async (pipeline: string, runId: string) =>
    (await redis.exists(cancelKey(prefix, pipeline, runId))) === 1;

  for (const p of options.pipelines) {
    const { schedule, name } = p.config;
    try {
      if (!schedule) await queue(QUEUES.run).removeJobScheduler(schedulerId(name));
      else
        await queue(QUEUES.run).upsertJobScheduler(
          schedulerId(name),
          schedule.every
            ? { every: durationMs(schedule.every) }
            : { pattern: schedule.cron, tz: 'UTC' },
          { name: 'run', data: { pipeline: name } satisfies RunJobData, opts: retention },
        );
    } catch (cause) {
      throw new ConfigError(`${p.file}: schedule: ${(cause as Error).message}`);
    }
  }

  // Destinations are created once per process and kept (connections, tokens).
  const destinations = new Map<
    string,
    { pipeline: Pipeline; config: DestinationConfig; destination: Destination }
  >();
  const destinationOf = (p: Pipeline, d: DestinationConfig) => {
    const id = `${p.config.name}\0${d.id}`;
    let made = destinations.get(id);
    if (!made) {
      const adapter = options.adapters.find((a) => a.type === d.type);
      if (!adapter) throw new UnrecoverableError(`${p.file}: no adapter of type ${d.type}`);
      made = {
        pipeline: p,
        config: d,
        destination: adapter.create(d.options, destinationContext(p, d.id, log)),
      };
      destinations.set(id, made);
    }
    return made.destination;
  };

  async function processRun(job: Job<RunJobData>): Promise<RunStarted> {
    const p = pipelineOf(job.data.pipeline);
    const name = p.config.name;
    const runId = runIdOf(name, job.id!);
    // One run of a pipeline at a time: two would deliver the same records side by side.
    const slot = stateKey(name, 'active-run');
    const holder = await redis.get(slot);
    const over = holder && holder !== runId && (await runIsOver(holder)) ? holder : '';
    const taken = await redis.eval(
      TAKE_SLOT,
      2,
      slot,
      stateKey(name, 'lock'),
      runId,
      String(RUN_SLOT_SECONDS),
      over,
    );
    if (taken !== 1) {
      const going = taken === 'inline' ? 'an inline run (scorebridge run)' : `run ${String(taken)}`;
      if (!job.data.backfill) {
        log.info(`${name}: ${going} is still going; this tick is skipped`);
        return { runId, slices: 0, skipped: `${going} is still going` };
      }
      // A backfill waits its turn.
      await job.moveToDelayed(Date.now() + 5000, job.token);
      throw new DelayedError();
    }
    const cursors = await Promise.all(p.config.destinations.map((d) => store.cursor(name, d.id)));
    const window = planWindow(
      p.config,
      cursors,
      clock(),
      job.data.from ? new Date(job.data.from) : undefined,
      job.data.to ? new Date(job.data.to) : undefined,
    );
    if (!window) {
      await redis.eval(RELEASE_SLOT, 1, slot, runId);
      return { runId, slices: 0 };
    }
    const slices = planSlices(window.from, window.to, p.config.source.maxWindowDays);
    const iso = (s: Slice) => ({ from: s.from.toISOString(), to: s.to.toISOString() });
    // Batches an earlier run left unsettled are re-sent first, as they were; the run's own
    // deliveries wait behind a barrier until those and every fetch are done, so that each
    // delivery knows every version the run read (one version per key, the newest).
    const resends = (
      await Promise.all(
        p.config.destinations.map(async (d) =>
          (await store.intents(name, d.id)).map((intent) => ({ d, intent })),
        ),
      )
    ).flat();
    const fetchIds = slices.map((_, index) => `${runId}.fetch.${index}`);
    const resendIds = resends.map(({ d, intent }) => `${runId}.d.${d.id}.p.${intent.batchId}`);
    const barrier = stateKey(name, 'barrier', runId);
    await redis
      .multi()
      .sadd(
        barrier,
        ...fetchIds.map((id) => `${QUEUES.fetch}|${id}`),
        ...resends.map(({ d }, i) => `${deliverQueue(name, d.id)}|${resendIds[i]}`),
      )
      .expire(barrier, 7 * DAY_S)
      .exec();
    await flows.add({
      name: 'commit',
      queueName: QUEUES.commit,
      data: {
        pipeline: name,
        runId,
        window: iso(window),
        slices: slices.map(iso),
        backfill: job.data.backfill ?? false,
        startedAt: clock().toISOString(),
      } satisfies CommitJobData,
      opts: { jobId: commitJobId(runId), ...retention, ...retries(p) },
      children: [
        ...resends.map(({ d, intent }, i) => ({
          name: 'deliver',
          queueName: deliverQueue(name, d.id),
          data: {
            pipeline: name,
            destination: d.id,
            index: -1,
            window: intent.window ?? iso(window),
            sealed: '',
            count: intent.entries.length,
            resend: intent.batchId,
          } satisfies DeliverJobData,
          opts: {
            jobId: resendIds[i]!,
            ignoreDependencyOnFailure: true,
            ...retention,
            ...retries(p),
          },
        })),
        ...slices.map((s, index) => ({
          name: 'fetch',
          queueName: QUEUES.fetch,
          data: { pipeline: name, runId, index, ...iso(s) } satisfies FetchJobData,
          opts: {
            jobId: fetchIds[index]!,
            ignoreDependencyOnFailure: true,
            ...retention,
            ...retries(p),
          },
        })),
      ],
    });
    log.info(`${name}: run ${runId} started: ${slices.length} slice(s)`, iso(window));
    return { runId, slices: slices.length };
  }

  /**
   * Whether a run's deliveries may start: every fetch and every resend of the run is over
   * (completed, failed for good, or gone). Members found over are removed, so a check after a
   * crash carries on where the last one stopped.
   */
  async function barrierOpen(pipeline: string, runId: string): Promise<boolean> {
    const barrier = stateKey(pipeline, 'barrier', runId);
    const members = await redis.smembers(barrier);
    const over: string[] = [];
    for (const member of members) {
      const bar = member.indexOf('|');
      const state = await queue(member.slice(0, bar)).getJobState(member.slice(bar + 1));
      if (state === 'completed' || state === 'failed' || state === 'unknown') over.push(member);
    }
    if (over.length > 0) await redis.srem(barrier, ...over);
    return over.length === members.length;
  }

  async function runIsOver(runId: string): Promise<boolean> {
    const state = await queue(QUEUES.commit).getJobState(commitJobId(runId));
    return state === 'completed' || state === 'failed' || state === 'unknown';
  }

  async function processFetch(job: Job<FetchJobData>): Promise<FetchResult> {
    const p = pipelineOf(job.data.pipeline);
    const { config } = p;
    const name = config.name;
    const slice = { from: new Date(job.data.from), to: new Date(job.data.to) };
    const parent = job.parent;
    if (!parent?.id) throw new UnrecoverableError('a fetch job without its run');
    const nothing = { fetched: 0, parseIssues: 0, filtered: 0, serverErrors: 0 };
    if (await cancelled(name, job.data.runId)) return nothing;
    const streak = serverErrorStreak();
    const client = createToeflAccessClient({
      ...sourceClientOptions(p),
      onEvent: (event) => {
        streak.observe(event);
        if (event.type === 'response')
          metrics.response(name, event.status, event.durationMs, event.consecutiveServerErrors);
      },
      ...options.client,
    });
    const buffers = new Map(config.destinations.map((d) => [d.id, [] as ScoreRecord[]]));
    let fetched = 0;
    let parseIssues = 0;
    let freshParseLetters = 0;
    let filtered = 0;
    const letters: DeadLetter[] = [];
    const classifier = updateClassifier(store, name, p.layouts);

    const seqs = new Map<string, number>();
    const stage = async (d: DestinationConfig) => {
      const records = buffers.get(d.id)!.splice(0);
      if (records.length === 0 || (await cancelled(name, job.data.runId))) return;
      // Every record is staged (the same records make the same job, whatever the ledger says
      // meanwhile); the delivery job applies the rules once every version of the run is known.
      const batch = batchOf(
        name,
        d.id,
        records,
        slice,
        await classifier.classify(records, slice, seqs),
      );
      // The content hashes are in the batch id: a changed report is a new job, never a duplicate.
      const jobId = `${job.data.runId}.d.${d.id}.${job.data.index}.${batch.id}`;
      await queue(deliverQueue(name, d.id)).add(
        'deliver',
        {
          pipeline: name,
          destination: d.id,
          index: job.data.index,
          window: batch.window!,
          sealed: seal.seal(
            deflateRawSync(JSON.stringify(records.map(plain)), { level: 1 }).toString('base64'),
            jobId,
          ),
          count: records.length,
          ...(batch.updates ? { updates: batch.updates } : {}),
        } satisfies DeliverJobData,
        {
          jobId,
          parent: { id: parent.id!, queue: parent.queueKey },
          ignoreDependencyOnFailure: true,
          ...retention,
          // Its result lives on in the run's commit job; the sealed records need not.
          removeOnComplete: true,
          ...retries(p),
        },
      );
    };

    try {
      for await (const batch of client.fetchSlice(slice)) {
        for (const entry of batch) {
          const place = fetched++;
          if (entry.issues.length > 0) {
            parseIssues++;
            letters.push(...parseDeadLetters(entry, slice));
            continue;
          }
          const record = entry.record!;
          if (!passes(config, record)) {
            filtered++;
            continue;
          }
          seqs.set(record.contentHash, place);
          for (const d of config.destinations) {
            const buffer = buffers.get(d.id)!;
            buffer.push(record);
            if (buffer.length >= d.batchSize) await stage(d);
          }
        }
      }
      for (const d of config.destinations) await stage(d);
      freshParseLetters = await store.addDeadLetters(name, letters);
    } catch (error) {
      const alert = sourceAlert(serializeError(error));
      if (alert) await alerterOf(p)?.open(alert);
      throw jobError(error);
    }
    await alerterOf(p)?.resolve('source:');
    return {
      fetched,
      parseIssues,
      freshParseLetters,
      filtered,
      serverErrors: streak.longest,
      updates: classifier.counts,
    };
  }

  function processDeliver(p: Pipeline, d: DestinationConfig) {
    const name = p.config.name;
    return async (job: Job<DeliverJobData>, token?: string): Promise<DeliverResult> => {
      const destination = destinationOf(p, d);
      const { runId } = parseJobId(job.id!)!;
      const result = {
        delivered: 0,
        rejected: 0,
        unmatched: 0,
        unchanged: 0,
        superseded: 0,
        refused: 0,
        worker: WORKER_NAME,
      };
      if (await cancelled(name, runId)) return result;
      const file = (letters: DeadLetter[]) => store.addDeadLetters(name, letters);
      const counted = (settled: { delivered: readonly unknown[]; rejected: DeadLetter[] }) => ({
        delivered: settled.delivered.length,
        rejected: settled.rejected.filter((l) => l.kind !== 'unmatched').length,
        unmatched: settled.rejected.filter((l) => l.kind === 'unmatched').length,
      });
      const intents = await store.intents(name, d.id);
      /** A pending batch settled (sent again as it was, unless the destination holds it). */
      const settle = async (intent: DeliveryIntent, records: () => Promise<ScoreRecord[]>) => {
        const settled = await settlePending({
          store,
          pipeline: name,
          destinationId: d.id,
          type: d.type,
          destination,
          intent,
          records,
          file,
        });
        await settledWell(settled.delivered);
        return settled;
      };
      try {
        if (job.data.resend) {
          // A batch an earlier run left unsettled: sent again exactly as it was.
          const intent = intents.find((i) => i.batchId === job.data.resend);
          if (!intent) return result;
          const client = createToeflAccessClient({ ...sourceClientOptions(p), ...options.client });
          const settled = await settle(intent, () =>
            readWindow(client, intent.window ?? job.data.window),
          );
          return { ...result, resent: settled.resent ? 1 : 0 };
        }
        if (!(await barrierOpen(name, runId))) {
          await job.moveToDelayed(Date.now() + 500, token);
          throw new DelayedError();
        }
        const records = JSON.parse(
          inflateRawSync(Buffer.from(seal.open(job.data.sealed, job.id!), 'base64')).toString(
            'utf8',
          ),
        ) as ScoreRecord[];
        const hashes = records.map((r) => r.contentHash);
        // One job per record per run: overlapping slices and retried fetches stage copies.
        const mine = (await redis.eval(
          CLAIM,
          1,
          stateKey(name, 'claims', runId, d.id),
          job.id!,
          String(keep.failed),
          ...hashes,
        )) as number[];
        const claimed = records.filter((_, i) => mine[i] === 1);
        const own = intents.find((i) => i.job === job.id);
        const selection = await selectForDelivery({
          versions: store,
          pipeline: name,
          records: claimed,
          held: await store.held(
            name,
            d.id,
            claimed.map((r) => r.contentHash),
          ),
          refused: refusedBy(await store.deadLetters(name), d.id),
          // Records of a batch still pending (its resend failed) form no new batch.
          pending: new Set(
            intents.filter((i) => i !== own).flatMap((i) => i.entries.map((e) => e[1])),
          ),
        });
        Object.assign(result, {
          unchanged: records.length - claimed.length + selection.unchanged,
          superseded: selection.superseded.length,
          refused: selection.refused,
        });
        if (own) {
          // This job died after announcing its batch: that batch, exactly, before anything else.
          return { ...result, ...counted(await settle(own, async () => records)) };
        }
        if (selection.send.length === 0) return result;
        const batch: DeliveryBatch = batchOf(
          name,
          d.id,
          selection.send,
          { from: new Date(job.data.window.from), to: new Date(job.data.window.to) },
          await settledUpdates(store, name, selection.send, job.data.updates),
        );
        await store.addIntent(name, d.id, intentOf(batch, job.id));
        const settled = await deliverAndSettle({
          store,
          pipeline: name,
          destinationId: d.id,
          type: d.type,
          destination,
          batch,
          file,
        });
        await settledWell(settled.delivered);
        return { ...result, ...counted(settled) };
      } catch (error) {
        if (error instanceof DelayedError) throw error;
        const failure = serializeError(error);
        const asked = (error as { retryAfterSeconds?: number }).retryAfterSeconds;
        const pending = (await store.intents(name, d.id)).find(
          (i) => i.job === job.id || i.batchId === job.data.resend,
        );
        if (isRetryable(failure.kind) && asked !== undefined) {
          // The destination said when: pause its queue (only its own) that long; no attempt used.
          // It answered "not now", so the batch did not land: a regular job forms it again.
          const worker = workers.find((w) => w.name === deliverQueue(name, d.id));
          await worker?.rateLimit(asked * 1000);
          if (pending && !job.data.resend) await store.clearIntent(name, d.id, pending.batchId);
          const alert = destinationAlert(d, failure);
          if (alert && asked > MAX_ROUTINE_PAUSE_SECONDS) await alerterOf(p)?.open(alert);
          throw Worker.RateLimitError();
        }
        const last = !isRetryable(failure.kind) || job.attemptsMade + 1 >= (job.opts.attempts ?? 1);
        if (last && pending) await giveUp(pending, failure);
        throw jobError(error);
      }

      /** Delivered: records an earlier run gave up on are not dead any more; the alert clears. */
      async function settledWell(delivered: readonly (readonly [string, string])[]) {
        await store.resolveDeadLetters(
          name,
          delivered.map(([key, h]) => undeliveredId(d.id, key, h)),
        );
        if (delivered.length > 0) await alerterOf(p)?.resolve(`destination:${d.id}`);
      }

      /**
       * The last attempt failed. Unless the destination can read back and holds the batch, its
       * intent stays, so the next run re-sends it exactly as it was, and each record is a dead
       * letter meanwhile (retryable: resolved when that resend delivers it).
       */
      async function giveUp(intent: DeliveryIntent, failure: SerializedError) {
        if (await destination.delivered?.(intent.batchId).catch(() => false)) {
          await store.confirm(name, d.id, intent.entries);
          await store.clearIntent(name, d.id, intent.batchId);
          return;
        }
        const window = intent.window ?? job.data.window;
        await store.addDeadLetters(
          name,
          intent.entries.map(([recordKey, contentHash]) => ({
            ...letter('rejected', d.id, `not delivered: ${failure.message}`, window, {
              recordKey,
              contentHash,
              code: failure.kind,
              identity: `undelivered|${recordKey}|${contentHash}`,
            }),
            retryable: true as const,
          })),
        );
        log.error(`${name}: ${d.id}: ${intent.entries.length} record(s) given up`, {
          error: failure,
        });
        const alert = destinationAlert(d, failure);
        if (alert) await alerterOf(p)?.open(alert);
      }
    };
  }

  async function processCommit(job: Job<CommitJobData>): Promise<RunOutcome> {
    const { pipeline: name, runId, slices, backfill } = job.data;
    const p = pipelineOf(name);
    const values = (await job.getChildrenValues()) as Record<string, FetchResult | DeliverResult>;
    const failures = await job.getIgnoredChildrenFailures();
    const fetchFailed = new Set<number>();
    const deliveryFailed = new Map<string, Set<number>>();
    for (const key of Object.keys(failures)) {
      const what = parseJobId(key);
      if (what?.kind === 'fetch') fetchFailed.add(what.index);
      else if (what?.kind === 'deliver') {
        const set = deliveryFailed.get(what.destination) ?? new Set<number>();
        deliveryFailed.set(what.destination, set.add(what.index));
      }
    }
    let fetched = 0;
    let parseIssues = 0;
    let filtered = 0;
    let serverErrors = 0;
    const updates: UpdateCounts = {};
    const fresh = { parse: 0, rejected: 0, unmatched: 0 };
    const workers: Record<string, number> = {};
    const totals = new Map(
      p.config.destinations.map((d) => [
        d.id,
        { delivered: 0, unchanged: 0, superseded: 0, refused: 0, deadLettered: 0, resent: 0 },
      ]),
    );
    for (const [key, value] of Object.entries(values)) {
      const what = parseJobId(key);
      if (what?.kind === 'fetch') {
        const v = value as FetchResult;
        fetched += v.fetched;
        parseIssues += v.parseIssues;
        fresh.parse += v.freshParseLetters ?? v.parseIssues;
        serverErrors = Math.max(serverErrors, v.serverErrors);
        filtered += v.filtered;
        addCounts(updates, v.updates);
        for (const [id, n] of Object.entries(v.unchanged ?? {})) {
          const t = totals.get(id);
          if (t) t.unchanged += n;
        }
      } else if (what?.kind === 'deliver') {
        const v = value as DeliverResult;
        const t = totals.get(what.destination);
        if (!t) continue;
        t.delivered += v.delivered;
        t.unchanged += v.unchanged;
        t.superseded += v.superseded ?? 0;
        t.refused += v.refused ?? 0;
        t.resent += v.resent ?? 0;
        t.deadLettered += v.rejected + v.unmatched;
        fresh.rejected += v.rejected;
        fresh.unmatched += v.unmatched;
        workers[v.worker] = (workers[v.worker] ?? 0) + v.delivered;
      }
    }
    const destinations: RunRecord['destinations'][number][] = [];
    for (const d of p.config.destinations) {
      // The cursor moves over the slices this destination confirmed, in order, up to a gap.
      const upTo = confirmedThrough(
        slices.length,
        (i) => !fetchFailed.has(i) && !deliveryFailed.get(d.id)?.has(i),
      );
      if (!backfill && upTo >= 0) {
        const end = new Date(slices[upTo]!.to);
        const cursor = await store.cursor(name, d.id);
        if (!cursor || end > cursor) await store.setCursor(name, d.id, end);
      }
      const failed = deliveryFailed.get(d.id)?.size ?? 0;
      destinations.push({
        id: d.id,
        ...totals.get(d.id)!,
        filtered,
        ...(failed > 0 ? { failed: `${failed} delivery job(s) failed` } : {}),
      });
    }
    const stopped = await cancelled(name, runId);
    const outcome: RunOutcome = {
      runId,
      startedAt: job.data.startedAt,
      finishedAt: clock().toISOString(),
      ok: !stopped && fetchFailed.size === 0 && deliveryFailed.size === 0,
      ...(stopped ? { interrupted: true } : {}),
      window: job.data.window,
      parseIssues,
      ...(Object.keys(updates).length > 0 ? { updates } : {}),
      destinations,
      fetched,
      slices: slices.length,
      failedSlices: fetchFailed.size,
      workers,
    };
    metrics.run(name, outcome);
    await store.recordRun(name, {
      startedAt: outcome.startedAt,
      finishedAt: outcome.finishedAt,
      ok: outcome.ok,
      ...(stopped ? { interrupted: true } : {}),
      window: outcome.window,
      parseIssues,
      ...(outcome.updates ? { updates: outcome.updates } : {}),
      destinations,
    });
    const alerter = alerterOf(p);
    if (alerter)
      await alertAfterRun(alerter, store, {
        pipeline: p,
        consecutive500s: serverErrors,
        sourceOk: fetchFailed.size === 0,
        freshDeadLetters: fresh,
        now: clock(),
      });
    await redis.eval(RELEASE_SLOT, 1, stateKey(name, 'active-run'), runId);
    log.info(`${name}: run ${runId} finished${outcome.ok ? '' : ' with failures'}`);
    return outcome;
  }

  // Activity, for the liveness endpoint.
  let lastActivity: number | null = null;
  let active = 0;
  const workers: Worker[] = [];
  const common = {
    ...connection,
    name: WORKER_NAME,
    lockDuration: lockMs,
    stalledInterval: lockMs,
    maxStalledCount: 5,
  };
  const track = (w: Worker) => {
    w.on('active', () => {
      active++;
      lastActivity = Date.now();
    });
    const done = () => {
      active = Math.max(0, active - 1);
      lastActivity = Date.now();
    };
    w.on('completed', done);
    w.on('failed', (job, error) => {
      done();
      if (job) log.warn(`${w.name}: job ${job.id} failed: ${error.message}`);
    });
    w.on('error', redisError);
    workers.push(w);
  };
  track(new Worker(QUEUES.run, processRun, { ...common, concurrency: 1 }));
  track(new Worker(QUEUES.fetch, processFetch, { ...common, concurrency: 2 }));
  track(new Worker(QUEUES.commit, processCommit, { ...common, concurrency: 1 }));
  for (const p of options.pipelines) {
    for (const d of p.config.destinations) {
      track(
        new Worker(deliverQueue(p.config.name, d.id), processDeliver(p, d), {
          ...common,
          concurrency: options.concurrency ?? p.config.queue?.concurrency ?? 2,
          ...(d.rateLimit
            ? { limiter: { max: d.rateLimit.max, duration: d.rateLimit.perSeconds * 1000 } }
            : {}),
        }),
      );
    }
  }
  const staleMs = options.staleMs ?? 300_000;

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
          for (const p of options.pipelines) {
            const alerter = alerterOf(p);
            if (h.status === 'stalled')
              await alerter?.open(stalledWorkerAlert(WORKER_NAME, h.waiting));
            else if (h.status === 'ok') await alerter?.resolve(`worker-stalled:${WORKER_NAME}`);
          }
        })
        .catch(() => undefined);
    },
    Math.min(60_000, staleMs),
  );
  watch.unref();

  async function flowing(): Promise<Health> {
    let waiting = 0;
    for (const w of workers) {
      const q = queue(w.name);
      // A queue a destination asked to pause (429) is not stalled.
      if ((await q.getRateLimitTtl()) > 0) continue;
      waiting += await q.getWaitingCount();
    }
    const moving =
      active > 0 || waiting === 0 || (lastActivity !== null && Date.now() - lastActivity < staleMs);
    if (waiting === 0) lastActivity = Date.now();
    return {
      status: moving && workers.every((w) => w.isRunning()) ? 'ok' : 'stalled',
      redis: redis.status,
      waiting,
      active,
      lastActivityAt: at(lastActivity),
    };
  }

  let control: ReturnType<typeof queueControl> | undefined;
  return {
    warnings: report.warnings,
    redisVersion: report.version,
    workers,
    queues: workers.map((w) => queue(w.name)),
    store,
    health,
    async runInProgress(pipeline) {
      const runId = await redis.get(stateKey(pipeline, 'active-run'));
      if (!runId || (await runIsOver(runId))) return undefined;
      control ??= queueControl(redis, prefix);
      const progress = await control.progress(runId);
      return progress.state === 'running' || progress.state === 'queued'
        ? { runId, ...progress }
        : undefined;
    },
    async metrics() {
      return { contentType: metrics.registry.contentType, body: await metrics.registry.metrics() };
    },
    async close(budgetMs) {
      closing = true;
      await control?.close();
      clearInterval(watch);
      // The whole budget: jobs in hand get most of it, letting go of the rest the remainder.
      const deadline = Date.now() + budgetMs;
      const left = () => Math.max(0, deadline - Date.now());
      const graceful = Promise.all(workers.map((w) => w.close())).then(() => false);
      const forced = await Promise.race([
        graceful,
        sleep(budgetMs - Math.min(1500, budgetMs / 3)).then(() => true),
      ]);
      if (forced)
        await Promise.race([Promise.all(workers.map((w) => w.close(true))), sleep(left() / 2)]);
      await Promise.race([
        Promise.allSettled([
          ...[...destinations.values()].map((d) => d.destination.close()),
          ...[...queues.values()].map((q) => q.close()),
          flows.close(),
        ]),
        sleep(left()),
      ]);
      redis.disconnect();
      return { forced };
    },
  };
}

/** Rethrown job errors carry only the allow-listed message: BullMQ keeps them (and a stack) in Redis. */
function jobError(error: unknown): Error {
  if (error instanceof UnrecoverableError) return error;
  const failure = serializeError(error);
  const out = isRetryable(failure.kind)
    ? new Error(failure.message)
    : new UnrecoverableError(failure.message);
  out.stack = `${out.name}: ${failure.message}`;
  return out;
}

/** The dead-letter id of a record a destination never took (so a later delivery can clear it). */
const undeliveredId = (destination: string, recordKey: string, contentHash: string) =>
  letterId('rejected', destination, `undelivered|${recordKey}|${contentHash}`);

/** A record as plain data, for staging (the content hash computed now, kept). */
function plain(r: ScoreRecord): ScoreRecord {
  return {
    layout: r.layout,
    fields: r.fields,
    extra: r.extra,
    raw: r.raw,
    recordKey: r.recordKey,
    contentHash: r.contentHash,
    scale: r.scale,
    format: r.format,
  };
}

/** `30m`, `6h`, `1d`, `45s` in milliseconds. */
export function durationMs(text: string): number {
  const n = Number(text.slice(0, -1));
  return (
    n * { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[text.at(-1) as 's' | 'm' | 'h' | 'd']
  );
}

const at = (ms: number | null) => (ms === null ? null : new Date(ms).toISOString());
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());
