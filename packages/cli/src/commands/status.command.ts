import { Command } from '@commander-js/extra-typings';
import { type Cli, type OptionsOf, redisOption, stateDirOption } from '../cli.js';

const declare = () =>
  new Command('status')
    .description("Show a pipeline's cursors, recent runs and dead letters.")
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option('--json', 'as one JSON document on stdout (docs/cli.md)', false)
    .addOption(stateDirOption())
    .addOption(redisOption());

export type StatusOptions = OptionsOf<typeof declare>;

/** `scorebridge status`. */
export const statusCommand = (cli: Cli) =>
  declare().action(async (file, options) => {
    cli.status.code = await (await import('./status.js')).statusCommand(file, options, cli.io);
  });
