// Runs bench/salesforce-calls.task.ts under vitest (the emulator is TypeScript test
// infrastructure) and returns the figures it writes.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

export function salesforceCalls() {
  const out = join(mkdtempSync(join(tmpdir(), 'sb-bench-sf-')), 'figures.json');
  const vitest = join(
    createRequire(import.meta.url).resolve('vitest/package.json'),
    '..',
    'vitest.mjs',
  );
  const config = fileURLToPath(new URL('./vitest.config.ts', import.meta.url));
  execFileSync(process.execPath, [vitest, 'run', '--config', config], {
    env: { ...process.env, SB_BENCH_OUT: out },
    stdio: ['ignore', 'ignore', 'inherit'],
  });
  return JSON.parse(readFileSync(out, 'utf8'));
}
