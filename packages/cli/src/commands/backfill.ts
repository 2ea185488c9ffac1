import { ConfigError, parseIsoInput } from '@scorebridge/core';
import { connectRedis, queueControl, type RunOutcome, redisPrefix } from '@scorebridge/runtime';
import { createLogUpdate } from 'log-update';
import { loadPipelineFile } from '../adapters.js';
import { EXIT, type Io, write } from '../io.js';
import type { BackfillOptions } from './backfill.command.js';
import { workerRedisUrl } from './state.js';
import { printJson } from './views.js';

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
  const redis = await connectRedis(workerRedisUrl(options.redis));
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
