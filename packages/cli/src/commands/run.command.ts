import { Command } from '@commander-js/extra-typings';
import { type Cli, logLevelOption, type OptionsOf, redisOption, stateDirOption } from '../cli.js';

const declare = () =>
  new Command('run')
    .description(
      'Run a pipeline once: fetch new scores, deliver them to every destination, remember what was confirmed.',
    )
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option(
      '--from <iso>',
      'backfill: fetch this range instead of what is new (cursors do not move)',
    )
    .option('--to <iso>', 'backfill: end of the range (default: now)')
    .option('--dry-run', 'show what would be delivered where; deliver and write nothing', false)
    .option(
      '-q, --quiet',
      'only problems: no progress, and the summary only when something went wrong (for cron)',
      false,
    )
    .option('--json', 'the summary as one JSON document on stdout (docs/cli.md)', false)
    .addOption(stateDirOption())
    .addOption(redisOption())
    .addOption(logLevelOption('warn'))
    .addHelpText(
      'after',
      `
Each destination has a cursor (the end of the report-date window it confirmed) and a ledger
(the records it holds, by key and content hash). A run fetches from the earliest cursor, less
source.overlapHours, to now; records a destination already holds unchanged are skipped, changed
ones are delivered again as updates. Unreadable records and rejected ones become dead letters
(scorebridge dlq list). A crash at any point loses nothing: run again.

Ctrl-C (or SIGTERM) stops the run where it stands and records it as interrupted; press it
again to quit at once. Nothing is lost either way: the next run carries on.

Exit status: 0 all delivered; 1 some records were dead-lettered; 2 configuration error;
3 TOEFL Access failed; 4 a destination failed (its cursor did not move); 130 interrupted.`,
    );

export type RunOptions = OptionsOf<typeof declare>;

/** `scorebridge run`. */
export const runCommand = (cli: Cli) =>
  declare().action(async (file, options) => {
    cli.status.code = await (await import('./run.js')).runCommand(file, options, cli.io);
  });
