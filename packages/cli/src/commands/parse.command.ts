import { Command, Option } from '@commander-js/extra-typings';
import type { Cli, OptionsOf } from '../cli.js';

const declare = () =>
  new Command('parse')
    .description(
      'Turn a ScoreLink (fixed-length) or JSON score file into records: JSON or CSV on stdout, problems on stderr.',
    )
    .argument('<file>', 'the file to read, or - for standard input')
    .addOption(
      new Option('--format <format>', 'the input format')
        .choices(['scorelink', 'json'] as const)
        .default('scorelink'),
    )
    .addOption(
      new Option('--out <format>', 'the output: one JSON object per line, a JSON array, or CSV')
        .choices(['ndjson', 'json', 'csv'] as const)
        .default('ndjson'),
    )
    .option(
      '--layout <file>',
      'a site layout file: a complete layout, or an override of a shipped one',
    )
    .addOption(
      new Option('--encoding <encoding>', "the input's text encoding")
        .choices(['utf-8', 'latin1'] as const)
        .default('utf-8'),
    )
    .option(
      '--json-map <file>',
      'for --format json: {"fields": {"<JSON key>": "<layout id>"}} when the keys do not match layout ids',
    )
    .addHelpText(
      'after',
      `
Records with a problem (wrong length, invalid date, non-numeric score, blank key field) are
reported on stderr with their line and field; every good record is still printed. Lines of
1600 characters (current layout) and 900 (legacy) are recognised line by line; records may be
separated by \\n, \\r\\n, or not at all.

Exit status: 0 all records good, 1 some records had problems, 2 usage or configuration error.

Examples:
  scorebridge parse scores.txt > scores.ndjson
  scorebridge parse scores.txt --out csv > scores.csv
  scorebridge parse response.json --format json --out json
  scorebridge parse scores.txt --layout site-layout.json`,
    );

export type ParseOptions = OptionsOf<typeof declare>;

/** `scorebridge parse`. */
export const parseCommand = (cli: Cli) =>
  declare().action(async (file, options) => {
    cli.status.code = await (await import('./parse.js')).parseCommand(file, options, cli.io);
  });
