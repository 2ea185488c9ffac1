import { countsOf, type RunSummary } from '@scorebridge/runtime/inline';

export { JSON_VERSION, printJson } from '../json.js';

/** `run --json`: the run summary. */
export function runView(s: RunSummary, exit: number): Record<string, unknown> {
  return {
    pipeline: s.pipeline,
    ok: s.ok,
    exit,
    dryRun: s.dryRun,
    window: s.window,
    slices: s.slices,
    fetched: s.fetched,
    parseIssues: s.parseIssues,
    updates: s.updates,
    sourceFailed: s.sourceFailed
      ? {
          kind: s.sourceFailed.kind,
          message: s.sourceFailed.message,
          remedy: s.sourceFailed.remedy,
        }
      : null,
    destinations: s.destinations.map((d) => ({
      id: d.id,
      type: d.type,
      ...countsOf(d),
      cursor: d.cursor ?? null,
      failed: d.failed
        ? { kind: d.failed.kind, message: d.failed.message, remedy: d.failed.remedy }
        : null,
    })),
  };
}
