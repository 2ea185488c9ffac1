import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRedis, type TestRedis } from '../../../../test/harness/redis.mjs';
import { RUN_SLOT_SECONDS } from '../queue/topology.js';
import { createFileStateStore } from './file-store.js';
import { createRedisStateStore } from './redis-store.js';
import type { DeadLetter, RecordVersion, StateStore } from './store.js';

let redis: TestRedis;
let client: Redis;
beforeAll(async () => {
  redis = await startRedis();
  client = new Redis(redis.url, { lazyConnect: true });
  await client.connect();
});
afterAll(async () => {
  // Only this test's keys, whatever Redis this is.
  const keys = await client.keys(`${redis.prefix}*`);
  if (keys.length > 0) await client.del(...keys);
  client.disconnect();
  await redis.stop();
});

const letter = (id: string, at: string): DeadLetter => ({
  id,
  kind: 'rejected',
  destination: 'd',
  recordKey: `1234||${id}|2026-01-01|I`,
  window: { from: '2026-01-01T00:00:00.000Z', to: '2026-01-31T00:00:00.000Z' },
  reason: 'refused',
  at,
});

/** How to open a second store on a store's own state (the next run, another process). */
const reopeners = new WeakMap<StateStore, () => StateStore>();
function reopenable(store: StateStore, reopen: () => StateStore): StateStore {
  reopeners.set(store, reopen);
  return store;
}

/** The one contract every state store keeps. */
function contract(name: string, make: () => StateStore) {
  describe(`${name} state store`, () => {
    it('keeps cursors per pipeline and destination', async () => {
      const store = make();
      expect(await store.cursor('p', 'a')).toBeUndefined();
      await store.setCursor('p', 'a', new Date('2026-10-01T00:00:00Z'));
      await store.setCursor('p', 'b', new Date('2026-09-01T00:00:00Z'));
      await store.setCursor('p', 'a', new Date('2026-10-02T00:00:00Z'));
      expect(await store.cursor('p', 'a')).toEqual(new Date('2026-10-02T00:00:00Z'));
      expect(await store.cursor('p', 'b')).toEqual(new Date('2026-09-01T00:00:00Z'));
      expect(await store.cursor('other', 'a')).toBeUndefined();
    });

    it('keeps a ledger of confirmed versions', async () => {
      const store = make();
      await store.confirm('p', 'a', [
        ['k1', 'h1'],
        ['k1', 'h2'],
        ['k2', 'h3'],
      ]);
      await store.confirm('p', 'a', [['k2', 'h3']]);
      expect([...(await store.ledger('p', 'a'))].sort()).toEqual(['h1', 'h2', 'h3']);
      expect((await store.ledger('p', 'b')).size).toBe(0);
    });

    it('keeps every version met of each key, durably, replacing one given again', async () => {
      const store = make();
      expect(await store.versions('p', ['k1'])).toEqual([[]]);
      const v1 = {
        recordKey: 'k1',
        contentHash: 'h1',
        digest: 'a.b',
        at: '2026-01-01T00:00:00.000Z',
      };
      const v2 = {
        recordKey: 'k2',
        contentHash: 'h2',
        digest: 'c.d',
        at: '2026-01-01T00:00:00.000Z',
      };
      const v3 = {
        recordKey: 'k1',
        contentHash: 'h3',
        digest: 'a.e',
        at: '2026-02-01T00:00:00.000Z',
      };
      await store.recordVersions('p', [v3, v2]);
      await store.recordVersions('p', [v1, { ...v3, update: 'scores-changed' as const }]);
      const sorted = (lists: RecordVersion[][]) =>
        lists.map((l) => [...l].sort((a, b) => (a.contentHash < b.contentHash ? -1 : 1)));
      const expected = [[v1, { ...v3, update: 'scores-changed' }], [], [v2]];
      expect(sorted(await store.versions('p', ['k1', 'k9', 'k2']))).toEqual(expected);
      // A new store on the same state (the next run) reads the same.
      expect(sorted(await reopeners.get(store)!().versions('p', ['k1', 'k9', 'k2']))).toEqual(
        expected,
      );
      expect(await store.versions('other', ['k1'])).toEqual([[]]);
    });

    it('keeps every version of a call: a key given twice, and more keys than one Redis read takes', async () => {
      const store = make();
      const at = '2026-01-01T00:00:00.000Z';
      const many = Array.from({ length: 1_203 }, (_, i) => ({
        recordKey: `k${i}`,
        contentHash: `h${i}`,
        digest: 'a.b',
        at,
      }));
      const again = { recordKey: 'k7', contentHash: 'h7b', digest: 'a.c', at, seq: 2 };
      const replaced = { ...many[1_100]!, update: 'mybest-changed' as const };
      await store.recordVersions('p', [...many, again, replaced]);
      const lists = await store.versions(
        'p',
        many.map((v) => v.recordKey),
      );
      expect(lists.map((l) => l.length)).toEqual(many.map((_, i) => (i === 7 ? 2 : 1)));
      expect(lists[7]!.map((v) => v.contentHash).sort()).toEqual(['h7', 'h7b']);
      expect(lists[1_100]).toEqual([replaced]);
    });

    it('finds the versions of the keys that carry an appointment number', async () => {
      const store = make();
      const at = '2026-01-01T00:00:00.000Z';
      const key = (appt: string, date: string) => `1234|02|${appt}|${date}|I`;
      await store.recordVersions('p', [
        { recordKey: key('1000000000000042', '2026-01-05'), contentHash: 'a', digest: 'x.y', at },
        { recordKey: key('1000000000000042', '2026-03-05'), contentHash: 'b', digest: 'x.y', at },
        { recordKey: key('10000000000000421', '2026-01-05'), contentHash: 'c', digest: 'x.y', at },
      ]);
      const found = await store.versionsOf('p', '1000 0000 0000 0042');
      expect(found.map((v) => v.contentHash).sort()).toEqual(['a', 'b']);
      expect(await store.versionsOf('p', '*')).toEqual([]);
    });

    it('keeps intents until cleared', async () => {
      const store = make();
      await store.addIntent('p', 'a', { batchId: 'b1', entries: [['k', 'h']] });
      await store.addIntent('p', 'a', { batchId: 'b2', entries: [] });
      await store.clearIntent('p', 'a', 'b1');
      expect(await store.intents('p', 'a')).toEqual([{ batchId: 'b2', entries: [] }]);
    });

    it('files dead letters once, lists them oldest first, and resolves them', async () => {
      const store = make();
      expect(
        await store.addDeadLetters('p', [
          letter('x', '2026-01-02T00:00:00Z'),
          letter('y', '2026-01-01T00:00:00Z'),
          letter('y', '2026-01-01T00:00:00Z'),
        ]),
      ).toBe(2);
      // Filed again: not new (its first filing stays); with a new one, one is.
      expect(
        await store.addDeadLetters('p', [
          letter('x', '2026-01-03T00:00:00Z'),
          letter('z', '2026-01-04T00:00:00Z'),
        ]),
      ).toBe(1);
      await store.resolveDeadLetters('p', ['z']);
      expect((await store.deadLetters('p')).map((l) => [l.id, l.at])).toEqual([
        ['y', '2026-01-01T00:00:00Z'],
        ['x', '2026-01-02T00:00:00Z'],
      ]);
      await store.resolveDeadLetters('p', ['y']);
      expect((await store.deadLetters('p')).map((l) => l.id)).toEqual(['x']);
    });

    it('keeps recent runs, newest last', async () => {
      const store = make();
      for (let i = 0; i < 3; i++) {
        await store.recordRun('p', {
          startedAt: `2026-01-0${i + 1}`,
          finishedAt: '',
          ok: true,
          window: null,
          destinations: [],
          parseIssues: i,
        });
      }
      expect((await store.runs('p', 2)).map((r) => r.parseIssues)).toEqual([1, 2]);
    });

    it('keeps open incidents per pipeline until they are removed', async () => {
      const store = make();
      expect(await store.incidents('p')).toEqual({});
      const incident = { title: 'TOEFL Access key rejected', openedAt: 'a', notifiedAt: 'b' };
      await store.setIncident('p', 'source-auth', incident);
      await store.setIncident('p', 'cursor-stale:files', { ...incident, title: 'stale' });
      expect(Object.keys(await store.incidents('p')).sort()).toEqual([
        'cursor-stale:files',
        'source-auth',
      ]);
      expect(await store.incidents('q')).toEqual({});
      await store.setIncident('p', 'source-auth', null);
      expect(await store.incidents('p')).toEqual({
        'cursor-stale:files': { ...incident, title: 'stale' },
      });
    });

    it('lets one of many simultaneous claims of an incident send it, and the next after its cool-down', async () => {
      const store = make();
      const at = (iso: string) => ({ title: 'hook disabled', openedAt: iso, notifiedAt: iso });
      const t0 = '2026-11-02T00:00:00.000Z';
      const claims = await Promise.all(
        Array.from({ length: 6 }, () =>
          store.claimIncident('p', 'destination:hook', at(t0), new Date('2026-11-01T00:00:00Z')),
        ),
      );
      expect(claims.filter((c) => c.claimed)).toEqual([{ claimed: true }]);
      expect(await store.incidents('p')).toEqual({ 'destination:hook': at(t0) });
      // Still within the cool-down (notified after the cut-off): refused, the open one returned.
      const t1 = '2026-11-02T12:00:00.000Z';
      expect(
        await store.claimIncident(
          'p',
          'destination:hook',
          at(t1),
          new Date('2026-11-01T12:00:00Z'),
        ),
      ).toEqual({ claimed: false, previous: at(t0) });
      // Past it: claimed for a reminder, opened when it first was.
      expect(await store.claimIncident('p', 'destination:hook', at(t1), new Date(t0))).toEqual({
        claimed: true,
        previous: at(t0),
      });
      expect(await store.incidents('p')).toEqual({
        'destination:hook': { ...at(t1), openedAt: t0 },
      });
    });

    it('lets one run hold a pipeline at a time', async () => {
      const store = make();
      const release = await store.lock('p');
      await expect(store.lock('p')).rejects.toThrow(/pipeline p is being run/);
      const other = await store.lock('q');
      await release();
      const again = await store.lock('p');
      await again();
      await other();
    });

    it('lets one run of a pipeline go at a time across both executors: the run slot and the lock exclude each other', async () => {
      const store = make();
      const seconds = RUN_SLOT_SECONDS;
      expect(await store.takeRunSlot('p', 'r1', { seconds })).toEqual({ taken: true });
      expect(await store.takeRunSlot('p', 'r1', { seconds })).toEqual({ taken: true });
      expect(await store.takeRunSlot('p', 'r2', { seconds })).toEqual({
        taken: false,
        holder: 'r1',
      });
      expect(await store.runSlot('p')).toBe('r1');
      // An inline run waits for the worker-mode run.
      await expect(store.lock('p')).rejects.toThrow(/worker-mode run going \(r1\)/);
      // A run known to be over gives way; releasing by another run changes nothing.
      expect(await store.takeRunSlot('p', 'r2', { seconds, over: 'r1' })).toEqual({ taken: true });
      await store.releaseRunSlot('p', 'r1');
      expect(await store.runSlot('p')).toBe('r2');
      await store.releaseRunSlot('p', 'r2');
      expect(await store.runSlot('p')).toBeUndefined();
      // A worker-mode run waits for an inline run.
      const release = await store.lock('p');
      expect(await store.takeRunSlot('p', 'r3', { seconds })).toEqual({
        taken: false,
        holder: 'inline',
      });
      await release();
      expect(await store.takeRunSlot('p', 'r3', { seconds })).toEqual({ taken: true });
      await store.releaseRunSlot('p', 'r3');
    });

    it('claims each record for one delivery job per run and destination, atomically', async () => {
      const store = make();
      const hashes = Array.from({ length: 20 }, (_, i) => `h${i}`);
      const owners = ['job-a', 'job-b', 'job-c'];
      const claims = await Promise.all(
        owners.map((o) => store.claim('p', 'run', 'hook', o, hashes, 60)),
      );
      // Every record has exactly one owner, however the claims interleaved.
      for (let i = 0; i < hashes.length; i++)
        expect(claims.filter((c) => c[i]).length, `claims of ${hashes[i]}`).toBe(1);
      // A retry of a job keeps what it claimed; another run or destination claims afresh.
      const a = claims[0]!;
      expect(await store.claim('p', 'run', 'hook', 'job-a', hashes, 60)).toEqual(a);
      expect(await store.claim('p', 'run2', 'hook', 'job-b', hashes, 60)).toEqual(
        hashes.map(() => true),
      );
      expect(await store.claim('p', 'run', 'files', 'job-c', ['h0'], 60)).toEqual([true]);
    });

    it('claims more hashes than one Redis read takes, a hash given twice included', async () => {
      const store = make();
      const hashes = Array.from({ length: 1_234 }, (_, i) => `h${i}`);
      expect(await store.claim('p', 'run', 'hook', 'job-a', hashes.slice(0, 700), 60)).toEqual(
        hashes.slice(0, 700).map(() => true),
      );
      const b = await store.claim('p', 'run', 'hook', 'job-b', [...hashes, 'h1000'], 60);
      expect(b).toEqual([...hashes.map((_, i) => i >= 700), true]);
    });

    it("keeps a run's barrier until its members leave, and marks a run cancelled", async () => {
      const store = make();
      await store.addToBarrier('p', 'run', ['fetch|1', 'fetch|2'], 60);
      await store.addToBarrier('p', 'run', ['fetch|2', 'deliver|3'], 60);
      expect((await store.barrier('p', 'run')).sort()).toEqual(['deliver|3', 'fetch|1', 'fetch|2']);
      await store.leaveBarrier('p', 'run', ['fetch|1', 'deliver|3']);
      expect(await store.barrier('p', 'run')).toEqual(['fetch|2']);
      expect(await store.barrier('p', 'other')).toEqual([]);
      expect(await store.runCancelled('p', 'run')).toBe(false);
      await store.cancelRun('p', 'run', 60);
      expect(await store.runCancelled('p', 'run')).toBe(true);
      expect(await store.runCancelled('p', 'other')).toBe(false);
    });
  });
}

contract('file', () => {
  const dir = mkdtempSync(join(tmpdir(), 'sb-state-'));
  return reopenable(createFileStateStore(dir), () => createFileStateStore(dir));
});
let n = 0;
contract('redis', () => {
  const prefix = `${redis.prefix}:${n++}`;
  return reopenable(createRedisStateStore(client, { prefix }), () =>
    createRedisStateStore(client, { prefix }),
  );
});

describe('redis state store', () => {
  it('uses hash-tagged keys, so a pipeline lives in one Redis Cluster slot', async () => {
    const prefix = `${redis.prefix}:tags`;
    const store = createRedisStateStore(client, { prefix });
    await store.setCursor('p', 'a', new Date());
    await store.confirm('p', 'a', [['k', 'h']]);
    const keys = await client.keys(`${prefix}:*`);
    expect(keys.sort()).toEqual([`${prefix}:p:cursors`, `${prefix}:p:ledger:a`]);
    expect(keys.every((k) => /^\{[^}]+\}/.test(k))).toBe(true);
  });

  it('lets a lock left by a dead run expire, and never releases a lock it does not own', async () => {
    const store = createRedisStateStore(client, { prefix: `${redis.prefix}:locks`, lockMs: 300 });
    const release = await store.lock('p');
    // The holder "dies": its renewals stop, the lock expires, another run takes it.
    await client.persist(`${redis.prefix}:locks:p:lock`);
    await client.pexpire(`${redis.prefix}:locks:p:lock`, 50);
    await expect.poll(() => client.exists(`${redis.prefix}:locks:p:lock`)).toBe(0);
    const other = await createRedisStateStore(client, {
      prefix: `${redis.prefix}:locks`,
      lockMs: 300,
    }).lock('p');
    await release(); // the first run's release must not free the second run's lock
    await expect(store.lock('p')).rejects.toThrow(/being run elsewhere/);
    await other();
  });

  it('a delivery gate keeps to a rate across callers: a backlog is reserved times once each, none early', async () => {
    const store = createRedisStateStore(client, { prefix: `${redis.prefix}:gate` });
    const rate = { max: 2, perSeconds: 1 };
    const admitted = new Map<string, number>();
    const reserved = new Map<string, number>();
    for (const job of ['j1', 'j2', 'j3', 'j4', 'j5']) {
      const { wait, at } = await store.admit('p', 'd', job, rate);
      if (wait === 0) admitted.set(job, at);
      else reserved.set(job, at + wait);
    }
    // Two go at once; the rest are given times, in order, each after the one before.
    expect([...admitted.keys()]).toEqual(['j1', 'j2']);
    expect([...reserved.keys()]).toEqual(['j3', 'j4', 'j5']);
    const times = [...reserved.values()];
    expect(times[0]).toBeGreaterThanOrEqual(admitted.get('j1')! + 1000);
    expect(times[2]).toBeGreaterThanOrEqual(admitted.get('j2')! + 1000);
    expect(times[2]! - times[0]!).toBeGreaterThanOrEqual(1000);
    // Another destination is not held back.
    expect((await store.admit('p', 'other', 'x', rate)).wait).toBe(0);
    // A job asking again before its time keeps its time; each is admitted once its time came.
    const again = await store.admit('p', 'd', 'j3', rate);
    expect(again.at + again.wait).toBe(reserved.get('j3'));
    for (const job of ['j3', 'j4', 'j5'])
      for (;;) {
        const { wait, at } = await store.admit('p', 'd', job, rate);
        if (wait === 0) {
          admitted.set(job, at);
          break;
        }
        await new Promise((r) => setTimeout(r, wait));
      }
    const order = ['j1', 'j2', 'j3', 'j4', 'j5'].map((j) => admitted.get(j)!);
    // At most two admissions in any second, by Redis's clock.
    for (let i = 0; i + 2 < order.length; i++)
      expect(order[i + 2]! - order[i]!).toBeGreaterThanOrEqual(1000);
  });

  it('a paused destination admits nothing until the pause ends; others go on', async () => {
    const store = createRedisStateStore(client, { prefix: `${redis.prefix}:pause` });
    await store.pauseDeliveries('p', 'd', 60_000);
    await store.pauseDeliveries('p', 'd', 1_000); // a shorter pause does not shorten it
    const { wait } = await store.admit('p', 'd', 'j1');
    expect(wait).toBeGreaterThan(50_000);
    expect(await store.deliveriesPaused('p', 'd')).toBeGreaterThan(50_000);
    expect((await store.admit('p', 'e', 'j1')).wait).toBe(0);
    expect(await store.deliveriesPaused('p', 'e')).toBe(0);
  });
});
