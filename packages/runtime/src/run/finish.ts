import { alertAfterRun } from '../alerts/alerts.js';
import type { RunRecord } from '../state/store.js';
import type { PipelineContext } from './context.js';
import type { FreshLetters } from './letters.js';

/** What a run did, as both executors tell the end of a run. */
export interface RunFacts {
  readonly startedAt: string;
  readonly ok: boolean;
  /** Stopped before its end (Ctrl-C, SIGTERM, a cancelled backfill). */
  readonly interrupted: boolean;
  readonly window: RunRecord['window'];
  readonly parseIssues: number;
  readonly updates: NonNullable<RunRecord['updates']>;
  /** Per destination: counts, and why it stopped when it did. */
  readonly destinations: RunRecord['destinations'];
  /** Every slice was fetched. */
  readonly sourceOk: boolean;
  /** The most HTTP 500s in a row the source answered. */
  readonly consecutive500s: number;
  readonly freshDeadLetters: FreshLetters;
}

/**
 * The end of a run, one rule for both executors: unless it was interrupted, incidents it proved
 * over are resolved (the source's, when every slice was fetched; a destination's, when it took
 * records — new ones, or batches an earlier run left pending — and did not stop) and the run-wide alerts follow ({@link alertAfterRun}); then the run
 * is recorded. Resolves to the record kept.
 */
export async function finishRun(ctx: PipelineContext, facts: RunFacts): Promise<RunRecord> {
  const { alerter, store, name } = ctx;
  if (alerter && !facts.interrupted) {
    if (facts.sourceOk && facts.window) await alerter.resolve('source:');
    for (const d of facts.destinations)
      if (!d.failed && d.delivered + (d.resent ?? 0) > 0)
        await alerter.resolve(`destination:${d.id}`);
    await alertAfterRun(alerter, store, {
      pipeline: ctx.pipeline,
      consecutive500s: facts.consecutive500s,
      sourceOk: facts.sourceOk,
      freshDeadLetters: facts.freshDeadLetters,
      now: ctx.clock(),
    });
  }
  const record: RunRecord = {
    startedAt: facts.startedAt,
    finishedAt: ctx.clock().toISOString(),
    ok: facts.ok && !facts.interrupted,
    ...(facts.interrupted ? { interrupted: true } : {}),
    window: facts.window,
    parseIssues: facts.parseIssues,
    ...(Object.keys(facts.updates).length > 0 ? { updates: facts.updates } : {}),
    destinations: facts.destinations,
  };
  await store.recordRun(name, record);
  return record;
}
