// A 100,000-record TOEFL Access response streamed through the client and the parser. The
// sandbox runs in this process; the client runs in a child process so its peak RSS is its own.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { startSandbox } from '@scorebridge/sandbox';

const RECORDS = 100_000;

export async function fetchMemory() {
  const now = new Date('2026-11-01T00:00:00Z');
  const sandbox = await startSandbox({ seed: 1, records: RECORDS, days: 30, now });
  try {
    const child = fileURLToPath(new URL('./fetch-client.mjs', import.meta.url));
    const proc = spawn(
      process.execPath,
      [child, sandbox.scoresUrl, sandbox.authcode, now.toISOString()],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let out = '';
    for await (const chunk of proc.stdout) out += chunk;
    return JSON.parse(out);
  } finally {
    await sandbox.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await fetchMemory());
