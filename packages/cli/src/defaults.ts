/**
 * Defaults and choices the command line shows in `--help` before any command runs, kept apart
 * from the commands so that `--help` loads none of them.
 */

/** Where state lives, beside the pipeline file, unless the pipeline, the environment or `--state-dir` say otherwise. */
export const DEFAULT_STATE_DIR = '.scorebridge-state';

/** `scorebridge demo`'s defaults. */
export const DEMO_DEFAULTS = {
  pipeline: 'pipelines/demo.yaml',
  records: 2000,
} as const;

export const LOG_LEVELS = ['debug', 'info', 'warn', 'error', 'silent'] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];
