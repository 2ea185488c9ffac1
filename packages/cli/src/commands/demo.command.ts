import { Command } from '@commander-js/extra-typings';
import { type Cli, type OptionsOf, positiveInteger, stateDirOption } from '../cli.js';
import { DEMO_DEFAULTS } from '../defaults.js';

const declare = () =>
  new Command('demo')
    .description(
      'Run the demo: the TOEFL Access sandbox into ./demo-output/, no Redis, no credentials.',
    )
    .option('--pipeline <file>', 'the demo pipeline', DEMO_DEFAULTS.pipeline)
    .option(
      '--records <n>',
      'synthetic score reports in the sandbox',
      positiveInteger,
      DEMO_DEFAULTS.records,
    )
    .addOption(stateDirOption());

export type DemoOptions = OptionsOf<typeof declare>;

/** `scorebridge demo`. */
export const demoCommand = (cli: Cli) =>
  declare().action(async (options) => {
    cli.status.code = await (await import('./demo.js')).demoCommand(options, cli.io);
  });
