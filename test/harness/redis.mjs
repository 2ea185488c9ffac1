import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.mjs';
import { realClockEnv } from './real-clock.mjs';

const REDIS = [
  '/usr/bin/redis-server',
  '/usr/local/bin/redis-server',
  '/usr/sbin/redis-server',
].find((p) => existsSync(p));

/** Whether a Redis is at hand: REDIS_URL, or redis-server to start (.ci/run installs it). */
export const haveRedis = Boolean(process.env.REDIS_URL) || REDIS !== undefined;

/**
 * A Redis for one test file: REDIS_URL if set (then `prefix` keeps the test to keys of its own),
 * otherwise a throwaway redis-server on a free loopback port, stopped after. With `own`, always a
 * redis-server of the test's own (REDIS_URL ignored), with an append-only file synced on every
 * write (or as `appendfsync` says), which `kill()` and `restart()` can take down and bring back
 * on the same port.
 */
export async function startRedis(options = {}) {
  const prefix = `{sbtest-${randomBytes(4).toString('hex')}}`;
  if (process.env.REDIS_URL && !options.own)
    return { url: process.env.REDIS_URL, prefix, stop: async () => {} };
  if (!REDIS)
    throw new Error(
      'redis-server is not installed (Debian: apt-get install redis-server), and REDIS_URL is not set',
    );
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), 'sb-redis-'));
  const args = [
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--save',
    '',
    '--dir',
    dir,
    '--maxmemory-policy',
    'noeviction',
    ...(options.own
      ? ['--appendonly', 'yes', '--appendfsync', options.appendfsync ?? 'always']
      : ['--appendonly', 'no']),
  ];
  let child = await launch(args);
  const exited = () =>
    child.exitCode !== null || child.signalCode !== null
      ? Promise.resolve()
      : new Promise((r) => child.once('exit', r));
  return {
    url: `redis://127.0.0.1:${port}`,
    prefix,
    async kill() {
      child.kill('SIGKILL');
      await exited();
    },
    async restart() {
      child = await launch(args);
    },
    async stop() {
      child.kill('SIGTERM');
      await exited();
    },
  };
}

async function launch(args) {
  const child = spawn(REDIS, args, { stdio: ['ignore', 'pipe', 'pipe'], env: realClockEnv() });
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
  child.stdout.resume();
  child.stderr.resume();
  return child;
}
