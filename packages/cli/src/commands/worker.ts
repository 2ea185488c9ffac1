import { readdirSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { join } from 'node:path';
import { ConfigError } from '@scorebridge/core';
import {
  dataKeys,
  type Pipeline,
  redactRedisUrl,
  redisPrefix,
  type SkippedPipeline,
  startWorkers,
  type WorkerHandle,
} from '@scorebridge/runtime';
import { type LoadedPipeline, loadPipelineFile } from '../adapters.js';
import { dashboardCredentials, startDashboard } from '../dashboard.js';
import { EXIT, type Io } from '../io.js';
import { createLogger } from '../logging.js';
import { workerRedisUrl } from './state.js';
import type { WorkerOptions } from './worker.command.js';

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
  const fleet = await loadFleet(paths);
  const { pipelines, skipped } = fleet;
  if (pipelines.length === 0) throw new ConfigError(skipped.flatMap((s) => s.problems));
  const keys = dataKeys();
  const credentials = options.dashboard === undefined ? undefined : dashboardCredentials();
  const url = workerRedisUrl(options.redis);
  const logger = createLogger(io.stderr, options.logLevel);
  const handle = await startWorkers({
    redisUrl: url,
    prefix: redisPrefix(),
    pipelines,
    skipped,
    adapters: fleet.adapters,
    keys,
    concurrency: options.concurrency,
    deliveries: options.deliveries,
    lockMs: options.lockSeconds * 1000,
    logger,
  });
  for (const w of handle.warnings) logger.warn(`WARNING: ${w}`);
  logSkipped(logger, skipped);
  logger.info(
    `worker started on Redis ${handle.redisVersion} at ${redactRedisUrl(url)}: ${pipelines
      .map((p) => `${p.config.name} (${scheduleText(p)})`)
      .join(', ')}`,
  );

  let served: readonly Pipeline[] = pipelines;
  const servers = await endpoints(options, handle, () => served, credentials, logger);
  // SIGHUP: the pipeline files again, without a restart (added, changed, removed, fixed).
  let reloading = Promise.resolve();
  process.on('SIGHUP', () => {
    reloading = reloading.then(async () => {
      served = (await reload(paths, handle, logger)) ?? served;
    });
  });

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

/** The liveness, dashboard and metrics endpoints asked for. */
async function endpoints(
  options: WorkerOptions,
  handle: WorkerHandle,
  pipelines: () => readonly Pipeline[],
  credentials: ReturnType<typeof dashboardCredentials> | undefined,
  logger: Logger,
): Promise<Server[]> {
  const host = options.healthHost ?? options.host;
  const servers: Server[] = [];
  if (options.healthPort !== undefined) {
    servers.push(
      await serve(options.healthPort, host, /^\/(health|healthz|livez)?$/, async () => {
        const h = await handle.health();
        const skipped = handle.skipped();
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
  return servers;
}

/** SIGHUP: loads the pipeline files again and serves them; the pipelines now served, or undefined. */
async function reload(
  paths: readonly string[],
  handle: WorkerHandle,
  logger: Logger,
): Promise<readonly Pipeline[] | undefined> {
  try {
    const next = await loadFleet(paths);
    if (next.pipelines.length === 0)
      throw new ConfigError(['no pipeline could be loaded: the worker goes on as it was']);
    const change = await handle.reload(next.pipelines, next.adapters, next.skipped);
    logSkipped(logger, next.skipped);
    logger.info(
      `reloaded the pipeline files: ${next.pipelines.length} served; ${changeText(change)}`,
      { event: 'pipelines-reloaded', ...change, skipped: next.skipped.map((s) => s.file) },
    );
    return next.pipelines;
  } catch (error) {
    logger.error(`SIGHUP: the pipelines were not reloaded: ${(error as Error).message}`, {
      event: 'reload-failed',
    });
    return undefined;
  }
}

/**
 * Every pipeline file of the paths, loaded: a file this worker cannot load (its secrets are not
 * set here, say; or its name is another file's) is skipped and reported, not fatal to the others.
 */
async function loadFleet(paths: readonly string[]) {
  const files = pipelineFiles(paths);
  if (files.length === 0) throw new ConfigError(`no pipeline files in ${paths.join(', ')}`);
  const loaded = await Promise.allSettled(files.map((f) => loadPipelineFile(f)));
  const skipped: SkippedPipeline[] = [];
  const pipelines: LoadedPipeline[] = [];
  const names = new Map<string, string>();
  for (const [i, r] of loaded.entries()) {
    const file = files[i]!;
    if (r.status === 'rejected') {
      if (!(r.reason instanceof ConfigError)) throw r.reason;
      skipped.push({ file, pipeline: await nameOf(file), problems: r.reason.problems });
      continue;
    }
    const name = r.value.config.name;
    const other = names.get(name);
    if (other)
      skipped.push({
        file,
        pipeline: name,
        problems: [`pipeline name ${name} is also used by ${other}`],
      });
    else {
      names.set(name, file);
      pipelines.push(r.value);
    }
  }
  const adapters = [
    ...new Map(pipelines.flatMap((p) => p.adapters).map((a) => [a.type, a])).values(),
  ];
  return { pipelines, skipped, adapters };
}

/** A pipeline's name, read without its secrets (undefined when the file is not that readable). */
async function nameOf(file: string): Promise<string | undefined> {
  try {
    return (await loadPipelineFile(file, { lenient: true })).config.name;
  } catch {
    return undefined;
  }
}

function logSkipped(logger: Logger, skipped: readonly SkippedPipeline[]) {
  for (const { file, problems } of skipped)
    logger.error(
      `${file}: skipped: this worker cannot load the pipeline; the others run. Fix it, then send the worker SIGHUP (or restart it):\n${problems.map((p) => `  ${p}`).join('\n')}`,
      { event: 'pipeline-skipped', file },
    );
}

function changeText(c: {
  added: string[];
  changed: string[];
  removed: string[];
  unscheduled: string[];
}) {
  const parts = [
    c.added.length ? `added ${c.added.join(', ')}` : '',
    c.changed.length ? `changed ${c.changed.join(', ')}` : '',
    c.removed.length ? `removed ${c.removed.join(', ')}` : '',
    c.unscheduled.length ? `schedules removed: ${c.unscheduled.join(', ')}` : '',
  ].filter(Boolean);
  return parts.length > 0 ? parts.join('; ') : 'nothing changed';
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

type Logger = ReturnType<typeof createLogger>;

const portOf = (server: Server) => {
  const address = server.address();
  return typeof address === 'object' && address ? address.port : '?';
};

function scheduleText(p: Pipeline): string {
  const s = p.config.schedule;
  return s ? (s.every ? `every ${s.every}` : `cron ${s.cron} UTC`) : 'no schedule: backfills only';
}
