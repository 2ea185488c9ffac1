import { Command } from '@commander-js/extra-typings';
import { type Cli, logLevelOption, type OptionsOf, redisOption, stateDirOption } from '../cli.js';

const declareList = () =>
  new Command('list')
    .description('List open dead letters: kind, destination, record key, window and reason.')
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option('--json', 'as one JSON document on stdout (docs/cli.md)', false)
    .addOption(stateDirOption())
    .addOption(redisOption());

export type DlqListOptions = OptionsOf<typeof declareList>;

const declareReplay = () =>
  new Command('replay')
    .description(
      "Fetch dead letters' windows again and re-deliver those records; resolve the ones that now succeed.",
    )
    .argument('<pipeline.yaml>', 'the pipeline file')
    .option('--id <id...>', 'only these dead letters (default: all)')
    .addOption(stateDirOption())
    .addOption(redisOption())
    .addOption(logLevelOption('warn'));

export type DlqReplayOptions = OptionsOf<typeof declareReplay>;

/** `scorebridge dlq list|replay`. */
export const dlqCommand = (cli: Cli) =>
  new Command('dlq')
    .description('Dead letters: records that could not be read or delivered.')
    .addCommand(
      declareList().action(async (file, options) => {
        cli.status.code = await (await import('./dlq.js')).dlqListCommand(file, options, cli.io);
      }),
    )
    .addCommand(
      declareReplay().action(async (file, options) => {
        cli.status.code = await (await import('./dlq.js')).dlqReplayCommand(file, options, cli.io);
      }),
    );
