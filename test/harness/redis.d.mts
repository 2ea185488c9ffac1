/** A Redis for one test file. */
export interface TestRedis {
  readonly url: string;
  /** A hash-tagged key prefix of this test's own. */
  readonly prefix: string;
  stop(): Promise<void>;
  /** With `own`: SIGKILL the server (its append-only file keeps every acknowledged write). */
  kill?(): Promise<void>;
  /** With `own`: start it again on the same port and directory. */
  restart?(): Promise<void>;
}

/** Whether a Redis is at hand: REDIS_URL, or redis-server to start. */
export const haveRedis: boolean;

/** REDIS_URL if set, otherwise a throwaway redis-server on a free loopback port. */
export function startRedis(options?: {
  own?: boolean;
  appendfsync?: 'always' | 'everysec' | 'no';
}): Promise<TestRedis>;
