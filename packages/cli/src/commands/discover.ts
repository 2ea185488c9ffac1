import { mkdirSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import {
  builtinLayout,
  ConfigError,
  createToeflAccessClient,
  type Discovery,
  discoverLayout,
  formatEtsDate,
  parseIsoInput,
  type ResponseFormat,
} from '@scorebridge/core';
import { EXIT, type Io, write } from '../io.js';
import type { DiscoverOptions } from './layout.command.js';

/**
 * ETS's test environment, as published: the endpoint serving the same 11 score sets as
 * ScoreLink and JSON, its example window, and the shared sample key (TOEFL Access help,
 * "Preparing your CRM for the TOEFL iBT score scale update" and "JSON Layout", Environment: TST).
 * The key is a published test credential, not a secret.
 */
export const ETS_TEST = {
  baseUrl: 'https://toeflaccess-tst-api.ets.org/scores/sample-data',
  from: '2024-07-25T00:00:00Z',
  to: '2025-07-26T23:59:59Z',
  authcode: 'ZXh0c3lzaWJ0MjZ0c3Q6cGFzczAxMDIwMw==',
} as const;

/**
 * Fetches one window as ScoreLink and as JSON, learns where each JSON field sits in the line,
 * and writes the JSON mapping, a layout override with the sub-fields found inside raw spans,
 * and a report. Returns 0 when every JSON key was placed, 1 when some were not (the report
 * says why), 3 when TOEFL Access refused or failed.
 */
export async function discoverCommand(
  options: DiscoverOptions,
  io: Io,
  env: NodeJS.ProcessEnv,
): Promise<number> {
  const test = options.etsTest;
  const baseUrl = options.baseUrl ?? (test ? ETS_TEST.baseUrl : undefined);
  const fromText = options.from ?? (test ? ETS_TEST.from : undefined);
  const toText = options.to ?? (test ? ETS_TEST.to : undefined);
  const missing = [
    ['--base-url', baseUrl],
    ['--authcode-env', options.authcodeEnv ?? (test ? 'ETS sample key' : undefined)],
    ['--from', fromText],
    ['--to', toText],
  ].filter(([, v]) => v === undefined);
  if (missing.length > 0) {
    throw new ConfigError(
      `${missing.map(([name]) => name).join(', ')} ${missing.length === 1 ? 'is' : 'are'} required (or --ets-test, which fills in ETS's test environment)`,
    );
  }
  const authcode = options.authcodeEnv ? env[options.authcodeEnv] : ETS_TEST.authcode;
  if (!authcode) {
    throw new ConfigError(
      `--authcode-env: the environment variable ${options.authcodeEnv} is not set; put the TOEFL Access API key in it`,
    );
  }
  const from = parseIsoInput(fromText!, '--from');
  const to = parseIsoInput(toText!, '--to');
  // ETS's test data ignores the dates: one request (ETS's own example asks for 366 days at once).
  const maxWindowDays =
    options.maxWindowDays ?? (test ? Math.ceil((to.getTime() - from.getTime()) / 86_400_000) : 30);
  const fetchBody = async (format: ResponseFormat) => {
    const client = createToeflAccessClient({
      baseUrl: baseUrl!,
      authcode,
      format,
      type: options.type,
      reportBy: options.reportBy,
      maxWindowDays,
    });
    const texts: string[] = [];
    let unread = 0;
    for await (const batch of client.fetch(from, to)) {
      for (const entry of batch) {
        if (entry.record && (format === 'json' || entry.record.layout === 'scorelink-1600'))
          texts.push(entry.record.raw);
        else unread++;
      }
    }
    return { texts, unread };
  };
  await write(
    io.stderr,
    `scorebridge: fetching ${formatEtsDate(from)}–${formatEtsDate(to)} from ${new URL(baseUrl!).host} as ScoreLink and as JSON\n`,
  );
  const lines = await fetchBody('scorelink');
  const json = await fetchBody('json');
  const objects = json.texts.map((t) => JSON.parse(t) as Record<string, unknown>);
  if (lines.texts.length === 0 || objects.length === 0) {
    throw new ConfigError(
      `the window holds ${lines.texts.length} ScoreLink records and ${objects.length} JSON records: discover needs reports in both; choose a window with scores`,
    );
  }
  let discovery: Discovery;
  try {
    discovery = discoverLayout({
      layout: builtinLayout('scorelink-1600'),
      lines: lines.texts,
      objects,
    });
  } catch (cause) {
    throw new ConfigError((cause as Error).message, { cause });
  }
  mkdirSync(options.outDir, { recursive: true });
  const files = {
    mapping: join(options.outDir, 'json-mapping.json'),
    override: join(options.outDir, 'layout-override.json'),
    report: join(options.outDir, 'discover-report.md'),
  };
  writeFileSync(files.mapping, `${JSON.stringify(discovery.mapping, null, 2)}\n`);
  if (discovery.override)
    writeFileSync(files.override, `${JSON.stringify(discovery.override, null, 2)}\n`);
  const report = renderReport(discovery, {
    source: `${new URL(baseUrl!).host}, ${formatEtsDate(from)}–${formatEtsDate(to)}`,
    unread: lines.unread + json.unread,
    files,
    outDir: options.outDir,
  });
  writeFileSync(files.report, report);
  await write(io.stdout, report);
  await write(
    io.stderr,
    `scorebridge: wrote ${[files.mapping, discovery.override ? files.override : undefined, files.report].filter(Boolean).join(', ')}\n`,
  );
  return discovery.unplaced.length > 0 ? EXIT.inputProblems : EXIT.ok;
}

/** The report: what was placed, what was not and why, and what no JSON field explains. */
export function renderReport(
  d: Discovery,
  context: {
    source: string;
    unread: number;
    files: { mapping: string; override: string; report: string };
    outDir: string;
  },
): string {
  const out: string[] = [
    '# Layout discovery',
    '',
    `Source: ${context.source}. ${d.paired} reports paired by ${d.pairedBy}.`,
  ];
  for (const l of d.leftOut) out.push(`Left out: ${l.count} records (${l.reason}).`);
  if (context.unread > 0) out.push(`Left out: ${context.unread} records that could not be read.`);
  const subs = d.placed.filter((p) => !p.shipped);
  out.push(
    '',
    `## Placed: ${d.placed.length} JSON keys (${d.placed.length - subs.length} shipped fields, ${subs.length} new sub-fields)`,
    '',
    '| JSON key | layout id | positions | type | records with a value |',
    '| --- | --- | --- | --- | --- |',
    ...d.placed.map(
      (p) =>
        `| \`${p.key}\` | ${p.id}${p.shipped ? '' : ` (new, in ${p.within})`} | ${p.start}–${p.end} | ${p.type} | ${p.withValue} of ${p.agreed} |`,
    ),
  );
  if (d.explainedBlocks.length > 0) {
    out.push(
      '',
      `Every filled character of ${d.explainedBlocks.join(', ')} is explained by the sub-fields: the override makes ${d.explainedBlocks.length === 1 ? 'it' : 'them'} filler, so JSON and ScoreLink records come out the same.`,
    );
  }
  out.push('', `## Not placed: ${d.unplaced.length} JSON keys`, '');
  if (d.unplaced.length === 0) out.push('None.');
  for (const u of d.unplaced) out.push(`- \`${u.key}\`: ${u.reason}`);
  out.push('', `## Filled positions no JSON field explains: ${d.unexplained.length}`, '');
  if (d.unexplained.length === 0) out.push('None.');
  for (const u of d.unexplained)
    out.push(
      `- ${u.start}–${u.end} (in ${u.field}): filled in ${u.records} of ${d.paired} records`,
    );
  const rel = (path: string) => relative(context.outDir, path) || path;
  out.push(
    '',
    '## Next',
    '',
    `Review the files, then use them in the pipeline (paths relative to the pipeline file):`,
    '',
    '```yaml',
    'source:',
    ...(d.override ? [`  layout: ${rel(context.files.override)}`] : []),
    '  jsonMapping:',
    ...Object.entries(d.mapping.fields).map(([k, v]) => `    ${JSON.stringify(k)}: ${v}`),
    '```',
    '',
    `or try them first: \`scorebridge parse body.json --format json --json-map ${context.files.mapping}${d.override ? ` --layout ${context.files.override}` : ''}\`.`,
    '',
  );
  return out.join('\n');
}
