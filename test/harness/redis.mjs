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

const CLI = REDIS?.replace(/redis-server$/, 'redis-cli');

/** Runs redis-cli with these arguments; resolves to what it printed. */
function redisCli(args) {
  return new Promise((resolve, reject) => {
    const child = spawn(CLI, args, { stdio: ['ignore', 'pipe', 'pipe'], env: realClockEnv() });
    let output = '';
    child.stdout.on('data', (c) => {
      output += c;
    });
    child.stderr.on('data', (c) => {
      output += c;
    });
    child.once('exit', (code) =>
      code === 0 ? resolve(output) : reject(new Error(`redis-cli ${args.join(' ')}: ${output}`)),
    );
  });
}

/**
 * A redis-server of a cluster or Sentinel set on a free loopback port: its own directory, an
 * append-only file synced on every write, noeviction, and these further arguments.
 */
async function server(kind, extra) {
  const port = await freePort();
  const dir = mkdtempSync(join(tmpdir(), `sb-redis-${kind}-`));
  const child = await launch([
    '--port',
    String(port),
    '--bind',
    '127.0.0.1',
    '--dir',
    dir,
    '--save',
    '',
    '--appendonly',
    'yes',
    '--appendfsync',
    'always',
    '--maxmemory-policy',
    'noeviction',
    ...extra,
  ]);
  return { port, child };
}

const until = async (what, check, ms = 30_000) => {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check().catch(() => false)) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
};

/**
 * A Redis Cluster of `masters` redis-servers on free loopback ports (no replicas), created with
 * `redis-cli --cluster create`, every slot covered before it resolves. `url` is a
 * `redis+cluster://` seed list; `nodes` each node's port and `redis://` URL.
 */
export async function startRedisCluster(options = {}) {
  const masters = options.masters ?? 3;
  const nodes = [];
  for (let i = 0; i < masters; i++) {
    const { port, child } = await server('cluster', [
      '--cluster-enabled',
      'yes',
      '--cluster-config-file',
      'nodes.conf',
      '--cluster-node-timeout',
      '2000',
    ]);
    nodes.push({ port, child, url: `redis://127.0.0.1:${port}` });
  }
  await redisCli([
    '--cluster',
    'create',
    ...nodes.map((n) => `127.0.0.1:${n.port}`),
    '--cluster-replicas',
    '0',
    '--cluster-yes',
  ]);
  await until('the cluster to cover every slot', async () =>
    (
      await Promise.all(nodes.map((n) => redisCli(['-p', String(n.port), 'cluster', 'info'])))
    ).every((info) => /cluster_state:ok/.test(info)),
  );
  return {
    url: `redis+cluster://${nodes.map((n) => `127.0.0.1:${n.port}`).join(',')}`,
    prefix: `{sbtest-${randomBytes(4).toString('hex')}}`,
    nodes: nodes.map(({ port, url }) => ({ port, url })),
    async stop() {
      for (const n of nodes) n.child.kill('SIGKILL');
    },
  };
}

/**
 * A Sentinel set: a master, one replica and three sentinels (quorum 2) on free loopback ports,
 * each server with an append-only file synced every write. `url` is a `redis+sentinel://` URL of
 * the master `name`; `killMaster()` SIGKILLs whichever server is master now, and `master()` asks
 * the sentinels which one that is.
 */
export async function startRedisSentinel() {
  const name = 'sbmaster';
  // Replicas sync at once (diskless sync otherwise waits 5 s for more replicas to join).
  const master = await server('sentinel', ['--repl-diskless-sync-delay', '0']);
  const replica = await server('sentinel', [
    '--replicaof',
    '127.0.0.1',
    String(master.port),
    '--repl-diskless-sync-delay',
    '0',
  ]);
  const servers = [master, replica];
  const sentinels = [];
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const dir = mkdtempSync(join(tmpdir(), 'sb-sentinel-'));
    const conf = join(dir, 'sentinel.conf');
    const { writeFileSync } = await import('node:fs');
    writeFileSync(
      conf,
      `port ${port}
bind 127.0.0.1
dir ${dir}
sentinel monitor ${name} 127.0.0.1 ${master.port} 2
sentinel down-after-milliseconds ${name} 1000
sentinel failover-timeout ${name} 5000
sentinel parallel-syncs ${name} 1
`,
    );
    const child = await launchSentinel(conf);
    sentinels.push({ port, child });
  }
  const ask = async () => {
    const out = await redisCli([
      '-p',
      String(sentinels[0].port),
      'sentinel',
      'get-master-addr-by-name',
      name,
    ]);
    return Number(out.trim().split('\n')[1]);
  };
  await until('the replica to sync', async () =>
    /master_link_status:up/.test(
      await redisCli(['-p', String(replica.port), 'info', 'replication']),
    ),
  );
  await until('the sentinels to see the replica', async () =>
    /num-slaves\n1\n/.test(
      await redisCli(['-p', String(sentinels[0].port), 'sentinel', 'master', name]),
    ),
  );
  return {
    url: `redis+sentinel://${sentinels.map((s) => `127.0.0.1:${s.port}`).join(',')}/${name}`,
    prefix: `{sbtest-${randomBytes(4).toString('hex')}}`,
    master: ask,
    async killMaster() {
      const port = await ask();
      const s = servers.find((x) => x.port === port);
      const other = servers.find((x) => x.port !== port);
      // Replication is asynchronous: the replica first catches up (a failover of a replica that
      // lags loses the writes it lacks, as Redis documents).
      const offset = async (p, field) =>
        Number(
          new RegExp(`${field}:(\\d+)`).exec(
            await redisCli(['-p', String(p), 'info', 'replication']),
          )?.[1] ?? -1,
        );
      await until('the replica to catch up', async () => {
        const [master, replica] = await Promise.all([
          offset(port, 'master_repl_offset'),
          offset(other.port, 'slave_repl_offset'),
        ]);
        return master > 0 && replica >= master;
      });
      s.child.kill('SIGKILL');
      return port;
    },
    /** Resolves once the sentinels name a master other than `port`. */
    failedOver: (port) =>
      until(
        'the sentinels to fail over',
        async () => {
          const now = await ask();
          return Number.isFinite(now) && now > 0 && now !== port;
        },
        60_000,
      ),
    async stop() {
      for (const s of [...sentinels, ...servers]) s.child.kill('SIGKILL');
    },
  };
}

async function launchSentinel(conf) {
  const child = spawn(REDIS, [conf, '--sentinel'], {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: realClockEnv(),
  });
  let output = '';
  await new Promise((resolve, reject) => {
    const onData = (chunk) => {
      output += chunk;
      if (/Sentinel ID is|monitor master/.test(output)) resolve();
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    child.once('exit', (code) => reject(new Error(`redis sentinel exited (${code}): ${output}`)));
  });
  child.stdout.resume();
  child.stderr.resume();
  return child;
}
