import { Command } from '@commander-js/extra-typings';
import type { Cli, OptionsOf } from '../cli.js';

const declare = () =>
  new Command('schema')
    .description('Print the JSON Schema of pipeline files, for editors (completion and checking).')
    .option('-o, --output <file>', 'write it to this file')
    .option(
      '--adapter <package...>',
      'also the options of these installed adapter packages (as pipelines name them by type)',
    );

export type SchemaOptions = OptionsOf<typeof declare>;

/** `scorebridge schema`. */
export const schemaCommand = (cli: Cli) =>
  declare().action(async (options) => {
    cli.status.code = await (await import('./schema.js')).schemaCommand(options, cli.io);
  });
