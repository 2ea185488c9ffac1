import { Command, Option } from '@commander-js/extra-typings';
import { type Cli, nonNegativeInteger, type OptionsOf, positiveInteger } from '../cli.js';

const declare = () =>
  new Command('sandbox')
    .description(
      "Run the TOEFL Access sandbox: ETS's API with synthetic scores, for trying ScoreBridge without credentials.",
    )
    .option('--port <n>', 'port to listen on (0: any free port)', nonNegativeInteger, 8787)
    .option('--host <address>', 'address to listen on', '127.0.0.1')
    .option('--seed <n>', 'the same seed gives the same data', nonNegativeInteger, 1)
    .option('--records <n>', 'how many score reports', positiveInteger, 500)
    .option('--days <n>', 'report dates spread over the last this many days', positiveInteger, 365)
    .option(
      '--authcode <key>',
      'a key to accept; repeat for several (default: a new one, printed)',
      (key: string, keys: string[] = []) => [...keys, key],
    )
    .option(
      '--faults <list>',
      'faults for the first requests: 500x3, 403, 429:30, hang, slow:200, truncate:5000, redirect:URL',
    )
    .addOption(
      new Option('--error-format <format>', 'error bodies as plain text or JSON')
        .choices(['text', 'json'] as const)
        .default('text'),
    )
    .option(
      '--hidden-layout <seed>',
      'serve JSON names and iBT26 positions of its own (for trying scorebridge layout discover)',
      nonNegativeInteger,
    )
    .option('--ambiguous', 'with --hidden-layout: write one iBT26 part at two places', false);

export type SandboxOptions = OptionsOf<typeof declare>;

/** `scorebridge sandbox`. */
export const sandboxCommand = (cli: Cli) =>
  declare().action(async (options) => {
    cli.status.code = await (await import('./sandbox.js')).sandboxCommand(options, cli.io);
  });
