import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.mjs';

const REDIS = [
  '/usr/bin/redis-server',
  '/usr/local/bin/redis-server',
  '/usr/sbin/redis-server',
].find((p) => existsSync(p));

/** Whether a Redis is at hand: REDIS_URL, or redis-server to start (.ci/run installs it). */
export const haveRedis = Boolean(process.env.REDIS_URL) || REDIS !== undefined;

/**
 * A Redis for one test file: REDIS_URL if set (then `prefix` keeps the test to keys of its own),
 * otherwise a throwaway redis-server on a free loopback port, with no persistence, stopped after.
 */
export async function startRedis() {
  const prefix = `{sbtest-${randomBytes(4).toString('hex')}}`;
  if (process.env.REDIS_URL) return { url: process.env.REDIS_URL, prefix, stop: async () => {} };
  if (!REDIS)
    throw new Error(
      'redis-server is not installed (Debian: apt-get install redis-server), and REDIS_URL is not set',
    );
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-'));
  const child = spawn(
    REDIS,
    [
      '--port',
      String(port),
      '--bind',
      '127.0.0.1',
      '--save',
      '',
      '--appendonly',
      'no',
      '--dir',
      dir,
      '--maxmemory-policy',
      'noeviction',
    ],
    {
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      if (/Ready to accept connections/.test(output)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${output}`)));
  });
  return {
    url: `redis://127.0.0.1:${port}`,
    prefix,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}
