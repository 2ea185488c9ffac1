import { Command, Option } from '@commander-js/extra-typings';
import { type Cli, type OptionsOf, positiveInteger, reportByOption, typeOption } from '../cli.js';

const declare = () =>
  new Command('fetch')
    .description(
      'Fetch scores for a report-date window from TOEFL Access (or the sandbox) and print the records.',
    )
    .requiredOption(
      '--base-url <url>',
      'the scores endpoint, e.g. https://toeflaccess-api.ets.org/scores',
    )
    .requiredOption('--authcode-env <name>', 'the environment variable holding the API key')
    .requiredOption('--from <iso>', 'window start: a date or date-time, UTC unless a zone is given')
    .requiredOption('--to <iso>', 'window end')
    .addOption(
      new Option('--format <format>', 'ask for ScoreLink (fixed-length) or JSON')
        .choices(['scorelink', 'json'] as const)
        .default('scorelink'),
    )
    .addOption(
      new Option('--out <format>', 'print one JSON object per line, a JSON array, or CSV')
        .choices(['ndjson', 'json', 'csv'] as const)
        .default('ndjson'),
    )
    .option('--layout <file>', 'a site layout or override file')
    .option('--json-map <file>', 'for --format json: {"fields": {"<JSON key>": "<layout id>"}}')
    .addOption(typeOption())
    .addOption(reportByOption())
    .option(
      '--max-window-days <n>',
      'the longest window of one request (ETS asks for 30 or less)',
      positiveInteger,
      30,
    )
    .option('--plan', 'print the requests the window needs, and make none (no key needed)', false)
    .option('--json', 'with --plan: the requests as one JSON document (docs/cli.md)', false)
    .addHelpText(
      'after',
      `
The window is fetched in slices of at most --max-window-days; slices share one second so no
report on an edge is missed, and a report in both is printed once. Network errors, timeouts and
server errors are retried with backoff (after an HTTP 500: 5–10 minutes, then smaller windows,
as ETS advises); a rejected key is not retried, and the error says what to do.

ETS advises testing a new key with a small date range first — this command is how:
  export TOEFL_KEY='…'
  npx scorebridge fetch --base-url https://toeflaccess-api.ets.org/scores \\
    --authcode-env TOEFL_KEY --from 2026-11-01 --to 2026-11-02

Exit status: 0 all good; 1 some records had problems; 2 usage or configuration error;
3 TOEFL Access refused or failed (the message says why and what to do).`,
    );

export type FetchOptions = OptionsOf<typeof declare>;

/** `scorebridge fetch`. */
export const fetchCommand = (cli: Cli) =>
  declare().action(async (options) => {
    cli.status.code = await (await import('./fetch.js')).fetchCommand(options, cli.io, process.env);
  });
