import { type Command, InvalidArgumentError, Option } from '@commander-js/extra-typings';
import { DEFAULT_STATE_DIR, LOG_LEVELS, type LogLevel } from './defaults.js';
import type { Io } from './io.js';

/**
 * What every command's declaration (`commands/*.command.ts`) works with. A declaration holds a
 * command's arguments, options and help, and loads its handler (`commands/*.ts`) only when the
 * command runs: `--help`, `validate` and `parse` load neither BullMQ, jsforce, ssh2 nor express.
 * The handler's options type is inferred from the declaration ({@link OptionsOf}), never twinned.
 */
export interface Cli {
  readonly io: Io;
  /** The exit status: each action sets it. */
  readonly status: { code: number };
}

/** The options a command declaration parses, as its handler receives them. */
export type OptionsOf<Declare> = Declare extends () => Command<
  infer _Args,
  infer Options,
  infer _Global
>
  ? Options
  : never;

export const stateDirOption = () =>
  new Option(
    '--state-dir <dir>',
    `where cursors, ledgers and dead letters are kept (default: $SCOREBRIDGE_STATE_DIR, the pipeline's state:, or ${DEFAULT_STATE_DIR}/ beside the pipeline file)`,
  );

export const logLevelOption = (fallback: LogLevel) =>
  new Option(
    '--log-level <level>',
    'the least important log lines shown (JSON lines on stderr; readable on a terminal)',
  )
    .choices(LOG_LEVELS)
    .default(fallback);

export const redisOption = () =>
  new Option(
    '--redis <url>',
    'keep state in Redis instead (runs on several machines share it); default: $SCOREBRIDGE_REDIS_URL',
  );

/** `--type` and `--report-by`: the TOEFL Access query parameters, as `fetch` and `layout discover` send them. */
export const typeOption = () =>
  new Option('--type <type>', 'the type/program parameter').default('TOEFL');
export const reportByOption = () =>
  new Option('--report-by <value>', 'the reportby parameter').default('scorelinkbyreportdate');

export function nonNegativeInteger(value: string): number {
  if (!/^\d+$/.test(value)) throw new InvalidArgumentError('must be a whole number');
  return Number(value);
}

export function positiveInteger(value: string): number {
  if (!/^\d+$/.test(value) || Number(value) < 1)
    throw new InvalidArgumentError('must be a whole number from 1');
  return Number(value);
}
