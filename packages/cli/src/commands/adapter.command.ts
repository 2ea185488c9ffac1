import { Command } from '@commander-js/extra-typings';
import type { Cli, OptionsOf } from '../cli.js';

const declareNew = () =>
  new Command('new')
    .description(
      'Scaffold an adapter package: options, destination, errors, a contract test, a README.',
    )
    .argument('<name>', 'what it writes to, e.g. crm: the package is scorebridge-adapter-<name>')
    .option('--dir <dir>', 'where to create the package folder', '.')
    .option('--scope <scope>', 'an npm scope for the package name, e.g. @your-org')
    .addHelpText(
      'after',
      `
The package builds and passes ScoreBridge's destination contract suite as written:
  cd scorebridge-adapter-<name> && npm install && npm test
A pipeline then names it as its type once it is installed beside the pipeline file:
  destinations: [{ id: crm, type: scorebridge-adapter-<name>, options: { … } }]
See docs/adapters.md.`,
    );

export type AdapterNewOptions = OptionsOf<typeof declareNew>;

/** `scorebridge adapter new`. */
export const adapterCommand = (cli: Cli) =>
  new Command('adapter')
    .description('Write destination adapters of your own, as npm packages a pipeline names.')
    .addCommand(
      declareNew().action(async (name, options) => {
        cli.status.code = await (await import('./adapter.js')).adapterNewCommand(
          name,
          options,
          cli.io,
        );
      }),
    );
