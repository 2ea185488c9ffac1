import { formatRecord, parseAll, type UpdateClass } from '@scorebridge/core';
import { type Sandbox, sandboxLayout1600 } from '@scorebridge/sandbox';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../adapters/webhook/src/receiver.test-helpers.js';
import {
  everyVersion,
  FIRST_RUN,
  NOW,
  setup,
  webhookDestinationYaml,
} from '../harness/pipeline.js';
import { workerSetup } from '../harness/workers.js';

const SECRET = 'whsec_dXBkYXRlLWNsYXNzZXMtdGVzdC1zZWNyZXQtMTIzNDU2';
/** The first run ends here; the second goes on to NOW, so some originals come one run earlier. */
const MID = new Date('2026-09-20T00:00:00Z');
const KIND_CLASS: Record<string, UpdateClass> = {
  mybest: 'mybest-changed',
  scores: 'scores-changed',
  other: 'other-fields',
};

const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c()));
});

/** The class each re-sent version must carry, by key#hash, from the sandbox's own truth. */
async function expectedClasses(sandbox: Sandbox): Promise<Map<string, UpdateClass>> {
  const { start, end } = sandbox.data.select(FIRST_RUN, NOW);
  const layout = sandboxLayout1600();
  const out = new Map<string, UpdateClass>();
  for (let i = start; i < end; i++) {
    const r = sandbox.data.record(i);
    if (!r.resent) continue;
    const [entry] = await parseAll(formatRecord(r.fields, layout), { layouts: [layout] });
    out.set(
      `${entry!.record!.recordKey}#${entry!.record!.contentHash}`,
      KIND_CLASS[r.resendKind!]!,
    );
  }
  return out;
}

function countsOf(classes: Iterable<UpdateClass>): Partial<Record<UpdateClass, number>> {
  const out: Partial<Record<UpdateClass, number>> = {};
  for (const c of classes) out[c] = (out[c] ?? 0) + 1;
  return out;
}

const SETUP = (url: string) => ({
  sandbox: { records: 900, days: 150 },
  env: { SB_WHSEC: SECRET },
  destinationsYaml: webhookDestinationYaml(url, 50),
});

/** Runs [FIRST_RUN, MID] then [MID, NOW] in one executor: its run records, and `status`. */
type Executor = (url: string) => Promise<{
  sandbox: Sandbox;
  runs: { updates?: Partial<Record<UpdateClass, number>> }[];
  status: () => Promise<string>;
}>;

/** [name, run, whether every re-sent version arrives with its class] */
const executors: [string, Executor, boolean][] = [
  [
    'inline',
    async (url) => {
      const s = await setup(SETUP(url));
      open.push(s.close);
      const first = await s.run({ now: MID });
      const second = await s.run();
      // The table `scorebridge run` prints says what the re-sent reports changed.
      const { summaryTable } = await import('../../packages/cli/src/commands/run.js');
      expect(summaryTable(second)).toMatch(
        /\nscorebridge: Re-sent reports met: (\d+ (scores-changed|mybest-changed|other-fields)(, )?)+/,
      );
      const { run } = await import('../../packages/cli/src/testing/run.test-helpers.js');
      return {
        sandbox: s.sandbox,
        runs: [first, second],
        status: async () => {
          Object.assign(process.env, s.env);
          return (await run(['status', s.pipelineFile, '--state-dir', s.stateDir])).stdout;
        },
      };
    },
    // A run reads its newest slice first: a re-sent report whose original is read later in the
    // same run is delivered before its class is known (settled then: counted and traced).
    false,
  ],
  [
    'worker mode',
    async (url) => {
      const w = await workerSetup(SETUP(url));
      open.push(w.close);
      await w.start({ concurrency: 2 });
      const first = await w.wait(await w.enqueue(FIRST_RUN, MID));
      const second = await w.wait(await w.enqueue(MID, NOW));
      return {
        sandbox: w.sandbox,
        runs: [first, second],
        status: async () => (await w.cli(['status', w.pipelineFile])).stdout,
      };
    },
    // Deliveries wait until the run has read every slice: every class is known.
    true,
  ],
];

describe.each(executors)('update classes (%s)', (_, execute, exact) => {
  it('tells every re-sent report by what it changed: in the webhook payload, the run records and status', async () => {
    const receiver = await startReceiver([SECRET]);
    open.push(receiver.close);
    const { sandbox, runs, status } = await execute(receiver.url);
    const expected = await expectedClasses(sandbox);
    expect(new Set(expected.values())).toEqual(
      new Set(['mybest-changed', 'scores-changed', 'other-fields']),
    );
    const got = new Map<string, UpdateClass | undefined>();
    for (const r of receiver.records() as {
      recordKey: string;
      contentHash: string;
      update?: UpdateClass;
    }[])
      got.set(`${r.recordKey}#${r.contentHash}`, r.update);
    // Every re-sent version that arrived says what it changed (or, inline, nothing when its
    // original was read later in the same run); never a wrong class.
    const classless = [...expected.keys()].filter((v) => got.has(v) && got.get(v) === undefined);
    for (const [version, update] of expected)
      if (got.has(version) && !classless.includes(version))
        expect([version, got.get(version)]).toEqual([version, update]);
    if (exact) expect(classless).toEqual([]);
    else expect(classless.length).toBeLessThan(expected.size / 2);
    // One that did not arrive was superseded: a newer version of its key, read in the same run,
    // arrived instead.
    const order = await everyVersion(sandbox);
    const keyOf = (v: string) => v.slice(0, v.indexOf('#'));
    const missing = [...expected.keys()].filter((version) => !got.has(version));
    for (const version of missing)
      expect([
        version,
        order.some(
          (w, i) => i > order.indexOf(version) && keyOf(w) === keyOf(version) && got.has(w),
        ),
      ]).toEqual([version, true]);
    expect(missing.length).toBeLessThan(expected.size / 2);
    const firsts = [...got].filter(([v]) => !expected.has(v));
    expect(firsts.length).toBeGreaterThan(0);
    expect(firsts.filter(([, u]) => u !== undefined)).toEqual([]);
    // The runs count each update once, in the run that met it first.
    const counted: Partial<Record<UpdateClass, number>> = {};
    for (const run of runs)
      for (const [c, n] of Object.entries(run.updates ?? {}))
        counted[c as UpdateClass] = (counted[c as UpdateClass] ?? 0) + n!;
    expect(counted).toEqual(countsOf(expected.values()));
    expect(runs.every((r) => Object.keys(r.updates ?? {}).length > 0)).toBe(true);
    expect(await status()).toMatch(
      /; updates: (\d+ (scores-changed|mybest-changed|other-fields)(, )?)+/,
    );
  });
});
