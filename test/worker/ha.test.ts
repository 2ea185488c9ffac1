import {
  connectRedis,
  createRedisStateStore,
  dataKeys,
  loadPipeline,
  QUEUES,
  queueControl,
  startWorkers,
} from '@scorebridge/runtime';
import { FlowProducer } from 'bullmq';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  FAST_CLIENT,
  FIRST_RUN,
  groundTruth,
  NOW,
  setup,
  storedVersions,
  testClock,
} from '../harness/pipeline.js';
import { startRedisCluster, startRedisSentinel } from '../harness/redis.mjs';
import { DATA_KEY, workerSetup } from '../harness/workers.js';

/**
 * Worker mode on a highly available Redis, through ioredis's own clients: a Redis Cluster of
 * three masters; a Sentinel set whose master is killed (SIGKILL) mid-backfill and between two,
 * the sentinels promoting its replica; and a run whose jobs a failover lost.
 */

const cleanups: (() => Promise<unknown>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A set-up (sandbox, file destination) with workers and a queue control on the Redis at `url`. */
async function workersOn(url: string, prefix: string, records: number) {
  const s = await setup({
    sandbox: { records },
    destinations: [{ id: 'files', format: 'ndjson', batchSize: 20 }],
  });
  cleanups.push(() => s.close());
  const workers = await startWorkers({
    redisUrl: url,
    prefix,
    pipelines: [loadPipeline(s.pipelineFile, { adapters: ADAPTERS, env: s.env })],
    adapters: ADAPTERS,
    keys: dataKeys({ SCOREBRIDGE_DATA_KEY: DATA_KEY }),
    lockMs: 2000,
    concurrency: 2,
    client: FAST_CLIENT,
    clock: testClock(),
  });
  cleanups.push(() => workers.close(2000));
  const conn = await connectRedis(url);
  cleanups.push(async () => conn.disconnect());
  const control = queueControl(conn, prefix);
  cleanups.push(() => control.close());
  return { s, control };
}

async function backfillOn(
  url: string,
  prefix: string,
  options: { records: number; between?: () => Promise<void> },
) {
  const { s, control } = await workersOn(url, prefix, options.records);
  const follow = async (to: Date) => {
    const { runId } = await control.enqueueBackfill('test', FIRST_RUN, to);
    for (;;) {
      const p = await control.progress(runId);
      if (p.state === 'done') return p.outcome!;
      if (p.state === 'failed') throw new Error(p.reason);
      await new Promise((r) => setTimeout(r, 50));
    }
  };
  if (!options.between) return { s, outcome: await follow(NOW) };
  // Half the data, the failover, then the rest: the same workers deliver it on the new master.
  const outcome = await follow(new Date('2026-09-15T00:00:00Z'));
  await options.between();
  return { s, outcome, again: await follow(NOW) };
}

describe('worker mode on a highly available Redis', () => {
  it('runs on a three-master Redis Cluster (redis+cluster://): every record once', async () => {
    const cluster = await startRedisCluster({ masters: 3 });
    cleanups.push(() => cluster.stop());
    const { s, outcome } = await backfillOn(cluster.url, cluster.prefix, { records: 300 });
    expect(outcome.ok).toBe(true);
    const stored = storedVersions(s.out.files!);
    expect(stored.length).toBe(new Set(stored).size);
    expect(new Set(stored)).toEqual(await groundTruth(s.sandbox));
  });

  it('serves two tenants whose prefixes hash to different Cluster shards, each by its own workers: every record once, each tenant on its own master', async () => {
    const cluster = await startRedisCluster({ masters: 3 });
    cleanups.push(() => cluster.stop());
    const conn = await connectRedis(cluster.url);
    cleanups.push(async () => conn.disconnect());
    // Which master serves a prefix's hash tag (CLUSTER KEYSLOT, then CLUSTER SLOTS' ranges).
    const ranges = await conn.cluster('SLOTS');
    const masterOf = async (prefix: string) => {
      const slot = Number(await conn.cluster('KEYSLOT', prefix));
      return ranges.find(([from, to]) => slot >= from && slot <= to)![2]![1];
    };
    const tenantA = `{tenant-a-${cluster.prefix.slice(8, -1)}}`;
    let tenantB = '';
    for (let i = 0; !tenantB || (await masterOf(tenantB)) === (await masterOf(tenantA)); i++)
      tenantB = `{tenant-b-${cluster.prefix.slice(8, -1)}-${i}}`;
    const [a, b] = await Promise.all([
      backfillOn(cluster.url, tenantA, { records: 200 }),
      backfillOn(cluster.url, tenantB, { records: 150 }),
    ]);
    for (const { s, outcome } of [a, b]) {
      expect(outcome.ok).toBe(true);
      const stored = storedVersions(s.out.files!);
      expect(stored.length, 'each version stored once').toBe(new Set(stored).size);
      expect(new Set(stored)).toEqual(await groundTruth(s.sandbox));
    }
    // Every key of a tenant (queues, state, ledger) is on the master its hash tag names, none
    // elsewhere: a Cluster spreads tenants over its shards.
    for (const tenant of [tenantA, tenantB]) {
      const owner = await masterOf(tenant);
      const counts = new Map<number, number>();
      for (const node of cluster.nodes) {
        const direct = await connectRedis(node.url);
        counts.set(node.port, (await direct.keys(`${tenant}*`)).length);
        direct.disconnect();
      }
      expect(counts.get(owner), `${tenant} has keys on its master`).toBeGreaterThan(10);
      expect([...counts].filter(([port, n]) => port !== owner && n > 0)).toEqual([]);
    }
  });

  it('carries on by itself after Sentinel fails the master over (redis+sentinel://): the next backfill delivers the rest, nothing twice', async () => {
    const sentinel = await startRedisSentinel();
    cleanups.push(() => sentinel.stop());
    const { s, outcome, again } = await backfillOn(sentinel.url, sentinel.prefix, {
      records: 300,
      // Between runs: the master killed, the sentinels promote the replica, and the same workers
      // (and connections) run the next backfill on the new master.
      between: async () => {
        const port = await sentinel.killMaster();
        await sentinel.failedOver(port);
      },
    });
    expect(outcome.ok).toBe(true);
    expect(again!.ok).toBe(true);
    // The first half is held (the ledger came through the failover), the rest is delivered.
    expect(again!.destinations[0]!.delivered).toBeGreaterThan(0);
    expect(again!.destinations[0]!.unchanged).toBe(outcome.destinations[0]!.delivered);
    const stored = storedVersions(s.out.files!);
    expect(stored.length, 'each version stored once').toBe(new Set(stored).size);
    expect(new Set(stored)).toEqual(await groundTruth(s.sandbox));
  });

  it('abandons a run whose jobs a failover lost, and the next run delivers everything once', async () => {
    const w = await workerSetup({ sandbox: { records: 150 } });
    cleanups.push(() => w.close());
    // What a failover to a lagging replica leaves: a run holding the pipeline's slot whose commit
    // waits for a child that is gone from Redis.
    const runId = 'test.lostlostlost';
    const bull = `${w.redis.prefix}:bull`;
    const flows = new FlowProducer({ connection: w.conn, prefix: bull });
    await flows.add({
      name: 'commit',
      queueName: QUEUES.commit,
      data: {
        pipeline: 'test',
        runId,
        window: { from: FIRST_RUN.toISOString(), to: NOW.toISOString() },
        slices: [],
        backfill: true,
        startedAt: NOW.toISOString(),
      },
      opts: { jobId: `${runId}.commit` },
      children: [
        { name: 'fetch', queueName: 'gone', data: {}, opts: { jobId: `${runId}.fetch.0` } },
      ],
    });
    await flows.close();
    await w.conn.del(`${bull}:gone:${runId}.fetch.0`);
    const store = createRedisStateStore(w.conn, { prefix: w.redis.prefix });
    expect(await store.takeRunSlot('test', runId, { seconds: 600 })).toEqual({ taken: true });
    const logs: string[] = [];
    await w.start({
      logger: {
        debug() {},
        info() {},
        warn: (m: string) => logs.push(m),
        error: (m: string) => logs.push(m),
      },
    });
    const outcome = await w.backfill();
    expect(outcome.ok).toBe(true);
    expect(logs.join('\n')).toMatch(
      /run test\.lostlostlost can never finish: the 1 job\(s\) it waits for are gone/,
    );
    const stored = storedVersions(w.out.files!);
    expect(stored.length).toBe(new Set(stored).size);
    expect(new Set(stored)).toEqual(await groundTruth(w.sandbox));
  });

  it('carries on by itself when the master is killed during a backfill (Sentinel fails over): every record once', async () => {
    const sentinel = await startRedisSentinel();
    cleanups.push(() => sentinel.stop());
    const { s, control } = await workersOn(sentinel.url, sentinel.prefix, 600);
    const { runId } = await control.enqueueBackfill('test', FIRST_RUN, NOW);
    const progress = () => control.progress(runId);
    await expect.poll(async () => (await progress()).done, { timeout: 30_000 }).toBeGreaterThan(3);
    // Mid-run: SIGKILL of the master (once its replica has caught up), the sentinels promote the
    // replica, and the workers find it by themselves.
    const killed = await sentinel.killMaster();
    await sentinel.failedOver(killed);
    await expect.poll(async () => (await progress()).state, { timeout: 60_000 }).toBe('done');
    expect((await progress()).outcome!.ok).toBe(true);
    const stored = storedVersions(s.out.files!);
    expect(stored.length, 'each version stored once').toBe(new Set(stored).size);
    expect(new Set(stored)).toEqual(await groundTruth(s.sandbox));
  });
});
