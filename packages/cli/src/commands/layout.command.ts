import { Command, Option } from '@commander-js/extra-typings';
import { BUILTIN_LAYOUT_NAMES } from '@scorebridge/core/light';
import { type Cli, type OptionsOf, positiveInteger, reportByOption, typeOption } from '../cli.js';

const declareShow = () =>
  new Command('show')
    .description(
      'Print the effective layout as a table: positions, type, and how certain each field is.',
    )
    .option('--layout <file>', 'a site layout or override file (default: the shipped layout)')
    .addOption(
      new Option('--builtin <name>', 'which shipped layout to show')
        .choices([...BUILTIN_LAYOUT_NAMES])
        .default('scorelink-1600'),
    )
    .option(
      '--json',
      'print the effective layout as JSON (an override merged into its base)',
      false,
    );

export type LayoutShowOptions = OptionsOf<typeof declareShow>;

const declareImport = () =>
  new Command('import')
    .description(
      "Turn ETS's ScoreLink layout spreadsheet, saved as CSV, into a layout file ScoreBridge reads.",
    )
    .argument(
      '<file.csv>',
      'the CSV, with the columns Start, End, Size, Data Format, CL A, CL N, Field Name, Comments',
    )
    .addOption(
      new Option(
        '--extends <layout>',
        'write an override of this shipped layout (e.g. just the iBT26 sub-fields) instead of a complete layout',
      ).choices([...BUILTIN_LAYOUT_NAMES]),
    )
    .option('--name <name>', 'the name of a complete layout', 'site-layout')
    .option(
      '--record-length <n>',
      'the record length of a complete layout (default: the largest End)',
      positiveInteger,
    )
    .option('-o, --output <file>', 'write to this file instead of stdout')
    .addHelpText(
      'after',
      `
Every row that does not add up (End − Start + 1 ≠ Size, overlapping rows, non-numbers) is
reported with its CSV line, and nothing is written. A row wholly containing other rows is a
block (type raw); the rows inside are its sub-fields. Types are guessed from the field names
(dates, scores, filler) — review them, then use the file with --layout.

Examples:
  scorebridge layout import ets-layout.csv -o site-layout.json
  scorebridge layout import ibt26-block.csv --extends scorelink-1600 -o ibt26-override.json
  scorebridge layout show --layout ibt26-override.json`,
    );

export type LayoutImportOptions = OptionsOf<typeof declareImport>;

const declareDiscover = () =>
  new Command('discover')
    .description(
      'Learn the JSON field names and the iBT26 sub-field positions from one window fetched both as ScoreLink and as JSON.',
    )
    .option('--base-url <url>', "the scores endpoint (with --ets-test: ETS's test endpoint)")
    .option(
      '--authcode-env <name>',
      "the environment variable holding the API key (with --ets-test: ETS's published sample key)",
    )
    .option('--from <iso>', 'window start: a date or date-time, UTC unless a zone is given')
    .option('--to <iso>', 'window end')
    .option(
      '--ets-test',
      "use ETS's test environment: its sample-data endpoint, example window and sample key",
      false,
    )
    .option('-o, --out-dir <dir>', 'where to write the three files', 'layout-discovery')
    .addOption(typeOption())
    .addOption(reportByOption())
    .option(
      '--max-window-days <n>',
      "the longest window of one request (default 30; with --ets-test one request, as ETS's example)",
      positiveInteger,
    )
    .addHelpText(
      'after',
      `
The two bodies' records are paired by appointment number; for every JSON key discover finds
the positions where its value sits in the line (exact text, space- or zero-padded, dates as
YYYYMMDD, scores with or without a decimal point), keeping only positions every paired record
agrees on. It writes, in --out-dir:
  json-mapping.json      {"fields": {"<JSON key>": "<layout id>"}}, for source.jsonMapping
                         (or --json-map of parse and fetch)
  layout-override.json   the sub-fields found inside spans the shipped layout keeps raw
                         (the iBT26 block 832–937, 824–831, …), each with how many records agree
  discover-report.md     also printed: keys not placed and why, positions no key explains
It never guesses: a key that fits two places, or none, is reported and not written.

Start a new site with ETS's test environment, then the real key on a small window:
  scorebridge layout discover --ets-test
  scorebridge layout discover --base-url https://toeflaccess-api.ets.org/scores \\
    --authcode-env TOEFL_KEY --from 2026-10-01 --to 2026-10-31

Exit status: 0 every JSON key placed; 1 some were not (see the report); 2 usage or
configuration error; 3 TOEFL Access refused or failed.`,
    );

export type DiscoverOptions = OptionsOf<typeof declareDiscover>;

/** `scorebridge layout show|import|discover`. */
export const layoutCommand = (cli: Cli) =>
  new Command('layout')
    .description("Inspect the ScoreLink record layout, or import ETS's layout spreadsheet.")
    .addCommand(
      declareShow().action(async (options) => {
        cli.status.code = await (await import('./layout.js')).layoutShow(options, cli.io);
      }),
    )
    .addCommand(
      declareImport().action(async (file, options) => {
        cli.status.code = await (await import('./layout.js')).layoutImport(file, options, cli.io);
      }),
    )
    .addCommand(
      declareDiscover().action(async (options) => {
        cli.status.code = await (await import('./discover.js')).discoverCommand(
          options,
          cli.io,
          process.env,
        );
      }),
    );
