import type { RedisConnection as Redis } from '../redis.js';

/** What a worker learns about its Redis before it starts. */
export interface RedisReport {
  readonly version: string;
  /** Problems that stop a worker: it would lose jobs or state. */
  readonly problems: string[];
  /** Things to fix that a worker can run with. */
  readonly warnings: string[];
}

/**
 * Checks a Redis for worker mode: version 6.2 or newer (BullMQ's recommendation), and
 * `maxmemory-policy noeviction` (otherwise Redis may evict jobs and state under memory pressure).
 * Managed services often refuse CONFIG: then a loud warning says what to verify by hand.
 */
export async function checkRedis(redis: Redis): Promise<RedisReport> {
  const problems: string[] = [];
  const warnings: string[] = [];
  const info = await redis.info('server');
  const version = /redis_version:([\d.]+)/.exec(info)?.[1] ?? 'unknown';
  const [major = 0, minor = 0] = version.split('.').map(Number);
  if (major < 6 || (major === 6 && minor < 2))
    problems.push(`Redis ${version} is too old: worker mode needs 6.2 or newer`);
  try {
    const [, policy] = (await redis.config('GET', 'maxmemory-policy')) as [string, string];
    if (policy !== 'noeviction') {
      problems.push(
        `maxmemory-policy is ${policy}: Redis could evict jobs and state; set it to noeviction (CONFIG SET maxmemory-policy noeviction, and in redis.conf)`,
      );
    }
  } catch {
    warnings.push(
      'this Redis does not allow CONFIG, so maxmemory-policy cannot be checked: make sure it is noeviction (with a managed Redis, in its parameter settings)',
    );
  }
  return { version, problems, warnings };
}

/**
 * A key prefix usable on Redis Cluster: BullMQ's keys for one queue must share a slot, which a
 * hash tag (`{…}`) at the start of the prefix ensures (ioredis's keyPrefix option cannot be used).
 */
export function clusterSafePrefix(prefix: string): boolean {
  return /^\{[^{}]+\}/.test(prefix);
}
