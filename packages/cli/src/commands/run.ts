import { formatEtsDate, parseIsoInput, UPDATE_CLASSES, type UpdateClass } from '@scorebridge/core';
import { type RunSummary, runPipeline } from '@scorebridge/runtime/inline';
import { EXIT, type Io, write } from '../io.js';
import { createLogger } from '../logging.js';
import { RunProgress } from '../progress.js';
import type { RunOptions } from './run.command.js';
import { load, withStore } from './state.js';
import { printJson, runView } from './views.js';

/** `scorebridge run`: one run of a pipeline, a progress display, a summary table. */
export async function runCommand(
  file: string,
  options: Partial<RunOptions>,
  io: Io,
  extra: {
    client?: Parameters<typeof runPipeline>[0]['client'];
    /** Where the pipeline's `${env:…}` references are read. @default process.env */
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<number> {
  const pipeline = await load(file, extra.env);
  const from = options.from ? parseIsoInput(options.from, '--from') : undefined;
  const to = options.to ? parseIsoInput(options.to, '--to') : undefined;
  const progress = new RunProgress(io, options.quiet);
  // Ctrl-C (or SIGTERM) stops the run where it stands and records it as interrupted; a second
  // one exits at once. Nothing is lost either way: unsettled batches are settled next run.
  const stop = new AbortController();
  const interrupt = () => {
    if (stop.signal.aborted) process.exit(EXIT.interrupted);
    stop.abort();
    io.stderr.write(
      '\nscorebridge: interrupted: stopping after the batch in hand (press Ctrl-C again to quit at once; nothing is lost)\n',
    );
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  let summary: RunSummary;
  try {
    summary = await withStore(options, pipeline, (store) =>
      runPipeline({
        pipeline,
        adapters: pipeline.adapters,
        store,
        from,
        to,
        dryRun: options.dryRun,
        onEvent: (event) => progress.on(event),
        logger: createLogger(io.stderr, options.logLevel ?? 'warn'),
        client: extra.client,
        now: io.clock(),
        signal: stop.signal,
      }),
    );
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  progress.done();
  const exit = runExit(summary);
  if (options.json) await printJson(io, 'run', runView(summary, exit));
  else if (!options.quiet || exit !== EXIT.ok) await write(io.stderr, summaryTable(summary));
  return exit;
}

function runExit(summary: RunSummary): number {
  if (summary.interrupted) return EXIT.interrupted;
  if (summary.sourceFailed) return EXIT.source;
  if (summary.destinations.some((d) => d.failed)) return EXIT.destinationFailed;
  if (summary.parseIssues > 0 || summary.destinations.some((d) => d.deadLettered > 0))
    return EXIT.deadLettered;
  return EXIT.ok;
}

/** `2 mybest-changed, 1 scores-changed`, or '' when a run met no re-sent report. */
export function updatesText(updates: Partial<Record<UpdateClass, number>> | undefined): string {
  return UPDATE_CLASSES.filter((c) => updates?.[c])
    .map((c) => `${updates![c]} ${c}`)
    .join(', ');
}

/** The table printed after a run. */
export function summaryTable(s: RunSummary): string {
  const lines: string[] = [];
  const head = s.window
    ? `${s.dryRun ? 'dry run (nothing delivered or written): ' : ''}${s.pipeline}: ${formatEtsDate(new Date(s.window.from))} → ${formatEtsDate(new Date(s.window.to))} UTC in ${s.slices} request${s.slices === 1 ? '' : 's'}: ${s.fetched} records fetched, ${s.parseIssues} unreadable`
    : `${s.pipeline}: nothing to fetch (every destination is up to date)`;
  lines.push(head, '');
  const rows = [
    [
      'DESTINATION',
      s.dryRun ? 'WOULD DELIVER' : 'DELIVERED',
      'UNCHANGED',
      'SUPERSEDED',
      'REFUSED',
      'FILTERED',
      'DEAD-LETTERED',
      'CURSOR',
    ],
  ];
  for (const d of s.destinations) {
    rows.push([
      `${d.id} (${d.type})`,
      String(d.delivered),
      String(d.unchanged),
      String(d.superseded),
      String(d.refused),
      String(d.filtered),
      String(d.deadLettered),
      d.cursor ? formatEtsDate(new Date(d.cursor)) : '—',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows)
    lines.push(
      r
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join('  '),
    );
  const updates = updatesText(s.updates);
  if (updates)
    lines.push(
      '',
      `Re-sent reports met: ${updates}${s.updates['scores-changed'] ? " — a test's own scores changed: worth a look" : ''}`,
    );
  if (s.parseIssues > 0)
    lines.push(
      '',
      `${s.parseIssues} unreadable record(s) were filed as dead letters: scorebridge dlq list <pipeline>`,
    );
  if (s.sourceFailed)
    lines.push(
      '',
      `TOEFL Access failed: ${s.sourceFailed.message}`,
      ...(s.sourceFailed.remedy ? [`What to do: ${s.sourceFailed.remedy}`] : []),
    );
  for (const d of s.destinations) {
    if (d.failed)
      lines.push(
        '',
        `${d.id} failed (its cursor did not move): ${d.failed.message}`,
        ...(d.failed.remedy ? [`What to do: ${d.failed.remedy}`] : []),
      );
  }
  return `${lines.map((l) => (l ? `scorebridge: ${l}` : '')).join('\n')}\n`;
}
