import { Command } from '@commander-js/extra-typings';
import { type Cli, type OptionsOf, redisOption, stateDirOption } from '../cli.js';

const declare = () =>
  new Command('trace')
    .description(
      'Trace one report by appointment/registration number: each version met, when, what it changed, and what each destination confirmed.',
    )
    .argument('<pipeline.yaml>', 'the pipeline file')
    .argument('<appointment-number>', 'the appointment or registration number (spaces ignored)')
    .option('--json', 'as one JSON document on stdout (docs/cli.md)', false)
    .addOption(stateDirOption())
    .addOption(redisOption())
    .addHelpText(
      'after',
      `
Keys, content hashes, report windows and dead-letter reasons only: the state holds no personal
data, so neither does this. Reports are traced from this release on (the version history
began with it). Exit status: 0 found; 1 no such report met; 2 usage or configuration error.`,
    );

export type TraceOptions = OptionsOf<typeof declare>;

/** `scorebridge trace`. */
export const traceCommand = (cli: Cli) =>
  declare().action(async (file, number, options) => {
    cli.status.code = await (await import('./trace.js')).traceCommand(
      file,
      number,
      options,
      cli.io,
    );
  });
