import { readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { ConfigError, parseIsoInput } from '@scorebridge/core';
import {
  connectRedis,
  dataKeys,
  type Pipeline,
  queueControl,
  type RunOutcome,
  redactRedisUrl,
  redisPrefix,
  startWorkers,
} from '@scorebridge/runtime';
import { createLogUpdate } from 'log-update';
import { loadPipelineFile } from '../adapters.js';
import { dashboardCredentials, startDashboard } from '../dashboard.js';
import { EXIT, type Io, write } from '../io.js';
import { createLogger } from '../logging.js';
import type { BackfillOptions } from './backfill.command.js';
import type { ScheduleListOptions } from './schedule.command.js';
import { printJson } from './views.js';
import type { WorkerOptions } from './worker.command.js';

/** The Redis URL from `--redis` or the environment; worker mode has no other home. */
function redisUrl(option: string | undefined): string {
  const url = option ?? process.env.SCOREBRIDGE_REDIS_URL;
  if (!url)
    throw new ConfigError(
      'worker mode needs Redis: give --redis redis://host:6379 or set SCOREBRIDGE_REDIS_URL',
    );
  return url;
}

/** Pipeline files named, and every .yaml/.yml file in the directories named. */
export function pipelineFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) =>
    statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((f) => /\.ya?ml$/.test(f))
          .sort()
          .map((f) => join(path, f))
      : [path],
  );
}

/**
 * `scorebridge worker`: runs worker mode until SIGTERM/SIGINT, then stops within the budget and
 * exits the process.
 */
export async function workerCommand(
  paths: readonly string[],
  options: WorkerOptions,
  io: Io,
): Promise<never> {
  const host = options.healthHost ?? options.host;
  const files = pipelineFiles(paths);
  if (files.length === 0) throw new ConfigError(`no pipeline files in ${paths.join(', ')}`);
  // A pipeline this worker cannot load (its secrets are not set here, say) is skipped and
  // reported, not fatal to the others: in the log, and in /health.
  const loaded = await Promise.allSettled(files.map((f) => loadPipelineFile(f)));
  const skipped = loaded.flatMap((r, i) =>
    r.status === 'rejected' && r.reason instanceof ConfigError
      ? [{ file: files[i]!, problems: r.reason.problems }]
      : [],
  );
  for (const r of loaded)
    if (r.status === 'rejected' && !(r.reason instanceof ConfigError)) throw r.reason;
  const pipelines = loaded.flatMap((r) => (r.status === 'fulfilled' ? [r.value] : []));
  if (pipelines.length === 0) throw new ConfigError(skipped.flatMap((s) => s.problems));
  const names = new Map<string, string>();
  for (const p of pipelines) {
    const other = names.get(p.config.name);
    if (other)
      throw new ConfigError(`${p.file}: pipeline name ${p.config.name} is also used by ${other}`);
    names.set(p.config.name, p.file);
  }
  const keys = dataKeys();
  const credentials = options.dashboard === undefined ? undefined : dashboardCredentials();
  const url = redisUrl(options.redis);
  const logger = createLogger(io.stderr, options.logLevel);
  const handle = await startWorkers({
    redisUrl: url,
    prefix: redisPrefix(),
    pipelines,
    adapters: [...new Map(pipelines.flatMap((p) => p.adapters).map((a) => [a.type, a])).values()],
    keys,
    concurrency: options.concurrency,
    lockMs: options.lockSeconds * 1000,
    logger,
  });
  for (const w of handle.warnings) logger.warn(`WARNING: ${w}`);
  for (const { file, problems } of skipped)
    logger.error(
      `${file}: skipped: this worker cannot load the pipeline; the others run. Fix it and restart the worker:\n${problems.map((p) => `  ${p}`).join('\n')}`,
      { event: 'pipeline-skipped', file },
    );
  logger.info(
    `worker started on Redis ${handle.redisVersion} at ${redactRedisUrl(url)}: ${pipelines
      .map((p) => `${p.config.name} (${scheduleText(p)})`)
      .join(', ')}`,
  );

  const servers: Server[] = [];
  if (options.healthPort !== undefined) {
    servers.push(
      await serve(options.healthPort, host, /^\/(health|healthz|livez)?$/, async () => {
        const h = await handle.health();
        return {
          status: h.status === 'ok' ? 200 : 503,
          type: 'application/json',
          body: `${JSON.stringify(skipped.length > 0 ? { ...h, skipped } : h)}\n`,
        };
      }),
    );
    logger.info(`liveness on http://${host}:${portOf(servers.at(-1)!)}/health`);
  }
  if (options.dashboard !== undefined) {
    servers.push(
      await startDashboard({
        port: options.dashboard,
        host: host,
        queues: handle.queues,
        store: handle.store,
        pipelines,
        credentials: credentials!,
        inProgress: (pipeline) => handle.runInProgress(pipeline),
      }),
    );
    logger.info(`dashboard on http://${host}:${portOf(servers.at(-1)!)}/`);
  }
  if (options.metricsPort !== undefined) {
    servers.push(
      await serve(options.metricsPort, host, /^\/metrics$/, async () => {
        const m = await handle.metrics();
        return { status: 200, type: m.contentType, body: m.body };
      }),
    );
    logger.info(`Prometheus metrics on http://${host}:${portOf(servers.at(-1)!)}/metrics`);
  }

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  const stopping = performance.now();
  logger.info(
    `${signal}: finishing the jobs in hand (at most ${options.shutdownSeconds} s; a second signal stops at once)`,
  );
  const now = () => process.exit(EXIT.usage);
  process.once('SIGTERM', now);
  process.once('SIGINT', now);
  for (const server of servers) server.close();
  const { forced } = await handle.close(options.shutdownSeconds * 1000);
  logger.info(
    forced
      ? 'stopped with jobs unfinished: another worker (or this one, restarted) takes them over once their locks lapse'
      : 'stopped',
    { tookMs: Math.round(performance.now() - stopping) },
  );
  // Work let go of may still hold sockets open (a request that hangs): the budget is a promise.
  process.exit(EXIT.ok);
}

/** A small HTTP endpoint: GET on `path` answers from `answer`; anything else is 404. */
async function serve(
  port: number,
  host: string,
  path: RegExp,
  answer: () => Promise<{ status: number; type: string; body: string }>,
): Promise<Server> {
  const server = createServer((req, res) => {
    if (req.method !== 'GET' || !path.test((req.url ?? '').split('?')[0]!)) {
      res.writeHead(404).end();
      return;
    }
    answer().then(
      (a) => res.writeHead(a.status, { 'content-type': a.type }).end(a.body),
      () => res.writeHead(503).end(),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, resolve);
  });
  return server;
}

const portOf = (server: Server) => {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : '?';
};

function scheduleText(p: Pipeline): string {
  const s = p.config.schedule;
  return s ? (s.every ? `every ${s.every}` : `cron ${s.cron} UTC`) : 'no schedule: backfills only';
}

/** `scorebridge backfill`: asks the workers for a range (or picks up one), then follows it to the end. */
export async function backfillCommand(
  file: string,
  options: BackfillOptions & {
    /** How often the run's progress is read (tests shorten it). @default 1000 */
    pollMs?: number;
  },
  io: Io,
): Promise<number> {
  const pipeline = await loadPipelineFile(file, { lenient: true });
  const name = pipeline.config.name;
  const given = options.attach ?? options.cancel;
  if (given && !given.startsWith(`${name}.`))
    throw new ConfigError(`${given} is not a run of ${name} (its runs are named ${name}.…)`);
  if (!given && !options.from)
    throw new ConfigError('--from is required (or --attach / --cancel RUN)');
  const redis = await connectRedis(redisUrl(options.redis));
  redis.on('error', () => undefined);
  const control = queueControl(redis, redisPrefix());
  try {
    if (options.cancel) {
      await control.cancel(name, options.cancel);
      await write(
        io.stdout,
        `cancelled ${options.cancel}: the workers skip what is not done yet; what was delivered stays (the run is recorded as interrupted)\n`,
      );
      return EXIT.ok;
    }
    let runId = options.attach;
    let jobId: string | undefined;
    if (!runId) {
      const from = parseIsoInput(options.from!, '--from');
      const to = options.to ? parseIsoInput(options.to, '--to') : io.clock();
      if (!(from < to)) throw new ConfigError('--from must be before --to');
      ({ runId, jobId } = await control.enqueueBackfill(name, from, to));
      const queued = `backfill ${runId} queued: ${name}, ${from.toISOString()} to ${to.toISOString()}\n`;
      await write(options.json ? io.stderr : io.stdout, queued);
      if (!options.wait) {
        if (options.json)
          await printJson(io, 'backfill', {
            runId,
            pipeline: name,
            state: 'queued',
            from: from.toISOString(),
            to: to.toISOString(),
          });
        return EXIT.ok;
      }
    }
    return await follow(runId, jobId);
  } finally {
    await control.close();
    redis.disconnect();
  }

  /** Follows a run to its end: one live line on a terminal, a line per change when piped. */
  async function follow(runId: string, jobId: string | undefined): Promise<number> {
    const live = (io.stderr as NodeJS.WriteStream).isTTY
      ? createLogUpdate(io.stderr, { showCursor: true })
      : undefined;
    // Ctrl-C leaves the run to the workers: say so, and how to come back to it.
    const leave = () => {
      live?.done();
      io.stderr.write(
        `\nscorebridge: the workers carry on with ${runId}. Follow it again: scorebridge backfill ${file} --attach ${runId}; stop it: scorebridge backfill ${file} --cancel ${runId}\n`,
      );
      process.exit(EXIT.interrupted);
    };
    process.once('SIGINT', leave);
    const started = Date.now();
    let last = '';
    let hinted = false;
    try {
      for (;;) {
        const p = await control.progress(runId);
        const text =
          p.state === 'queued'
            ? 'waiting for a worker'
            : `${runId}: slices fetched ${p.fetched} of ${p.slices} · jobs done ${p.done}${p.failed ? `, ${p.failed} failed` : ''} of ${p.total} so far`;
        // Piped, a line when the slices fetched move (not one per delivery job).
        const step = p.state === 'running' ? `${p.fetched}/${p.slices}` : p.state;
        if (live) live(text);
        else if (step !== last) await write(io.stderr, `${text}\n`);
        last = step;
        if (p.state === 'done') {
          live?.done();
          const exit = exitOf(p.outcome!);
          if (options.json)
            await printJson(io, 'backfill', { state: 'done', exit, pipeline: name, ...p.outcome! });
          else await write(io.stdout, outcomeText(p.outcome!));
          return exit;
        }
        if (p.state === 'failed') {
          live?.done();
          await write(io.stderr, `the run failed: ${p.reason}\n`);
          return EXIT.destinationFailed;
        }
        if (p.state === 'queued' && jobId) {
          const reason = await control.runJobFailure(jobId);
          if (reason) throw new ConfigError(`the workers refused the backfill: ${reason}`);
          if (!hinted && Date.now() - started > 30_000) {
            hinted = true;
            await write(
              io.stderr,
              `no worker has started it yet: is \`scorebridge worker\` running with ${file}, on the same Redis? (it also waits for a run of ${name} in flight)\n`,
            );
          }
        }
        await new Promise((r) => setTimeout(r, options.pollMs ?? 1000));
      }
    } finally {
      process.off('SIGINT', leave);
    }
  }
}

function outcomeText(o: RunOutcome): string {
  const rows = o.destinations.map(
    (d) =>
      `  ${d.id}: ${d.delivered} delivered, ${d.unchanged} unchanged, ${d.superseded ?? 0} superseded, ${d.refused ?? 0} refused before, ${d.filtered} filtered, ${d.deadLettered} dead-lettered${d.failed ? `; ${d.failed}` : ''}`,
  );
  const workers = Object.keys(o.workers).length;
  return `${o.interrupted ? 'cancelled' : o.ok ? 'done' : 'done with failures'}: ${o.fetched} fetched in ${o.slices} slice(s)${o.failedSlices ? ` (${o.failedSlices} failed)` : ''}, ${o.parseIssues} unreadable${workers > 0 ? `; delivered by ${workers} worker(s)` : ''}\n${rows.join('\n')}\n`;
}

function exitOf(o: RunOutcome): number {
  if (o.interrupted) return EXIT.interrupted;
  if (o.failedSlices > 0) return EXIT.source;
  if (o.destinations.some((d) => d.failed)) return EXIT.destinationFailed;
  if (o.parseIssues > 0 || o.destinations.some((d) => d.deadLettered > 0)) return EXIT.deadLettered;
  return EXIT.ok;
}

/** `scorebridge schedule list|remove`: the job schedulers worker mode keeps in Redis. */
export async function scheduleCommand(
  action: 'list' | 'remove',
  pipeline: string | undefined,
  options: Partial<ScheduleListOptions>,
  io: Io,
): Promise<number> {
  const redis = await connectRedis(redisUrl(options.redis));
  redis.on('error', () => undefined);
  const control = queueControl(redis, redisPrefix());
  try {
    if (action === 'list') {
      const schedules = await control.schedules();
      if (options.json) await printJson(io, 'schedules', { schedules });
      else if (schedules.length === 0) await write(io.stdout, 'No schedules.\n');
      else
        await write(
          io.stdout,
          schedules
            .map(
              (s) =>
                `${s.pipeline}: ${s.cron ? `cron ${s.cron} (UTC)` : `every ${Math.round((s.every ?? 0) / 1000)} s`}${s.next ? `, next ${s.next}` : ''}\n`,
            )
            .join(''),
        );
      return EXIT.ok;
    }
    if (!pipeline)
      throw new ConfigError('schedule remove: name the pipeline (its name:, not its file)');
    const removed = await control.removeSchedule(pipeline);
    await write(
      removed ? io.stdout : io.stderr,
      removed
        ? `removed the schedule of ${pipeline}; runs already queued are not touched. A worker still given its file adds it again when it starts: remove the file from the workers too.\n`
        : `scorebridge: no schedule of a pipeline named ${pipeline} (scorebridge schedule list shows them)\n`,
    );
    return removed ? EXIT.ok : EXIT.inputProblems;
  } finally {
    await control.close();
    redis.disconnect();
  }
}
