import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { run } from '../testing/run.test-helpers.js';

const bin = fileURLToPath(new URL('../../bin/scorebridge.js', import.meta.url));

describe('scorebridge sandbox', () => {
  it('runs standalone, prints its URL and key, serves fetch, and stops on SIGTERM', async () => {
    const child = spawn(
      process.execPath,
      [bin, 'sandbox', '--port', '0', '--records', '200', '--days', '20', '--seed', '3'],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let out = '';
    child.stdout.setEncoding('utf8');
    while (!/Ctrl-C stops/.test(out)) {
      const [chunk] = (await once(child.stdout, 'data')) as [string];
      out += chunk;
    }
    const url = /scores: +(\S+)/.exec(out)![1]!;
    const key = /API key: +(\S+)/.exec(out)![1]!;
    expect(out).toMatch(/200 reports over the last 20 days, seed 3/);
    process.env.SB_SANDBOX_KEY = key;
    const today = new Date();
    const from = new Date(today.getTime() - 25 * 86_400_000).toISOString().slice(0, 10);
    const fetched = await run([
      'fetch',
      '--base-url',
      url,
      '--authcode-env',
      'SB_SANDBOX_KEY',
      '--from',
      from,
      '--to',
      today.toISOString(),
    ]);
    delete process.env.SB_SANDBOX_KEY;
    expect(fetched.code).toBe(0);
    expect(fetched.stdout.trim().split('\n')).toHaveLength(200);
    child.kill('SIGTERM');
    const [code] = (await once(child, 'exit')) as [number];
    expect(code).toBe(0);
  });

  it('refuses a fault it does not know', async () => {
    const { code, stderr } = await run(['sandbox', '--port', '0', '--faults', 'explode']);
    expect(code).toBe(2);
    expect(stderr).toMatch(/--faults: "explode" is not a fault/);
  });
});
