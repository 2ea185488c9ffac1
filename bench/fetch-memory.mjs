// A 100,000-record TOEFL Access response streamed through the client and the parser. The
// sandbox runs in this process; the client runs in a child process so its peak RSS is its own.
import { startSandbox } from '@scorebridge/sandbox';
import { runChild } from './child.mjs';

const RECORDS = 100_000;

export async function fetchMemory() {
  const now = new Date('2026-11-01T00:00:00Z');
  const sandbox = await startSandbox({ seed: 1, records: RECORDS, days: 30, now });
  try {
    return await runChild('./fetch-client.mjs', [
      sandbox.scoresUrl,
      sandbox.authcode,
      now.toISOString(),
    ]);
  } finally {
    await sandbox.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await fetchMemory());
