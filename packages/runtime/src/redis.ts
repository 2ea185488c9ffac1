import { ConfigError } from '@scorebridge/core';
import { Cluster, type ClusterOptions, Redis, type RedisOptions } from 'ioredis';

/** How long connecting may take before a command or a worker says Redis cannot be reached. */
const CONNECT_SECONDS = 10;

/** A connection to Redis as worker mode and the Redis state store use it: one server, or a Cluster. */
export type RedisConnection = Redis | Cluster;

/**
 * A Redis URL fit to print: any user name or password replaced. Sentinel and Cluster URLs list
 * several hosts; their credentials are replaced the same way.
 */
export function redactRedisUrl(url: string): string {
  const many = /^(redis\+(?:sentinel|cluster)s?:\/\/)([^@/]*@)?(.*)$/.exec(url);
  if (many) return `${many[1]}${many[2] ? '***@' : ''}${many[3]}`;
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '';
      u.password = '';
      return u.toString().replace('://', '://***@');
    }
    return u.toString();
  } catch {
    return '(an unreadable Redis URL)';
  }
}

/** What a Redis URL names: one server, a Sentinel set and its master, or a Cluster's seeds. */
export type RedisTarget =
  | { readonly kind: 'standalone'; readonly url: string }
  | {
      readonly kind: 'sentinel';
      readonly sentinels: { host: string; port: number }[];
      /** The master's name, as the sentinels monitor it. */
      readonly name: string;
      readonly username?: string;
      readonly password?: string;
      readonly db?: number;
      readonly tls: boolean;
    }
  | {
      readonly kind: 'cluster';
      readonly nodes: { host: string; port: number }[];
      readonly username?: string;
      readonly password?: string;
      readonly tls: boolean;
    };

/**
 * Reads a Redis URL:
 * - `redis://[user:password@]host:port[/db]` (or `rediss://`, TLS): one server;
 * - `redis+sentinel://[user:password@]host:port,host:port,…/<master name>[/db]` (or
 *   `redis+sentinels://`, TLS): the master a Sentinel set monitors under that name — the
 *   password is the master's (and replicas'), and is given to the sentinels too;
 * - `redis+cluster://[user:password@]host:port,host:port,…` (or `redis+clusters://`, TLS): a
 *   Redis Cluster, from any of its nodes (the others are discovered).
 */
export function redisTarget(url: string): RedisTarget {
  const m =
    /^redis\+(sentinel|cluster)(s?):\/\/(?:([^:@/]*)(?::([^@/]*))?@)?([^/?#]+)(\/[^?#]*)?$/.exec(
      url,
    );
  if (!m) return { kind: 'standalone', url };
  const [, kind, tls, user, password, hosts, path] = m;
  const where = redactRedisUrl(url);
  const nodes = hosts!.split(',').map((h) => {
    const [host, port] = h.split(':');
    if (!host || !/^\d+$/.test(port ?? ''))
      throw new ConfigError(`${where}: "${h}" is not host:port`);
    return { host, port: Number(port) };
  });
  const credentials = {
    ...(user ? { username: decodeURIComponent(user) } : {}),
    ...(password ? { password: decodeURIComponent(password) } : {}),
  };
  if (kind === 'cluster') return { kind: 'cluster', nodes, tls: tls === 's', ...credentials };
  const [name, db] = (path ?? '').split('/').filter(Boolean);
  if (!name)
    throw new ConfigError(
      `${where}: a Sentinel URL names the master after the hosts: redis+sentinel://host:26379,host:26380/mymaster`,
    );
  if (db !== undefined && !/^\d+$/.test(db))
    throw new ConfigError(`${where}: the database after the master's name must be a number`);
  return {
    kind: 'sentinel',
    sentinels: nodes,
    name: decodeURIComponent(name),
    tls: tls === 's',
    ...(db !== undefined ? { db: Number(db) } : {}),
    ...credentials,
  };
}

/**
 * The client ioredis makes for a target, not yet connected: a `Redis` (standalone, or through
 * Sentinel, which finds the master again after a failover) or a `Cluster`. BullMQ duplicates it
 * for its blocking connections.
 */
export function redisClient(target: RedisTarget, options: RedisOptions): RedisConnection {
  if (target.kind === 'standalone') return new Redis(target.url, options);
  const { username, password } = target;
  const tls = target.tls ? { tls: {} } : {};
  // Failing fast (a command that reads state and ends): a few tries at the sentinels or seeds,
  // then the error; otherwise (workers) trying again forever, as BullMQ needs.
  const giveUpAfter = options.enableOfflineQueue === false ? 3 : Number.POSITIVE_INFINITY;
  const again = (times: number) => (times > giveUpAfter ? null : Math.min(times * 200, 2000));
  if (target.kind === 'sentinel')
    return new Redis({
      ...options,
      sentinelRetryStrategy: again,
      sentinels: target.sentinels,
      name: target.name,
      username,
      password,
      sentinelPassword: password,
      ...(target.db !== undefined ? { db: target.db } : {}),
      ...tls,
      ...(target.tls ? { sentinelTLS: {}, enableTLSForSentinelMode: true } : {}),
    });
  const cluster: ClusterOptions = {
    lazyConnect: options.lazyConnect,
    redisOptions: { ...options, lazyConnect: false, username, password, ...tls },
    // A Cluster answers a moved slot with MOVED; reconnects as the nodes come back.
    clusterRetryStrategy: again,
    ...(options.enableOfflineQueue === false ? { enableOfflineQueue: false } : {}),
  };
  return new Cluster(target.nodes, cluster);
}

/**
 * Connects to Redis (one server, a Sentinel set or a Cluster: {@link redisTarget}); fails at
 * once, naming the server without its credentials, when it cannot be reached. For workers (the
 * default), the connection is as BullMQ needs it: `maxRetriesPerRequest: null` (commands wait
 * for a reconnect instead of failing), reconnecting forever. With `failFast` (a command that
 * reads state and ends), commands fail while Redis is away.
 */
export async function connectRedis(
  url: string,
  options: { onError?: (error: Error) => void; failFast?: boolean } = {},
): Promise<RedisConnection> {
  const redis = redisClient(redisTarget(url), {
    lazyConnect: true,
    connectTimeout: CONNECT_SECONDS * 1000,
    ...(options.failFast
      ? { maxRetriesPerRequest: 3, enableOfflineQueue: false }
      : { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 200, 2000) }),
  });
  redis.on('error', (error: Error) => options.onError?.(error));
  let timer: NodeJS.Timeout | undefined;
  try {
    // A worker's client retries forever once running; starting, it gives up in time (Sentinel
    // clients would otherwise go on asking the sentinels).
    await Promise.race([
      (async () => {
        await redis.connect();
        await redis.ping();
      })(),
      new Promise<never>((_, reject) => {
        timer = setTimeout(
          () => reject(new Error(`no answer within ${CONNECT_SECONDS} s`)),
          CONNECT_SECONDS * 1000,
        );
      }),
    ]);
  } catch (cause) {
    redis.disconnect();
    const text = (cause as Error).message.split(url).join(redactRedisUrl(url));
    throw new ConfigError(`cannot reach Redis at ${redactRedisUrl(url)}: ${text}`);
  } finally {
    clearTimeout(timer);
  }
  return redis;
}
