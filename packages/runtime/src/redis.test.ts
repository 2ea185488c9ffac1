import { ConfigError } from '@scorebridge/core';
import { describe, expect, it } from 'vitest';
import { redactRedisUrl, redisTarget } from './redis.js';

describe('Redis URLs', () => {
  it('reads one server, a Sentinel set with its master, and a Cluster seed list', () => {
    expect(redisTarget('redis://cache:6379/2')).toEqual({
      kind: 'standalone',
      url: 'redis://cache:6379/2',
    });
    expect(redisTarget('redis+sentinel://:s%40cret@s1:26379,s2:26380,s3:26381/mymaster/3')).toEqual(
      {
        kind: 'sentinel',
        sentinels: [
          { host: 's1', port: 26379 },
          { host: 's2', port: 26380 },
          { host: 's3', port: 26381 },
        ],
        name: 'mymaster',
        db: 3,
        password: 's@cret',
        tls: false,
      },
    );
    expect(redisTarget('redis+clusters://app:pw@n1:7000,n2:7001')).toEqual({
      kind: 'cluster',
      nodes: [
        { host: 'n1', port: 7000 },
        { host: 'n2', port: 7001 },
      ],
      username: 'app',
      password: 'pw',
      tls: true,
    });
  });

  it('says what is wrong with a Sentinel or Cluster URL, without its password', () => {
    expect(() => redisTarget('redis+sentinel://:CANARY@s1:26379')).toThrow(ConfigError);
    expect(() => redisTarget('redis+sentinel://:CANARY@s1:26379')).toThrow(
      /names the master after the hosts/,
    );
    expect(() => redisTarget('redis+cluster://:CANARY@n1:7000,n2')).toThrow(
      /"n2" is not host:port/,
    );
    try {
      redisTarget('redis+cluster://:CANARY@n1:7000,n2');
    } catch (error) {
      expect((error as Error).message).not.toContain('CANARY');
    }
  });

  it('prints every form without credentials', () => {
    expect(redactRedisUrl('redis://u:CANARY@cache:6379')).toBe('redis://***@cache:6379');
    expect(redactRedisUrl('redis+sentinel://:CANARY@s1:26379,s2:26380/mymaster')).toBe(
      'redis+sentinel://***@s1:26379,s2:26380/mymaster',
    );
    expect(redactRedisUrl('redis+cluster://n1:7000,n2:7001')).toBe(
      'redis+cluster://n1:7000,n2:7001',
    );
  });
});
