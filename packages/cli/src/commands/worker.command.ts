import { Command, Option } from '@commander-js/extra-typings';
import {
  type Cli,
  logLevelOption,
  nonNegativeInteger,
  type OptionsOf,
  positiveInteger,
} from '../cli.js';

const declare = () =>
  new Command('worker')
    .description(
      'Worker mode: run pipelines on their schedules as BullMQ jobs on Redis, with any number of worker processes on any number of machines.',
    )
    .argument('<pipelines...>', 'pipeline files, or directories of them (every .yaml/.yml)')
    .addOption(
      new Option('--redis <url>', 'the Redis every worker shares; default: $SCOREBRIDGE_REDIS_URL'),
    )
    .option(
      '--concurrency <n>',
      "deliveries at once per destination in this process (default: the pipeline's queue.concurrency, else 2)",
      positiveInteger,
    )
    .option(
      '--deliveries <n>',
      'deliveries at once in this process, all destinations together (default: the sum of theirs, at most 16)',
      positiveInteger,
    )
    .option(
      '--health-port <port>',
      'serve GET /health: 200 while jobs flow, 503 when work waits and nothing moves or Redis is gone',
      nonNegativeInteger,
    )
    .option(
      '--dashboard <port>',
      'serve a dashboard: Bull Board for the queues and a page of pipelines, cursors, runs, dead letters and open alerts (credentials: $SCOREBRIDGE_DASHBOARD_USER, $SCOREBRIDGE_DASHBOARD_PASSWORD)',
      nonNegativeInteger,
    )
    .option(
      '--metrics-port <port>',
      'serve Prometheus metrics at GET /metrics: records fetched, delivered, unchanged, dead-lettered; source response times; queue depths; cursor ages; Salesforce API usage',
      nonNegativeInteger,
    )
    .option(
      '--host <address>',
      'the address the liveness, metrics and dashboard endpoints listen on (0.0.0.0: every interface)',
      '127.0.0.1',
    )
    .addOption(new Option('--health-host <address>', 'the earlier name of --host').hideHelp())
    .addOption(logLevelOption('info'))
    .option(
      '--shutdown-seconds <s>',
      'on SIGTERM/SIGINT, how long to let jobs in hand finish',
      positiveInteger,
      30,
    )
    .option(
      '--lock-seconds <s>',
      "a job's lock: a job whose worker died is taken over after about this long",
      positiveInteger,
      30,
    )
    .addHelpText(
      'after',
      `
Every worker loads the same pipeline files. Per pipeline, a job scheduler (schedule.every or
schedule.cron, UTC) adds a run; a run plans the window from the cursors, fetches each slice,
stages the records — encrypted with SCOREBRIDGE_DATA_KEY — as delivery jobs (one queue for all
destinations; each destination keeps to its own rateLimit and pauses, fleet-wide), and moves each
cursor once its deliveries are done. A worker holds a fixed number of Redis connections however
many pipelines it serves. A file it cannot load is skipped and listed (log, /health, status);
SIGHUP reloads the files: pipelines added, changed or removed (their schedules removed too).
Transient failures are retried with exponential backoff (queue.attempts, queue.backoffSeconds);
permanent ones, and the last attempt, become dead letters (scorebridge dlq list --redis).

Environment:
  SCOREBRIDGE_DATA_KEY      required: id:base64 of 32 bytes, e.g. k1:$(openssl rand -base64 32);
                            to rotate, put the new key first: k2:…,k1:…
  SCOREBRIDGE_REDIS_URL     instead of --redis
  SCOREBRIDGE_REDIS_PREFIX  key prefix, hash-tagged for Redis Cluster (default {scorebridge})
  SCOREBRIDGE_DASHBOARD_USER, SCOREBRIDGE_DASHBOARD_PASSWORD
                            the dashboard's sign-in (required with --dashboard)

Slack alerts (notifications.slack in a pipeline) come from workers as from runs: see
docs/operations.md for every alert and what to do.

The Redis: redis://host:6379 (rediss:// for TLS); a Sentinel set's master,
redis+sentinel://s1:26379,s2:26379,s3:26379/<master name>; or a Cluster,
redis+cluster://n1:7000,n2:7001 (docs/worker.md). It must be 6.2 or newer with
maxmemory-policy noeviction (checked at start) and should keep an append-only file. Examples:
  scorebridge worker pipelines/ --redis redis://redis.internal:6379 --health-port 8080
  scorebridge backfill pipelines/university.yaml --from 2026-01-01 --redis redis://…`,
    );

export type WorkerOptions = OptionsOf<typeof declare>;

/** `scorebridge worker`. */
export const workerCommand = (cli: Cli) =>
  declare().action(async (paths, options) => {
    cli.status.code = await (await import('./worker.js')).workerCommand(paths, options, cli.io);
  });
