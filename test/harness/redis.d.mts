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

/** A Redis Cluster of `masters` (default 3) throwaway redis-servers, every slot covered. */
export function startRedisCluster(options?: { masters?: number }): Promise<{
  readonly url: string;
  readonly prefix: string;
  readonly nodes: readonly { readonly port: number; readonly url: string }[];
  stop(): Promise<void>;
}>;

/** A master, a replica and three sentinels (quorum 2), as a `redis+sentinel://` URL. */
export function startRedisSentinel(): Promise<{
  readonly url: string;
  readonly prefix: string;
  /** The port of the server the sentinels name master now. */
  master(): Promise<number>;
  /** SIGKILLs the master; resolves to its port. */
  killMaster(): Promise<number>;
  /** Resolves once the sentinels name a master other than `port`. */
  failedOver(port: number): Promise<void>;
  stop(): Promise<void>;
}>;
