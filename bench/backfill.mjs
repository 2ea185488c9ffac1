// A 100,000-record backfill from the sandbox to the file adapter through the inline runner. The
// sandbox runs here; the run happens in a child process so its peak RSS is its own.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '@scorebridge/sandbox';
import { runChild } from './child.mjs';

const RECORDS = 100_000;
/** The benchmark's data: 100,000 reports over the 90 days before `now`. */
export const NOW = new Date('2026-11-01T00:00:00Z');
export const FROM = new Date('2026-08-01T00:00:00Z');

/**
 * The sandbox and the pipeline file (sandbox → file destination) the backfill benchmarks use;
 * `npm run bench -- script` with its own sizes, seed and CSV.
 */
export async function benchSetup(name, { records = RECORDS, seed = 3, format = 'ndjson' } = {}) {
  const sandbox = await startSandbox({ seed, records, days: 90, now: NOW });
  const dir = mkdtempSync(join(tmpdir(), `sb-bench-${name}-`));
  const pipeline = join(dir, 'bench.yaml');
  writeFileSync(
    pipeline,
    `name: bench
source:
  baseUrl: \${env:SB_URL}
  authcode: \${env:SB_KEY}
destinations:
  - id: files
    type: file
    batchSize: 1000
    options:
      directory: ${join(dir, 'out')}
      format: ${format}
`,
  );
  return { sandbox, dir, pipeline, env: { SB_URL: sandbox.scoresUrl, SB_KEY: sandbox.authcode } };
}

export async function backfill() {
  const { sandbox, dir, pipeline, env } = await benchSetup('backfill');
  try {
    return await runChild(
      './backfill-child.mjs',
      [pipeline, join(dir, 'state'), FROM.toISOString(), NOW.toISOString()],
      { ...process.env, ...env },
    );
  } finally {
    await sandbox.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await backfill());
