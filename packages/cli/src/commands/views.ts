import { countsOf, type RunSummary } from '@scorebridge/runtime';
import type { Io } from '../io.js';
import { write } from '../io.js';

/**
 * The machine-readable shapes of `--json` (documented in docs/cli.md, "JSON output"): one JSON
 * document on stdout per command, with `"version": 1`; a field is only ever added, never renamed
 * or removed, within a version. Exit statuses are the same as without `--json`.
 */
export const JSON_VERSION = 1;

/** Prints one `--json` document. */
export async function printJson(
  io: Io,
  kind: string,
  body: Record<string, unknown>,
): Promise<void> {
  await write(io.stdout, `${JSON.stringify({ version: JSON_VERSION, kind, ...body }, null, 2)}\n`);
}

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
