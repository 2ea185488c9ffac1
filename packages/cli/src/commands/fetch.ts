import {
  ConfigError,
  createToeflAccessClient,
  formatEtsDate,
  parseIsoInput,
  planSlices,
  resolveLayouts,
  type Slice,
  type SourceEvent,
} from '@scorebridge/core';
import { EXIT, type Io, write } from '../io.js';
import { RecordPrinter } from '../output.js';
import type { FetchOptions } from './fetch.command.js';
import { readJsonMapping } from './parse.js';
import { printJson } from './views.js';

/**
 * Fetches a report-date window from TOEFL Access (in slices of at most `maxWindowDays`) and
 * prints the records; progress, retries and a summary go to stderr. Returns 3 when the source
 * refused or failed (the message says what to do), 1 when records had issues.
 */
export async function fetchCommand(
  options: FetchOptions,
  io: Io,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  if (options.plan) return printPlan(options, io);
  const authcode = env[options.authcodeEnv];
  if (!authcode) {
    throw new ConfigError(
      `--authcode-env: the environment variable ${options.authcodeEnv} is not set; put the TOEFL Access API key in it (the key is never taken on the command line, where other users and shell history could see it)`,
    );
  }
  const from = parseIsoInput(options.from, '--from');
  const to = parseIsoInput(options.to, '--to');
  const layouts = resolveLayouts(options.layout);
  const printer = new RecordPrinter(options.out, layouts, io);
  let window = '';
  const client = createToeflAccessClient({
    baseUrl: options.baseUrl,
    authcode,
    format: options.format,
    type: options.type,
    reportBy: options.reportBy,
    maxWindowDays: options.maxWindowDays,
    layouts,
    jsonMapping: options.jsonMap ? readJsonMapping(options.jsonMap) : undefined,
    onEvent: (event: SourceEvent) => {
      if (event.type === 'request') window = span(event.slice);
      const line = describe(event);
      // At once: a retry after an HTTP 500 pauses 5–10 minutes, and says so before it waits.
      if (line) io.stderr.write(`scorebridge: ${line}\n`);
    },
  });
  const slices = client.plan(from, to);
  await write(
    io.stderr,
    `scorebridge: fetching ${span({ from, to })} from ${new URL(options.baseUrl).host} in ${slices.length} request${slices.length === 1 ? '' : 's'} of at most ${options.maxWindowDays} days\n`,
  );
  const started = performance.now();
  let failed = true;
  try {
    for await (const batch of client.fetch(from, to))
      await printer.print(batch, `window ${window}`);
    failed = false;
  } finally {
    await printer.end(failed);
  }
  const seconds = ((performance.now() - started) / 1000).toFixed(1);
  const { requests, retries } = client.stats;
  await write(
    io.stderr,
    `scorebridge: done in ${seconds} s: ${printer.summary()} (${requests} request${requests === 1 ? '' : 's'}, ${retries} retr${retries === 1 ? 'y' : 'ies'})\n`,
  );
  return printer.withIssues > 0 ? EXIT.inputProblems : EXIT.ok;
}

/** `fetch --plan`: the slices of the window, as the client would request them; no request. */
async function printPlan(options: FetchOptions, io: Io): Promise<number> {
  const from = parseIsoInput(options.from, '--from');
  const to = parseIsoInput(options.to, '--to');
  const slices = planSlices(from, to, options.maxWindowDays);
  if (options.json) {
    await printJson(io, 'fetch-plan', {
      host: new URL(options.baseUrl).host,
      maxWindowDays: options.maxWindowDays,
      slices: slices.map((s) => ({
        startdate: formatEtsDate(s.from),
        enddate: formatEtsDate(s.to),
      })),
    });
  } else {
    await write(
      io.stdout,
      `${slices.length} request${slices.length === 1 ? '' : 's'} of at most ${options.maxWindowDays} days to ${new URL(options.baseUrl).host} (none made):\n${slices.map((s) => `  startdate=${formatEtsDate(s.from)} enddate=${formatEtsDate(s.to)}\n`).join('')}`,
    );
  }
  return EXIT.ok;
}

function span(slice: Slice): string {
  return `${formatEtsDate(slice.from)}–${formatEtsDate(slice.to)}`;
}

function describe(event: SourceEvent): string | undefined {
  switch (event.type) {
    case 'slice':
      return `${span(event.slice)}: ${event.records} records, ${event.issues} with issues (${event.durationMs} ms)`;
    case 'retry':
      return `${span(event.slice)}: ${event.error.message}; retrying in ${(event.delayMs / 1000).toFixed(1)} s`;
    case 'split':
      return `${span(event.slice)}: repeated server errors; trying ${event.into.length} smaller windows, as ETS advises`;
    default:
      return undefined;
  }
}
