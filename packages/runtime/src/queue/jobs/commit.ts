import type { Job } from 'bullmq';
import { finishRun } from '../../run/finish.js';
import { addFresh, type FreshLetters } from '../../run/letters.js';
import { confirmedThrough } from '../../run/plan.js';
import { addCounts, type UpdateCounts } from '../../run/versions.js';
import type { RunRecord } from '../../state/store.js';
import type { WorkerContext } from '../context.js';
import type { CommitJobData, DeliverResult, FetchResult, RunOutcome } from '../payloads.js';
import { parseJobId } from '../topology.js';

type Counts = {
  -readonly [K in keyof Omit<
    RunRecord['destinations'][number],
    'id' | 'filtered' | 'failed'
  >]-?: number;
};

/** A run's tally, merged from its children's results (this release's and the previous one's). */
interface Tally {
  fetched: number;
  parseIssues: number;
  filtered: number;
  serverErrors: number;
  readonly updates: UpdateCounts;
  readonly fresh: FreshLetters;
  readonly workers: Record<string, number>;
  readonly totals: Map<string, Counts>;
}

/**
 * The commit job, the parent of a run's flow, run once every child is over: merges their
 * results, moves each destination's cursor over the slices it confirmed (up to the first gap),
 * ends the run as the inline runner does (`finishRun`: alerts, the run record) and frees the
 * pipeline's run slot.
 */
export function createCommitProcessor(ctx: WorkerContext) {
  return async (job: Job<CommitJobData>): Promise<RunOutcome> => {
    const { pipeline: name, runId, slices, backfill } = job.data;
    const p = ctx.pipeline(name);
    const { fetchFailed, deliveryFailed } = failedChildren(await job.getIgnoredChildrenFailures());
    const tally = merge(
      p.pipeline.config.destinations.map((d) => d.id),
      (await job.getChildrenValues()) as Record<string, FetchResult | DeliverResult>,
    );
    const destinations: RunRecord['destinations'][number][] = [];
    for (const d of p.pipeline.config.destinations) {
      const upTo = confirmedThrough(
        slices.length,
        (i) => !fetchFailed.has(i) && !deliveryFailed.get(d.id)?.has(i),
      );
      if (!backfill && upTo >= 0) {
        const end = new Date(slices[upTo]!.to);
        const cursor = await ctx.store.cursor(name, d.id);
        if (!cursor || end > cursor) await ctx.store.setCursor(name, d.id, end);
      }
      const failed = deliveryFailed.get(d.id)?.size ?? 0;
      destinations.push({
        id: d.id,
        ...tally.totals.get(d.id)!,
        filtered: tally.filtered,
        ...(failed > 0 ? { failed: `${failed} delivery job(s) failed` } : {}),
      });
    }
    const stopped = await ctx.store.runCancelled(name, runId);
    const record = await finishRun(p, {
      startedAt: job.data.startedAt,
      ok: fetchFailed.size === 0 && deliveryFailed.size === 0,
      interrupted: stopped,
      window: job.data.window,
      parseIssues: tally.parseIssues,
      updates: tally.updates,
      destinations,
      sourceOk: fetchFailed.size === 0,
      consecutive500s: tally.serverErrors,
      freshDeadLetters: tally.fresh,
    });
    const outcome: RunOutcome = {
      ...record,
      runId,
      fetched: tally.fetched,
      slices: slices.length,
      failedSlices: fetchFailed.size,
      workers: tally.workers,
    };
    ctx.metrics.run(name, outcome);
    await ctx.store.releaseRunSlot(name, runId);
    ctx.log.info(`${name}: run ${runId} finished${outcome.ok ? '' : ' with failures'}`);
    return outcome;
  };
}

/** The slices whose fetch failed for good, and per destination those whose delivery did. */
function failedChildren(failures: Record<string, string>) {
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
  return { fetchFailed, deliveryFailed };
}

function merge(
  destinations: readonly string[],
  values: Record<string, FetchResult | DeliverResult>,
): Tally {
  const tally: Tally = {
    fetched: 0,
    parseIssues: 0,
    filtered: 0,
    serverErrors: 0,
    updates: {},
    fresh: {},
    workers: {},
    totals: new Map(
      destinations.map((id) => [
        id,
        { delivered: 0, unchanged: 0, superseded: 0, refused: 0, deadLettered: 0, resent: 0 },
      ]),
    ),
  };
  for (const [key, value] of Object.entries(values)) {
    const what = parseJobId(key);
    if (what?.kind === 'fetch') {
      const v = value as FetchResult;
      tally.fetched += v.fetched;
      tally.parseIssues += v.parseIssues;
      addFresh(tally.fresh, { parse: v.freshParseLetters ?? v.parseIssues });
      tally.serverErrors = Math.max(tally.serverErrors, v.serverErrors);
      tally.filtered += v.filtered;
      addCounts(tally.updates, v.updates);
      for (const [id, n] of Object.entries(v.unchanged ?? {})) {
        const t = tally.totals.get(id);
        if (t) t.unchanged += n;
      }
    } else if (what?.kind === 'deliver') {
      const v = value as DeliverResult;
      const t = tally.totals.get(what.destination);
      if (!t) continue;
      t.delivered += v.delivered;
      t.unchanged += v.unchanged;
      t.superseded += v.superseded ?? 0;
      t.refused += v.refused ?? 0;
      t.resent += v.resent ?? 0;
      t.deadLettered += v.rejected + v.unmatched;
      addFresh(tally.fresh, v.fresh ?? { rejected: v.rejected, unmatched: v.unmatched });
      tally.workers[v.worker] = (tally.workers[v.worker] ?? 0) + v.delivered;
    }
  }
  return tally;
}
