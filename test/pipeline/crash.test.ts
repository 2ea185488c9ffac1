import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { prng } from '@scorebridge/sandbox';
import { afterAll, describe, expect, it } from 'vitest';
import { FIRST_RUN, groundTruth, type Setup, setup, storedVersions } from '../harness/pipeline.js';

const bin = fileURLToPath(new URL('../../packages/cli/bin/scorebridge.js', import.meta.url));
let s: Setup | undefined;
afterAll(() => s?.close());

/** Starts `scorebridge run`; kills it with SIGKILL after `killAfterMs` (if it is still running). */
async function runAndMaybeKill(
  killAfterMs: number | undefined,
): Promise<{ code: number | null; signal: string | null }> {
  const child = spawn(process.execPath, [bin, 'run', s!.pipelineFile, '--state-dir', s!.stateDir], {
    env: s!.env,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString();
  });
  const timer =
    killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), killAfterMs);
  const [code, signal] = (await once(child, 'exit')) as [number | null, string | null];
  clearTimeout(timer);
  if (killAfterMs === undefined && code !== 0)
    throw new Error(`the final run failed (${code}):\n${stderr}`);
  return { code, signal };
}

describe('kill -9 at random points', () => {
  it('loses nothing and duplicates nothing: after a final run, each directory holds every record once', async () => {
    s = await setup({
      sandbox: { records: 1500 },
      destinations: [
        { id: 'first', format: 'ndjson', batchSize: 10 },
        { id: 'second', format: 'ndjson', batchSize: 25 },
      ],
    });
    const rand = prng(2026);
    let killed = 0;
    for (let i = 0; i < 8; i++) {
      const { signal } = await runAndMaybeKill(60 + Math.floor(rand() * 1200));
      if (signal === 'SIGKILL') killed++;
    }
    expect(killed).toBeGreaterThan(2);
    await runAndMaybeKill(undefined);
    // `scorebridge run` ends its window at the real now: so does what it is compared with.
    const truth = await groundTruth(s.sandbox, FIRST_RUN, new Date());
    for (const id of ['first', 'second']) {
      const stored = storedVersions(s.out[id]!);
      expect(stored.length, `${id}: no duplicates`).toBe(new Set(stored).size);
      expect(new Set(stored), `${id}: nothing lost`).toEqual(truth);
    }
  });
});
