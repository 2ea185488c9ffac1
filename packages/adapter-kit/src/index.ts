import { Socket } from 'node:net';
import {
  type DeliveryBatch,
  type Destination,
  type DestinationAdapter,
  type DestinationContext,
  DestinationError,
  ERROR_KINDS,
  type ErrorKind,
  formatRecord,
  type ParsedEntry,
  parseAll,
  type ScoreRecord,
  serializeError,
  silentLogger,
} from '@scorebridge/core';
import { SandboxData, sandboxLayout1600 } from '@scorebridge/sandbox';
import { describe, expect, it } from 'vitest';

/** What a destination holds, one entry per stored record version. */
export interface StoredRecord {
  readonly recordKey: string;
  readonly contentHash: string;
}

/** How the contract suite drives one adapter. */
export interface ContractSubject<O> {
  readonly adapter: DestinationAdapter;
  /** Options for a working destination, fresh for each test (a new directory, a new server…). */
  options(): O | Promise<O>;
  /** Reads back what the destination behind `options` holds. */
  stored(options: O): Promise<StoredRecord[]>;
  /** Options whose `check()` must fail, and the error kind it must fail with. */
  readonly broken: readonly {
    readonly name: string;
    options(): O | Promise<O>;
    readonly kind: ErrorKind;
  }[];
  /** If the destination refuses some records one by one: options under which it does, and such records. */
  readonly rejectable?: { options(): O | Promise<O>; records(): Promise<ScoreRecord[]> };
  /** Secret values present in the options; none may appear in any error. */
  readonly secrets?: readonly string[];
}

/** The context a test creates a destination with: a pipeline name, the id, a silent logger. */
export function testContext(
  destinationId: string,
  pipeline = 'unit',
  logger = silentLogger,
): DestinationContext {
  return { pipeline, destinationId, logger };
}

/**
 * Realistic records from the sandbox's synthetic data (ScoreLink lines, parsed), as the runtime
 * hands them to `deliver`: one version per record key, the newest (ETS re-sends reports; the
 * older versions are left out, so there may be fewer than `count`).
 */
export async function sampleRecords(count: number, seed = 1): Promise<ScoreRecord[]> {
  const layout = sandboxLayout1600();
  const data = new SandboxData({
    seed,
    records: count,
    days: 200,
    now: new Date('2026-11-01T00:00:00Z'),
  });
  const lines = Array.from({ length: data.size }, (_, i) =>
    formatRecord(data.record(i).fields, layout),
  );
  const entries: ParsedEntry[] = await parseAll(lines.join('\n'), { layouts: [layout] });
  const newest = new Map(entries.map((e) => [e.record!.recordKey, e.record!]));
  return entries.flatMap((e) => (newest.get(e.record!.recordKey) === e.record ? [e.record!] : []));
}

/** The same record with one score changed: a re-sent, rescored report. */
export async function rescored(record: ScoreRecord): Promise<ScoreRecord> {
  const line = record.raw;
  const changed = `${line.slice(0, 562)}${line.slice(562, 564) === '29' ? '28' : '29'}${line.slice(564)}`;
  const [entry] = await parseAll(changed, { layouts: [sandboxLayout1600()] });
  return entry!.record!;
}

function batch(records: readonly ScoreRecord[], id: string): DeliveryBatch {
  return {
    id,
    pipeline: 'contract',
    records,
    window: { from: '2026-10-01T00:00:00.000Z', to: '2026-10-31T00:00:00.000Z' },
  };
}

const keyOf = (r: StoredRecord) => `${r.recordKey}#${r.contentHash}`;

/**
 * The contract every destination adapter passes: construction makes no network connection;
 * `check()` passes when it should and fails with an actionable error of the right kind when it
 * should not, and `deliver()` through such options fails only with the closed error kinds;
 * delivery returns one outcome per record, in order, is idempotent for a batch id, takes
 * changed records as updates, and refuses bad records one by one; `close()` is safe twice; no
 * secret appears in any error.
 */
export function runDestinationContract<O>(name: string, subject: ContractSubject<O>): void {
  const make = async (options?: O): Promise<{ destination: Destination; options: O }> => {
    const o = options ?? (await subject.options());
    const parsed = subject.adapter.optionsSchema.parse(o) as O;
    return {
      destination: subject.adapter.create(parsed, testContext(name, 'contract')),
      options: o,
    };
  };
  /** deliver() of a broken destination: it must fail with a closed kind and no secret. */
  const failsCleanly = async (destination: Destination) => {
    const error = await destination.deliver(batch(await sampleRecords(2, 5), 'broken')).then(
      () => undefined,
      (e: unknown) => e,
    );
    if (error === undefined) return; // some broken options only fail check() (a missing field)
    expect(error).toBeInstanceOf(DestinationError);
    expect(ERROR_KINDS).toContain((error as DestinationError).kind);
    const shown = JSON.stringify(serializeError(error)) + String(error);
    for (const secret of subject.secrets ?? []) expect(shown).not.toContain(secret);
  };

  describe(`${name}: destination contract`, () => {
    it('makes no network connection when constructed', async () => {
      const options = subject.adapter.optionsSchema.parse(await subject.options());
      const attempts: unknown[] = [];
      const connect = Socket.prototype.connect;
      Socket.prototype.connect = function (this: Socket, ...args: unknown[]) {
        attempts.push(args[0]);
        return (connect as (...a: unknown[]) => Socket).apply(this, args);
      } as typeof connect;
      let destination: Destination;
      try {
        destination = subject.adapter.create(options, testContext(name, 'contract'));
        // A connection started by the constructor but made a moment later counts too.
        await new Promise((resolve) => setTimeout(resolve, 50));
      } finally {
        Socket.prototype.connect = connect;
      }
      expect(attempts).toEqual([]);
      await destination.close();
    });

    it('checks out with working options', async () => {
      const { destination } = await make();
      const report = await destination.check();
      // Nothing, or notes for the person running `scorebridge check`.
      expect(report === undefined || report.notes?.every((n) => typeof n === 'string')).toBe(true);
      await destination.close();
      await destination.close();
    });

    it('delivers a batch: one delivered outcome per record, all of them stored', async () => {
      const records = await sampleRecords(25);
      const { destination, options } = await make();
      const outcomes = await destination.deliver(batch(records, 'batch-one'));
      expect(outcomes.map((o) => o.status)).toEqual(records.map(() => 'delivered'));
      expect(outcomes.map((o) => o.recordKey)).toEqual(records.map((r) => r.recordKey));
      expect((await subject.stored(options)).map(keyOf).sort()).toEqual(records.map(keyOf).sort());
      await destination.close();
    });

    it('is idempotent for a batch id: a redelivery stores nothing twice', async () => {
      const records = await sampleRecords(10, 2);
      const { destination, options } = await make();
      await destination.deliver(batch(records, 'batch-again'));
      const again = await destination.deliver(batch(records, 'batch-again'));
      expect(again.every((o) => o.status === 'delivered')).toBe(true);
      const stored = (await subject.stored(options)).map(keyOf);
      expect(stored.length).toBe(new Set(stored).size);
      expect(stored.sort()).toEqual(records.map(keyOf).sort());
      if (destination.delivered) {
        expect(await destination.delivered('batch-again')).toBe(true);
        expect(await destination.delivered('never-sent')).toBe(false);
      }
      await destination.close();
    });

    it('takes a changed record as an update', async () => {
      const [record] = await sampleRecords(1, 3);
      const changed = await rescored(record!);
      expect(changed.recordKey).toBe(record!.recordKey);
      expect(changed.contentHash).not.toBe(record!.contentHash);
      const { destination, options } = await make();
      await destination.deliver(batch([record!], 'first'));
      const [outcome] = await destination.deliver(batch([changed], 'second'));
      expect(outcome).toMatchObject({ status: 'delivered', contentHash: changed.contentHash });
      expect((await subject.stored(options)).map(keyOf)).toContain(keyOf(changed));
      await destination.close();
    });

    if (subject.rejectable) {
      it('refuses bad records one by one, with a reason and no personal data, and keeps the good ones', async () => {
        const good = await sampleRecords(5, 4);
        const bad = await subject.rejectable!.records();
        const { destination } = await make(await subject.rejectable!.options());
        const outcomes = await destination.deliver(batch([...good, ...bad], 'mixed'));
        expect(outcomes.filter((o) => o.status === 'delivered')).toHaveLength(good.length);
        const rejected = outcomes.filter((o) => o.status === 'rejected');
        expect(rejected).toHaveLength(bad.length);
        for (const o of rejected) {
          expect(o.status === 'rejected' && o.reason.length > 0).toBe(true);
          for (const r of bad) {
            for (const v of [r.fields.lastName, r.fields.firstName, r.fields.email]) {
              if (typeof v === 'string' && v.length > 3) expect(JSON.stringify(o)).not.toContain(v);
            }
          }
        }
        await destination.close();
      });
    }

    for (const broken of subject.broken) {
      it(`fails check() with a ${broken.kind} error that says what to do: ${broken.name}`, async () => {
        const { destination } = await make(await broken.options());
        const error = await destination.check().then(
          () => undefined,
          (e: unknown) => e,
        );
        expect(error).toBeInstanceOf(DestinationError);
        const e = error as DestinationError;
        expect(ERROR_KINDS).toContain(e.kind);
        expect(e.kind).toBe(broken.kind);
        expect(e.remedy).toBeTruthy();
        expect(e.message).toMatch(/^\[/);
        const shown = JSON.stringify(serializeError(e)) + String(e);
        for (const secret of subject.secrets ?? []) expect(shown).not.toContain(secret);
        // Delivering through it fails with a closed kind too, and closing twice is safe.
        await failsCleanly(destination);
        await destination.close();
        await destination.close();
      });
    }
  });
}
