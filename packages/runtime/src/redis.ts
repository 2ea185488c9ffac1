import { ConfigError } from '@scorebridge/core';
import { Redis } from 'ioredis';

/** A Redis URL fit to print: any user name or password replaced. */
export function redactRedisUrl(url: string): string {
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

/**
 * Connects to Redis; fails at once, naming the server without its credentials, when it cannot be
 * reached. For workers (the default), the connection is as BullMQ needs it:
 * `maxRetriesPerRequest: null` (commands wait for a reconnect instead of failing), reconnecting
 * forever. With `failFast` (a command that reads state and ends), commands fail while Redis is
 * away.
 */
export async function connectRedis(
  url: string,
  options: { onError?: (error: Error) => void; failFast?: boolean } = {},
): Promise<Redis> {
  const redis = new Redis(url, {
    lazyConnect: true,
    connectTimeout: 10_000,
    ...(options.failFast
      ? { maxRetriesPerRequest: 3, enableOfflineQueue: false }
      : { maxRetriesPerRequest: null, retryStrategy: (times) => Math.min(times * 200, 2000) }),
  });
  redis.on('error', (error: Error) => options.onError?.(error));
  try {
    await redis.connect();
    await redis.ping();
  } catch (cause) {
    redis.disconnect();
    throw new ConfigError(
      `cannot reach Redis at ${redactRedisUrl(url)}: ${(cause as Error).message.split(url).join(redactRedisUrl(url))}`,
    );
  }
  return redis;
}
