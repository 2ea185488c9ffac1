import { Command } from '@commander-js/extra-typings';
import type { Cli, OptionsOf } from '../cli.js';

const declare = () =>
  new Command('validate')
    .description('Check pipeline files: every problem, with file:line:column.')
    .argument('<files...>', 'pipeline files')
    .option(
      '--resolve',
      'also require every ${env:…} and ${file:…} reference to resolve here, as a run does',
      false,
    )
    .option('--json', 'the results as one JSON document on stdout (docs/cli.md)', false)
    .addHelpText(
      'after',
      '\nWithout --resolve, references are checked for form only, so files validate without the secrets (in CI, in an editor).',
    );

export type ValidateOptions = OptionsOf<typeof declare>;

/** `scorebridge validate`. */
export const validateCommand = (cli: Cli) =>
  declare().action(async (files, options) => {
    cli.status.code = await (await import('./validate.js')).validateCommand(files, options, cli.io);
  });
