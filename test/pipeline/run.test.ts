import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileAdapter } from '@scorebridge/adapter-file';
import { type DeliveryBatch, restoreRecord } from '@scorebridge/core';
import { createFileStateStore } from '@scorebridge/runtime';
import fc from 'fast-check';
import { afterEach, describe, expect, it } from 'vitest';
import {
  ADAPTERS,
  FIRST_RUN,
  groundTruth,
  NOW,
  SANDBOX_NOW,
  type Setup,
  setup,
  storedVersions,
} from '../harness/pipeline.js';

const open: Setup[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((s) => s.close()));
});
async function make(options: Parameters<typeof setup>[0] = {}): Promise<Setup> {
  const s = await setup(options);
  open.push(s);
  return s;
}

const DAY = 86_400_000;
const once = (list: string[]) => list.length === new Set(list).size;

describe('inline pipeline runs against the sandbox', () => {
  it('delivers everything once, and nothing new the second time', async () => {
    const s = await make();
    const first = await s.run();
    const truth = await groundTruth(s.sandbox);
    expect(first.ok).toBe(true);
    expect(first.destinations[0]).toMatchObject({
      delivered: truth.size,
      unchanged: 0,
      deadLettered: 0,
    });
    const stored = storedVersions(s.out.files!);
    expect(once(stored)).toBe(true);
    expect(new Set(stored)).toEqual(truth);

    const second = await s.run();
    expect(second.destinations[0]!.delivered).toBe(0);
    // The second run starts at the cursor less the overlap (48 hours), not at the beginning, and
    // finds every record of that overlap held already.
    const from = new Date(new Date(first.destinations[0]!.cursor!).getTime() - 48 * 3_600_000);
    expect(new Date(second.window!.from)).toEqual(from);
    const overlap = await groundTruth(s.sandbox, from, NOW);
    expect(overlap.size).toBeGreaterThan(0);
    expect(second.destinations[0]!.unchanged).toBe(overlap.size);
    expect(storedVersions(s.out.files!)).toHaveLength(stored.length);
  });

  it('hands a destination its batches still held: each record is read in full only when used', async () => {
    // A batch read in full when formed lived long enough (its intent, its delivery, their syncs)
    // to reach the old generation: about 3 KB a record of garbage there in a large run.
    const s = await make();
    const batches: { held: boolean[]; keys: string[] }[] = [];
    const watching = {
      ...fileAdapter,
      create: (...args: Parameters<typeof fileAdapter.create>) => {
        const destination = fileAdapter.create(...args);
        return Object.assign(Object.create(destination), {
          deliver: (batch: DeliveryBatch) => {
            batches.push({
              held: batch.records.map((r) => restoreRecord(r) !== r),
              keys: batch.records.map((r) => r.fields.appointmentNumber as string),
            });
            return destination.deliver(batch);
          },
        });
      },
    };
    const summary = await s.run({ adapters: [watching, ...ADAPTERS.slice(1)] });
    expect(summary.destinations[0]!.delivered).toBe((await groundTruth(s.sandbox)).size);
    expect(batches.length).toBeGreaterThan(1);
    expect(batches.flatMap((b) => b.held).every(Boolean)).toBe(true);
    expect(batches.flatMap((b) => b.keys).every((k) => /^\d+$/.test(k))).toBe(true);
  });

  it('delivers a re-sent, changed report again, as an update', async () => {
    const s = await make({ sandbox: { records: 1500 } });
    const all = Array.from({ length: s.sandbox.data.size }, (_, i) => s.sandbox.data.record(i));
    const resent = all.find(
      (r) => r.resent && r.reportedAt.getTime() > FIRST_RUN.getTime() + 40 * 86_400_000,
    )!;
    expect(resent).toBeDefined();
    // First run: up to just before the re-sent report; second run: the rest.
    const cut = new Date(resent.reportedAt.getTime() - 1000);
    await s.run({ now: cut });
    const before = storedVersions(s.out.files!);
    await s.run({ now: SANDBOX_NOW });
    const after = storedVersions(s.out.files!);
    const key = (v: string) => v.split('#')[0]!;
    const versions = after.filter((v) => key(v).includes(String(resent.fields.appointmentNumber)));
    expect(versions).toHaveLength(2);
    expect(
      before.filter((v) => key(v).includes(String(resent.fields.appointmentNumber))),
    ).toHaveLength(1);
    expect(once(after)).toBe(true);
    const ledger = await createFileStateStore(s.stateDir).ledger('test', 'files');
    for (const v of versions) expect(ledger.has(v.split('#')[1]!)).toBe(true);
  });

  it('backfills an already-delivered range without duplicating, and leaves the cursor alone', async () => {
    const s = await make();
    const first = await s.run();
    const count = storedVersions(s.out.files!).length;
    const backfill = await s.run({
      from: new Date('2026-08-01T00:00:00Z'),
      to: new Date('2026-10-01T00:00:00Z'),
    });
    expect(backfill.destinations[0]).toMatchObject({
      delivered: 0,
      cursor: first.destinations[0]!.cursor,
    });
    expect(backfill.destinations[0]!.unchanged).toBeGreaterThan(0);
    expect(storedVersions(s.out.files!)).toHaveLength(count);
  });

  it('files bad records as dead letters with line and reason, delivers the good ones, and does not file them twice', async () => {
    const s = await make({ sandbox: { corrupt: { every: 50 } } });
    const first = await s.run();
    const truth = await groundTruth(s.sandbox);
    expect(first.parseIssues).toBeGreaterThan(0);
    const stored = new Set(storedVersions(s.out.files!));
    expect(stored.size).toBe(truth.size - first.parseIssues);
    const store = createFileStateStore(s.stateDir);
    const letters = await store.deadLetters('test');
    expect(letters).toHaveLength(first.parseIssues);
    expect(letters.map((l) => l.reason)).toEqual(
      expect.arrayContaining([
        expect.stringMatching(
          /^line \d+, field dateOfBirth \(530–537\): not a valid YYYYMMDD date$/,
        ),
        expect.stringMatching(/^line \d+: record is 1590 characters; expected 1600/),
      ]),
    );
    expect(
      letters.every(
        (l) => l.kind === 'parse' && l.destination === '*' && l.window.from && l.window.to,
      ),
    ).toBe(true);
    // Personal data stays out of the state directory: no name, no e-mail.
    const { readFileSync } = await import('node:fs');
    const state = readFileSync(join(s.stateDir, 'test', 'dead-letters.log'), 'utf8');
    const record = s.sandbox.data.record(49).fields;
    expect(state).not.toContain(String(record.email));
    expect(state).not.toContain(String(record.lastName));
    await s.run({ from: FIRST_RUN, to: SANDBOX_NOW });
    expect(await store.deadLetters('test')).toHaveLength(first.parseIssues);
  });

  it('writes nothing on a dry run', async () => {
    const s = await make();
    const dry = await s.run({ dryRun: true });
    expect(dry.destinations[0]!.delivered).toBeGreaterThan(0);
    expect(existsSync(s.out.files!)).toBe(false);
    expect(existsSync(join(s.stateDir, 'test'))).toBe(false);
  });

  it("keeps a failing destination's cursor where it was, and catches up after the fix", async () => {
    const s = await make({
      destinations: [
        { id: 'good', format: 'ndjson' },
        { id: 'bad', format: 'ndjson' },
      ],
    });
    // The bad destination's directory is a plain file: every write fails.
    const { mkdirSync } = await import('node:fs');
    mkdirSync(join(s.dir, 'out'), { recursive: true });
    writeFileSync(join(s.dir, 'out', 'bad'), 'not a directory');
    const first = await s.run();
    expect(first.ok).toBe(false);
    expect(first.destinations.find((d) => d.id === 'good')!.failed).toBeUndefined();
    expect(
      first.destinations.find((d) => d.id === 'bad')!.failed,
      JSON.stringify(first.destinations),
    ).toMatchObject({
      kind: 'config',
    });
    // Its cursor stays where it was (none): a run reads the newest slice first, so the bad
    // destination failed before confirming anything; the good one reached now.
    const store = createFileStateStore(s.stateDir);
    expect(await store.cursor('test', 'bad')).toBeUndefined();
    expect(await store.cursor('test', 'good')).toEqual(NOW);
    const { rmSync } = await import('node:fs');
    rmSync(join(s.dir, 'out', 'bad'));
    const second = await s.run();
    expect(second.ok).toBe(true);
    expect(new Set(storedVersions(s.out.bad!))).toEqual(new Set(storedVersions(s.out.good!)));
    expect(second.destinations.find((d) => d.id === 'good')!.delivered).toBe(0);
  });

  it('never misses records sharing a report time at slice edges, whatever the slicing (property)', async () => {
    let sliced = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 30 }),
        fc.integer({ min: 0, max: 60 * 86_400 }),
        fc.integer({ min: 86_400, max: 110 * 86_400 }),
        async (maxWindowDays, startOffset, length) => {
          const from = new Date(SANDBOX_NOW.getTime() - 120 * 86_400_000 + startOffset * 1000);
          const to = new Date(Math.min(from.getTime() + length * 1000, SANDBOX_NOW.getTime()));
          fc.pre(from < to);
          const t = await setup({
            sandbox: { records: 800 },
            source: `  maxWindowDays: ${maxWindowDays}`,
          });
          try {
            const summary = await t.run({ from, to });
            const stored = storedVersions(t.out.files!);
            expect(once(stored)).toBe(true);
            expect(new Set(stored)).toEqual(await groundTruth(t.sandbox, from, to));
            // Sliced as asked: no slice longer than maxWindowDays.
            expect(summary.slices).toBeGreaterThanOrEqual(
              Math.ceil((to.getTime() - from.getTime()) / (maxWindowDays * DAY)),
            );
            if (summary.slices > 1) sliced++;
          } finally {
            await t.close();
          }
        },
      ),
      { numRuns: 12 },
    );
    // Slice edges were met (most generated windows are longer than their slices).
    expect(sliced).toBeGreaterThan(0);
  });

  it('after a crash between delivery and confirmation, asks the destination instead of delivering again', async () => {
    // (Enough reports that the run's first slice, its newest two days, fills a batch of ten.)
    const s = await make({
      sandbox: { records: 1500 },
      destinations: [{ id: 'files', format: 'ndjson', batchSize: 10 }],
    });
    // The "crash": deliveries land, but confirming them fails, as if the process died there.
    const real = createFileStateStore(s.stateDir);
    const crashing = { ...real, confirm: async () => Promise.reject(new Error('power cut')) };
    const crashed = await s.run({ store: crashing, now: new Date('2026-07-20T00:00:00Z') });
    expect(crashed.destinations[0]!.failed).toBeDefined();
    expect(await real.intents('test', 'files')).toHaveLength(1);
    const landed = storedVersions(s.out.files!);
    expect(landed).toHaveLength(10);
    // Batches are formed differently now, so only the intent can tell that those ten landed.
    const { readFileSync } = await import('node:fs');
    writeFileSync(
      s.pipelineFile,
      readFileSync(s.pipelineFile, 'utf8').replace('batchSize: 10', 'batchSize: 7'),
    );
    await s.run();
    const stored = storedVersions(s.out.files!);
    expect(stored.length).toBe(new Set(stored).size);
    expect(new Set(stored)).toEqual(await groundTruth(s.sandbox));
    expect(await real.intents('test', 'files')).toEqual([]);
  });

  it('lists the files it wrote with unique, deterministic names', async () => {
    const s = await make({ destinations: [{ id: 'files', format: 'ndjson', batchSize: 50 }] });
    await s.run();
    const names = readdirSync(s.out.files!);
    expect(names.every((n) => /^test-[0-9a-f]{24}\.ndjson$/.test(n))).toBe(true);
    expect(names.length).toBeGreaterThan(5);
  });
});
