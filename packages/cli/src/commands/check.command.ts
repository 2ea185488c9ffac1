import { Command } from '@commander-js/extra-typings';
import type { Cli, OptionsOf } from '../cli.js';

const declare = () =>
  new Command('check')
    .description(
      "Check a pipeline's TOEFL Access key (the last 24 hours) and every destination's credentials and reachability.",
    )
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option('--json', 'the results as one JSON document on stdout (docs/cli.md)', false);

export type CheckOptions = OptionsOf<typeof declare>;

/** `scorebridge check`. */
export const checkCommand = (cli: Cli) =>
  declare().action(async (file, options) => {
    cli.status.code = await (await import('./check.js')).checkCommand(file, options, cli.io);
  });
