import { Command } from '@commander-js/extra-typings';
import { type Cli, type OptionsOf, redisOption } from '../cli.js';

const declareList = () =>
  new Command('list')
    .description('Each pipeline schedule: its cron or interval and when it next fires.')
    .option('--json', 'as one JSON document on stdout', false)
    .addOption(redisOption());

export type ScheduleListOptions = OptionsOf<typeof declareList>;

const declareRemove = () =>
  new Command('remove')
    .description(
      "Remove a retired pipeline's schedule (by its name: the file may be gone); queued runs stay.",
    )
    .argument('<pipeline-name>', "the pipeline's name: as in its file, and in schedule list")
    .addOption(redisOption());

export type ScheduleRemoveOptions = OptionsOf<typeof declareRemove>;

/** `scorebridge schedule list|remove`. */
export const scheduleCommand = (cli: Cli) =>
  new Command('schedule')
    .description("List worker mode's pipeline schedules in Redis, or remove a retired pipeline's.")
    .addCommand(
      declareList().action(async (options) => {
        cli.status.code = await (await import('./schedule.js')).scheduleCommand(
          'list',
          undefined,
          options,
          cli.io,
        );
      }),
    )
    .addCommand(
      declareRemove().action(async (name, options) => {
        cli.status.code = await (await import('./schedule.js')).scheduleCommand(
          'remove',
          name,
          options,
          cli.io,
        );
      }),
    );
