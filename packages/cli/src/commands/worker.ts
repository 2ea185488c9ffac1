import { readdirSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { join } from 'node:path';
import { ConfigError, type DestinationLogger, parseIsoInput } from '@scorebridge/core';
import {
  connectRedis,
  dataKeys,
  loadPipeline,
  type Pipeline,
  queueControl,
  type RunOutcome,
  redactRedisUrl,
  redisPrefix,
  startWorkers,
} from '@scorebridge/runtime';
import { ADAPTERS } from '../adapters.js';
import { EXIT, type Io, write } from '../io.js';
import { RUN_EXIT } from './pipeline.js';

/** Options of `scorebridge worker`. */
export interface WorkerCommandOptions {
  redis?: string;
  concurrency?: number;
  healthPort?: number;
  healthHost: string;
  shutdownSeconds: number;
  lockSeconds: number;
}

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
  options: WorkerCommandOptions,
  io: Io,
): Promise<never> {
  const files = pipelineFiles(paths);
  if (files.length === 0) throw new ConfigError(`no pipeline files in ${paths.join(', ')}`);
  const pipelines = files.map((f) => loadPipeline(f, { adapters: ADAPTERS }));
  const names = new Map<string, string>();
  for (const p of pipelines) {
    const other = names.get(p.config.name);
    if (other)
      throw new ConfigError(`${p.file}: pipeline name ${p.config.name} is also used by ${other}`);
    names.set(p.config.name, p.file);
  }
  const keys = dataKeys();
  const url = redisUrl(options.redis);
  const logger = lineLogger(io);
  const handle = await startWorkers({
    redisUrl: url,
    prefix: redisPrefix(),
    pipelines,
    adapters: ADAPTERS,
    keys,
    concurrency: options.concurrency,
    lockMs: options.lockSeconds * 1000,
    logger,
  });
  for (const w of handle.warnings) logger.warn(`WARNING: ${w}`);
  logger.info(
    `worker started on Redis ${handle.redisVersion} at ${redactRedisUrl(url)}: ${pipelines
      .map((p) => `${p.config.name} (${scheduleText(p)})`)
      .join(', ')}`,
  );

  const health =
    options.healthPort === undefined
      ? undefined
      : createServer((req, res) => {
          if (req.method !== 'GET' || !/^\/(health|healthz|livez)?$/.test(req.url ?? '')) {
            res.writeHead(404).end();
            return;
          }
          handle.health().then(
            (h) => {
              res.writeHead(h.status === 'ok' ? 200 : 503, { 'content-type': 'application/json' });
              res.end(`${JSON.stringify(h)}\n`);
            },
            () => res.writeHead(503).end(),
          );
        });
  if (health) {
    await new Promise<void>((resolve, reject) => {
      health.once('error', reject);
      health.listen(options.healthPort, options.healthHost, resolve);
    });
    const address = health.address();
    const port = typeof address === 'object' && address ? address.port : options.healthPort;
    logger.info(`liveness on http://${options.healthHost}:${port}/health`);
  }

  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGTERM', () => resolve('SIGTERM'));
    process.once('SIGINT', () => resolve('SIGINT'));
  });
  logger.info(
    `${signal}: finishing the jobs in hand (at most ${options.shutdownSeconds} s; a second signal stops at once)`,
  );
  const now = () => process.exit(EXIT.usage);
  process.once('SIGTERM', now);
  process.once('SIGINT', now);
  health?.close();
  const { forced } = await handle.close(options.shutdownSeconds * 1000);
  logger.info(
    forced
      ? 'stopped with jobs unfinished: another worker (or this one, restarted) takes them over once their locks lapse'
      : 'stopped',
  );
  // Work let go of may still hold sockets open (a request that hangs): the budget is a promise.
  process.exit(EXIT.ok);
}

function scheduleText(p: Pipeline): string {
  const s = p.config.schedule;
  return s ? (s.every ? `every ${s.every}` : `cron ${s.cron} UTC`) : 'no schedule: backfills only';
}

/** Log lines on stderr: time, level, message, and fields as JSON (allow-listed by their callers). */
function lineLogger(io: Io): DestinationLogger {
  const line =
    (level: string) =>
    (message: string, fields?: Record<string, unknown>): void => {
      io.stderr.write(
        `${new Date().toISOString()} ${level} ${message}${fields ? ` ${JSON.stringify(fields)}` : ''}\n`,
      );
    };
  return { debug: () => {}, info: line('info'), warn: line('warn'), error: line('error') };
}

/** `scorebridge backfill`: asks the workers for a range, then follows it to the end. */
export async function backfillCommand(
  file: string,
  options: { from: string; to?: string; redis?: string; wait: boolean; pollMs?: number },
  io: Io,
): Promise<number> {
  const pipeline = loadPipeline(file, { adapters: ADAPTERS, lenient: true });
  const name = pipeline.config.name;
  const from = parseIsoInput(options.from, '--from');
  const to = options.to ? parseIsoInput(options.to, '--to') : new Date();
  if (!(from < to)) throw new ConfigError('--from must be before --to');
  const redis = await connectRedis(redisUrl(options.redis));
  redis.on('error', () => undefined);
  const control = queueControl(redis, redisPrefix());
  try {
    const { runId } = await control.enqueueBackfill(name, from, to);
    await write(
      io.stdout,
      `backfill ${runId} queued: ${name}, ${from.toISOString()} to ${to.toISOString()}\n`,
    );
    if (!options.wait) return EXIT.ok;
    const started = Date.now();
    let last = '';
    let hinted = false;
    for (;;) {
      const p = await control.progress(runId);
      const text =
        p.state === 'queued'
          ? 'waiting for a worker'
          : `${p.done} of ${p.total} jobs done${p.failed ? `, ${p.failed} failed` : ''}`;
      if (text !== last) await write(io.stderr, `${text}\n`);
      last = text;
      if (p.state === 'done') {
        await write(io.stdout, outcomeText(p.outcome!));
        return exitOf(p.outcome!);
      }
      if (p.state === 'failed') {
        await write(io.stderr, `the run failed: ${p.reason}\n`);
        return RUN_EXIT.destinationFailed;
      }
      if (p.state === 'queued') {
        const reason = await control.runJobFailure(name, runId);
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
    await control.close();
    redis.disconnect();
  }
}

function outcomeText(o: RunOutcome): string {
  const rows = o.destinations.map(
    (d) =>
      `  ${d.id}: ${d.delivered} delivered, ${d.unchanged} unchanged, ${d.filtered} filtered, ${d.deadLettered} dead-lettered${d.failed ? `; ${d.failed}` : ''}`,
  );
  const workers = Object.keys(o.workers).length;
  return `${o.ok ? 'done' : 'done with failures'}: ${o.fetched} fetched in ${o.slices} slice(s)${o.failedSlices ? ` (${o.failedSlices} failed)` : ''}, ${o.parseIssues} unreadable${workers > 0 ? `; delivered by ${workers} worker(s)` : ''}\n${rows.join('\n')}\n`;
}

function exitOf(o: RunOutcome): number {
  if (o.failedSlices > 0) return RUN_EXIT.sourceFailed;
  if (o.destinations.some((d) => d.failed)) return RUN_EXIT.destinationFailed;
  if (o.parseIssues > 0 || o.destinations.some((d) => d.deadLettered > 0))
    return RUN_EXIT.deadLettered;
  return EXIT.ok;
}
