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
  queues: Awaited<ReturnType<ReturnType<typeof queueControl>['counts']>> | null;
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
  const queues = redis ? await queueCounts(redis, pipeline) : null;
  return { ...status, file, state: where, queues };
}

/** Worker mode's queues of the pipeline: jobs waiting, active, delayed and failed. */
async function queueCounts(redis: Redis, pipeline: Pipeline) {
  const control = queueControl(redis, redisPrefix());
  try {
    return await control.counts(
      pipeline.config.name,
      pipeline.config.destinations.map((d) => d.id),
    );
  } finally {
    await control.close();
  }
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
  if (view.queues)
    out.push(
      '',
      'Queues (worker mode; run and fetch queues are shared by all pipelines):',
      ...view.queues.map(
        (c) =>
          `  ${c.queue.padEnd(28)} ${c.waiting} waiting, ${c.active} active, ${c.delayed} delayed, ${c.failed} failed`,
      ),
    );
  return `${out.join('\n')}\n`;
}
