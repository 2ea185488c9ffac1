import { formatEtsDate } from '@scorebridge/core';
import {
  type Pipeline,
  queueControl,
  type RedisConnection as Redis,
  type RunRecord,
  redisPrefix,
  type StateStore,
} from '@scorebridge/runtime';

import { EXIT, type Io, write } from '../io.js';
import { type PipelineStatus, pipelineStatus } from '../status-view.js';
import { updatesText } from './run.js';
import { loadForState, withStore } from './state.js';
import type { StatusOptions } from './status.command.js';
import { printJson } from './views.js';

/** `scorebridge status`: cursors, the last runs and open dead letters. */
export async function statusCommand(file: string, options: StatusOptions, io: Io): Promise<number> {
  const pipeline = await loadForState(file);
  return withStore(options, pipeline, async (store, where, redis) => {
    const view = await statusView(pipeline, file, store, where, redis);
    if (options.json) await printJson(io, 'status', { ...view });
    else await write(io.stdout, statusText(view));
    return EXIT.ok;
  });
}

/** What `status` shows, as data: `--json` prints it, the text renders it. */
type StatusView = {
  file: string;
  state: string;
  /** Worker mode's shared queues, when the state is in Redis. */
  queues: Awaited<ReturnType<ReturnType<typeof queueControl>['counts']>> | null;
  /** Worker mode: what the workers on this Redis serve, and this pipeline's paused destinations. */
  fleet: Awaited<ReturnType<typeof fleetView>> | null;
} & Omit<PipelineStatus, 'letters'>;

async function statusView(
  pipeline: Pipeline,
  file: string,
  store: StateStore,
  where: string,
  redis?: Redis,
): Promise<StatusView> {
  const { letters: _letters, ...status } = await pipelineStatus(pipeline, store, {
    runs: 20,
    ledgers: true,
  });
  if (!redis) return { ...status, file, state: where, queues: null, fleet: null };
  const control = queueControl(redis, redisPrefix());
  try {
    const queues = await control.counts();
    return { ...status, file, state: where, queues, fleet: await fleetView(control, pipeline) };
  } finally {
    await control.close();
  }
}

/**
 * The workers announced on this Redis: whether each serves the pipeline or skipped its file (and
 * why); and how long each destination of the pipeline is still paused.
 */
async function fleetView(control: ReturnType<typeof queueControl>, pipeline: Pipeline) {
  const name = pipeline.config.name;
  const workers = (await control.workers()).map((w) => ({
    worker: w.name,
    at: w.at,
    pipelines: w.pipelines.length,
    serves: w.pipelines.includes(name),
    skipped: w.skipped,
  }));
  const paused: Record<string, number> = {};
  for (const d of pipeline.config.destinations) {
    const ms = await control.paused(name, d.id);
    if (ms > 0) paused[d.id] = Math.ceil(ms / 1000);
  }
  return { workers, paused };
}

/**
 * One run of the history as it happened, per destination (a record delivered to two
 * destinations is two deliveries, not one record):
 * `2026-11-22T23:53:10Z ok          csv 2000 delivered · ndjson 2000 delivered; 0 unreadable`.
 */
export function runLine(r: RunRecord): string {
  const problems = r.parseIssues > 0 || r.destinations.some((d) => d.deadLettered > 0);
  const state = r.interrupted ? 'INTERRUPTED' : !r.ok ? 'FAILED' : problems ? 'ok, letters' : 'ok';
  const parts = r.destinations.map((d) => {
    const counts = [
      `${d.delivered} delivered`,
      d.unchanged ? `${d.unchanged} unchanged` : '',
      d.superseded ? `${d.superseded} superseded` : '',
      d.refused ? `${d.refused} refused before` : '',
      d.filtered ? `${d.filtered} filtered` : '',
      d.deadLettered ? `${d.deadLettered} dead-lettered` : '',
      d.resent ? `${d.resent} pending batch(es) re-sent` : '',
      d.failed ? `failed: ${d.failed}` : '',
    ].filter(Boolean);
    return `${d.id} ${counts.join(', ')}`;
  });
  const updates = updatesText(r.updates);
  return `${r.startedAt} ${state.padEnd(11)} ${parts.join(' · ')}; ${r.parseIssues} unreadable${updates ? `; updates: ${updates}` : ''}`;
}

/** `status` as text: the facts of {@link statusView}. */
function statusText(view: StatusView): string {
  const out: string[] = [`${view.pipeline} (${view.file}), state in ${view.state}`, ''];
  for (const d of view.destinations) {
    out.push(
      `${d.id} (${d.type}): cursor ${d.cursor ? `${formatEtsDate(new Date(d.cursor))} UTC` : 'none yet (the first run starts at firstRunStart)'}; ${d.confirmed} record versions confirmed; ${d.deadLetters} dead letter(s)`,
    );
  }
  if (view.sourceDeadLetters > 0)
    out.push(`source: ${view.sourceDeadLetters} unreadable record(s) as dead letters`);
  if (view.incidents.length > 0)
    out.push(
      '',
      'Open alerts:',
      ...view.incidents.map((i) => `  ${i.title} (${i.key}, since ${i.openedAt})`),
    );
  const runs = view.runs.slice(-5);
  out.push('', runs.length > 0 ? 'Last runs:' : 'No runs yet.');
  for (const r of runs) out.push(`  ${runLine(r)}`);
  if (view.fleet) out.push(...fleetText(view.pipeline, view.fleet));
  if (view.queues)
    out.push(
      '',
      'Queues (worker mode; shared by every pipeline):',
      ...view.queues.map(
        (c) =>
          `  ${c.queue.padEnd(28)} ${c.waiting} waiting, ${c.active} active, ${c.delayed} delayed, ${c.failed} failed`,
      ),
    );
  return `${out.join('\n')}\n`;
}

function fleetText(pipeline: string, fleet: NonNullable<StatusView['fleet']>): string[] {
  const out = ['', `Workers on this Redis: ${fleet.workers.length}`];
  for (const w of fleet.workers)
    out.push(
      `  ${w.worker}: ${w.pipelines} pipeline(s)${w.serves ? `, ${pipeline} among them` : ''}; last seen ${w.at}`,
    );
  const skipped = fleet.workers.flatMap((w) => w.skipped.map((s) => ({ worker: w.worker, ...s })));
  if (skipped.length > 0) {
    out.push('', 'Skipped pipeline files (fix them, then send the worker SIGHUP):');
    for (const s of skipped)
      out.push(
        `  ${s.worker}: ${s.file}${s.pipeline ? ` (${s.pipeline})` : ''}: ${s.problems.join('; ')}`,
      );
  }
  for (const [d, seconds] of Object.entries(fleet.paused))
    out.push(`${d}: deliveries paused for ${seconds} s more (the destination asked)`);
  return out;
}
