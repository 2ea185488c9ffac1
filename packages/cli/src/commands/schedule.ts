import { ConfigError } from '@scorebridge/core';
import { connectRedis, queueControl, redisPrefix } from '@scorebridge/runtime';
import { EXIT, type Io, write } from '../io.js';
import type { ScheduleListOptions } from './schedule.command.js';
import { workerRedisUrl } from './state.js';
import { printJson } from './views.js';

/** `scorebridge schedule list|remove`: the job schedulers worker mode keeps in Redis. */
export async function scheduleCommand(
  action: 'list' | 'remove',
  pipeline: string | undefined,
  options: Partial<ScheduleListOptions>,
  io: Io,
): Promise<number> {
  const redis = await connectRedis(workerRedisUrl(options.redis));
  redis.on('error', () => undefined);
  const control = queueControl(redis, redisPrefix());
  try {
    if (action === 'list') {
      const schedules = await control.schedules();
      if (options.json) await printJson(io, 'schedules', { schedules });
      else if (schedules.length === 0) await write(io.stdout, 'No schedules.\n');
      else
        await write(
          io.stdout,
          schedules
            .map(
              (s) =>
                `${s.pipeline}: ${s.cron ? `cron ${s.cron} (UTC)` : `every ${Math.round((s.every ?? 0) / 1000)} s`}${s.next ? `, next ${s.next}` : ''}\n`,
            )
            .join(''),
        );
      return EXIT.ok;
    }
    if (!pipeline)
      throw new ConfigError('schedule remove: name the pipeline (its name:, not its file)');
    const removed = await control.removeSchedule(pipeline);
    await write(
      removed ? io.stdout : io.stderr,
      removed
        ? `removed the schedule of ${pipeline}; runs already queued are not touched. A worker still given its file adds it again when it starts: remove the file from the workers too.\n`
        : `scorebridge: no schedule of a pipeline named ${pipeline} (scorebridge schedule list shows them)\n`,
    );
    return removed ? EXIT.ok : EXIT.inputProblems;
  } finally {
    await control.close();
    redis.disconnect();
  }
}
