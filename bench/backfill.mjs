// A 100,000-record backfill from the sandbox to the file adapter through the inline runner. The
// sandbox runs here; the run happens in a child process so its peak RSS is its own.
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '@scorebridge/sandbox';
import { runChild } from './child.mjs';

const RECORDS = 100_000;

export async function backfill() {
  const now = new Date('2026-11-01T00:00:00Z');
  const sandbox = await startSandbox({ seed: 3, records: RECORDS, days: 90, now });
  const dir = mkdtempSync(join(tmpdir(), 'sb-bench-backfill-'));
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
      format: ndjson
`,
  );
  try {
    return await runChild(
      './backfill-child.mjs',
      [pipeline, join(dir, 'state'), '2026-08-01T00:00:00Z', now.toISOString()],
      {
        ...process.env,
        SB_URL: sandbox.scoresUrl,
        SB_KEY: sandbox.authcode,
      },
    );
  } finally {
    await sandbox.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await backfill());
