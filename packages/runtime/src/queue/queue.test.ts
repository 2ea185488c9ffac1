import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../../../test/harness/redis.mjs';
import { checkRedis, clusterSafePrefix } from './redis-checks.js';
import { DATA_KEY_ENV, dataKeys, sealer } from './sealed.js';
import { PREFIX_ENV, parseJobId, redisPrefix } from './topology.js';

const K1 = `k1:${Buffer.alloc(32, 1).toString('base64')}`;
const K2 = `k2:${Buffer.alloc(32, 2).toString('base64')}`;
const CANARY = '{"lastName":"CANARY-Łukasiewicz","email":"canary@example.edu"}';

describe('sealed payloads (AES-256-GCM)', () => {
  it('round-trips, never shows the plaintext, and differs each time', () => {
    const s = sealer(dataKeys({ [DATA_KEY_ENV]: K1 }));
    const a = s.seal(CANARY, 'job-1');
    const b = s.seal(CANARY, 'job-1');
    expect(a).toMatch(/^v1\.k1\.[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(a).not.toBe(b);
    expect(a).not.toContain('CANARY');
    expect(Buffer.from(a.split('.')[3]!, 'base64url').toString('latin1')).not.toContain('CANARY');
    expect(s.open(a, 'job-1')).toBe(CANARY);
  });

  it('rotates: the new key seals, the old one still opens', () => {
    const old = sealer(dataKeys({ [DATA_KEY_ENV]: K1 })).seal(CANARY);
    const rotated = sealer(dataKeys({ [DATA_KEY_ENV]: `${K2},${K1}` }));
    expect(rotated.open(old)).toBe(CANARY);
    expect(rotated.seal(CANARY)).toMatch(/^v1\.k2\./);
    expect(() => sealer(dataKeys({ [DATA_KEY_ENV]: K2 })).open(old)).toThrow(
      /sealed with data key "k1", which SCOREBRIDGE_DATA_KEY no longer holds/,
    );
  });

  it('refuses an altered payload or one moved to another job', () => {
    const s = sealer(dataKeys({ [DATA_KEY_ENV]: K1 }));
    const sealed = s.seal(CANARY, 'job-1');
    const parts = sealed.split('.');
    const body = Buffer.from(parts[3]!, 'base64url');
    body[0] = (body[0]! ^ 1) & 0xff;
    parts[3] = body.toString('base64url');
    expect(() => s.open(parts.join('.'), 'job-1')).toThrow(/failed authentication/);
    expect(() => s.open(sealed, 'job-2')).toThrow(/failed authentication/);
  });

  it('explains a missing or malformed key', () => {
    expect(() => dataKeys({})).toThrow(/SCOREBRIDGE_DATA_KEY is not set/);
    expect(() => dataKeys({ [DATA_KEY_ENV]: 'k1:c2hvcnQ=' })).toThrow(
      /entry 1 must be id:base64 of 32 bytes/,
    );
    expect(() => dataKeys({ [DATA_KEY_ENV]: `${K1},${K1}` })).toThrow(/unique/);
  });
});

describe('Redis start-up checks', () => {
  let redis: TestRedis;
  let client: Redis;
  beforeAll(async () => {
    redis = await startRedis();
    client = new Redis(redis.url);
  });
  afterAll(async () => {
    client.disconnect();
    await redis.stop();
  });

  it('accepts a Redis 6.2+ with noeviction, and names the fix for another policy', async () => {
    const report = await checkRedis(client);
    expect(report.version).toMatch(/^\d+\.\d+/);
    if (process.env.REDIS_URL) return; // a Redis of yours: its settings are yours to change
    expect(report.problems).toEqual([]);
    await client.config('SET', 'maxmemory-policy', 'allkeys-lru');
    expect((await checkRedis(client)).problems).toEqual([
      expect.stringMatching(/maxmemory-policy is allkeys-lru: .*set it to noeviction/),
    ]);
    await client.config('SET', 'maxmemory-policy', 'noeviction');
  });

  it('knows a Cluster-safe prefix', () => {
    expect(clusterSafePrefix('{scorebridge}')).toBe(true);
    expect(clusterSafePrefix('scorebridge')).toBe(false);
  });

  it('takes the prefix from the environment only when it is hash-tagged and holds no colon', () => {
    expect(redisPrefix({})).toBe('{scorebridge}');
    expect(redisPrefix({ [PREFIX_ENV]: '{scorebridge-staging}' })).toBe('{scorebridge-staging}');
    for (const bad of ['scorebridge', '{a}:b'])
      expect(() => redisPrefix({ [PREFIX_ENV]: bad })).toThrow(/must start with a hash tag/);
  });

  it('reads job ids back: which slice a fetch was, which destination and slice a delivery was', () => {
    expect(parseJobId('uni.0a1b2c3d4e5f.fetch.3')).toEqual({
      kind: 'fetch',
      runId: 'uni.0a1b2c3d4e5f',
      index: 3,
    });
    expect(parseJobId('uni.0a1b2c3d4e5f.d.slate-main.12.9f8e7d')).toEqual({
      kind: 'deliver',
      runId: 'uni.0a1b2c3d4e5f',
      destination: 'slate-main',
      index: 12,
    });
    expect(parseJobId('uni.0a1b2c3d4e5f.commit')).toBeUndefined();
    // A child's key, as a parent lists its children.
    expect(parseJobId('{scorebridge}:bull:deliver.uni.crm:uni.0a1b2c3d4e5f.d.crm.2.ab')).toEqual({
      kind: 'deliver',
      runId: 'uni.0a1b2c3d4e5f',
      destination: 'crm',
      index: 2,
    });
  });
});
