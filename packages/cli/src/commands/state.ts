import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError } from '@scorebridge/core';
import type { Pipeline, RedisConnection as Redis } from '@scorebridge/runtime';
import { createFileStateStore, type StateStore } from '@scorebridge/runtime/inline';

import { loadPipelineFile } from '../adapters.js';
import { DEFAULT_STATE_DIR } from '../defaults.js';
import type { LogLevel } from '../logging.js';

/** Where releases before 0.2 kept state: relative to the working directory. */
const LEGACY_STATE_DIR = '.scorebridge/state';

export const load = (file: string, env?: NodeJS.ProcessEnv) => loadPipelineFile(file, { env });
/** For commands that only read state: the source's secrets need not be at hand. */
export const loadForState = (file: string) => loadPipelineFile(file, { lenient: true });

/**
 * Where state is kept: `--redis` (or SCOREBRIDGE_REDIS_URL) when given; else a directory —
 * `--state-dir`, SCOREBRIDGE_STATE_DIR, the pipeline's `state:` (relative to its file), or
 * {@link DEFAULT_STATE_DIR} beside the pipeline file. Never the working directory by itself: a
 * run from cron's `$HOME` finds the same state as one from the pipeline's folder.
 */
export interface StateOptions {
  stateDir?: string;
  redis?: string;
  /** For commands that run a pipeline: the least important log lines shown. @default 'warn' */
  logLevel?: LogLevel;
}

/** The state directory of a pipeline, by the precedence of {@link StateOptions}. */
export function stateDirectory(
  pipeline: Pipeline,
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (flag) return resolve(flag);
  if (env.SCOREBRIDGE_STATE_DIR) return resolve(env.SCOREBRIDGE_STATE_DIR);
  return resolve(dirname(pipeline.file), pipeline.config.state ?? DEFAULT_STATE_DIR);
}

/**
 * A pipeline without state here whose state an earlier release kept relative to a working
 * directory (`.scorebridge/state/<name>` in this one, or beside or above the pipeline file):
 * running on would start over and deliver everything again, so this says how to move it.
 */
function legacyState(pipeline: Pipeline, directory: string): string | undefined {
  const name = pipeline.config.name;
  if (existsSync(join(directory, name))) return undefined;
  const pipelineDir = dirname(resolve(pipeline.file));
  const candidates = [
    process.cwd(),
    pipelineDir,
    dirname(pipelineDir),
    dirname(dirname(pipelineDir)),
  ];
  for (const base of candidates) {
    const old = join(base, LEGACY_STATE_DIR, name);
    if (old !== join(directory, name) && existsSync(old)) return old;
  }
  return undefined;
}

/** Opens the state store the options name; `where` says where it is, without credentials. */
async function openStore(
  options: StateOptions,
  pipeline: Pipeline,
): Promise<{ store: StateStore; close(): Promise<void>; where: string; redis?: Redis }> {
  const url = options.redis ?? process.env.SCOREBRIDGE_REDIS_URL;
  if (url) {
    // Worker mode's half of the runtime (ioredis, BullMQ) loads only when Redis is asked for.
    const { openRedisStateStore, redactRedisUrl, redisPrefix } = await import(
      '@scorebridge/runtime'
    );
    return {
      ...(await openRedisStateStore(url, { prefix: redisPrefix() })),
      where: redactRedisUrl(url),
    };
  }
  const directory = stateDirectory(pipeline, options.stateDir);
  const old = legacyState(pipeline, directory);
  if (old) {
    throw new ConfigError(
      `${pipeline.config.name}: no state in ${directory}, but an earlier release kept this pipeline's state in ${old} (relative to the working directory it ran in). Starting over would deliver everything again. Move it: mkdir -p ${directory} && mv ${old} ${join(directory, pipeline.config.name)} — or keep it where it is with --state-dir ${dirname(old)} (or state: in the pipeline, or SCOREBRIDGE_STATE_DIR).`,
    );
  }
  return { store: createFileStateStore(directory), close: async () => {}, where: directory };
}

/** Runs `fn` with the pipeline's state store, and closes it after. */
export async function withStore<T>(
  options: StateOptions,
  pipeline: Pipeline,
  fn: (store: StateStore, where: string, redis?: Redis) => Promise<T>,
): Promise<T> {
  const { store, close, where, redis } = await openStore(options, pipeline);
  try {
    return await fn(store, where, redis);
  } finally {
    await close();
  }
}

/** The Redis URL from `--redis` or the environment; worker mode has no other home. */
export function workerRedisUrl(option: string | undefined): string {
  const url = option ?? process.env.SCOREBRIDGE_REDIS_URL;
  if (!url)
    throw new ConfigError(
      'worker mode needs Redis: give --redis redis://host:6379 or set SCOREBRIDGE_REDIS_URL',
    );
  return url;
}
