import { Command, Option } from '@commander-js/extra-typings';
import type { Cli, OptionsOf } from '../cli.js';

const declare = () =>
  new Command('backfill')
    .description(
      'Ask the workers to fetch and deliver a report-date range again, and follow it to the end.',
    )
    .argument('<pipeline.yaml>', 'the pipeline file (as the workers have it)')
    .option('--from <iso>', 'start of the range (UTC), e.g. 2026-01-01')
    .option('--to <iso>', 'end of the range (default: now)')
    .addOption(new Option('--redis <url>', "the workers' Redis; default: $SCOREBRIDGE_REDIS_URL"))
    .option('--no-wait', 'queue it and return at once')
    .option('--attach <run>', 'follow a backfill already queued (its id, as printed when queued)')
    .option('--cancel <run>', 'cancel a backfill: the workers skip what is not done yet')
    .addHelpText(
      'after',
      `
Records each destination already holds unchanged are skipped; cursors do not move. A backfill
waits for a run of the same pipeline in flight, and scheduled runs wait for it. Following it shows
the slices fetched of the planned total; Ctrl-C stops following (the workers carry on) and says
how to --attach again or --cancel it.

Exit status: 0 all delivered; 1 some records were dead-lettered; 2 configuration error;
3 some slices could not be fetched; 4 some deliveries failed.`,
    )
    .option('--json', 'the outcome as one JSON document on stdout (docs/cli.md)', false);

export type BackfillOptions = OptionsOf<typeof declare>;

/** `scorebridge backfill`. */
export const backfillCommand = (cli: Cli) =>
  declare().action(async (file, options) => {
    cli.status.code = await (await import('./backfill.js')).backfillCommand(file, options, cli.io);
  });
