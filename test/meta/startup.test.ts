import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

/**
 * What a command loads, recorded by a module hook in the real binary (not how long it takes:
 * docs/performance.md has the timings): the commands people run to look around load none of
 * the heavy libraries that only delivery needs.
 */
const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'packages', 'cli', 'bin', 'scorebridge.js');
const HEAVY =
  /\/node_modules\/(bullmq|ioredis|jsforce|ssh2|ssh2-sftp-client|express|axios|pino|prom-client)\//;

const dir = mkdtempSync(join(tmpdir(), 'sb-startup-'));
writeFileSync(
  join(dir, 'hooks.mjs'),
  `import { appendFileSync } from 'node:fs';
export async function resolve(specifier, context, next) {
  const result = await next(specifier, context);
  appendFileSync(process.env.SB_LOADED, result.url + '\\n');
  return result;
}
`,
);
writeFileSync(
  join(dir, 'register.mjs'),
  `import { register } from 'node:module';\nregister(${JSON.stringify(pathToFileURL(join(dir, 'hooks.mjs')).href)});\n`,
);

async function loadedBy(args: readonly string[]): Promise<{ code: number; modules: string[] }> {
  const record = join(dir, `loaded-${Math.random().toString(36).slice(2)}`);
  writeFileSync(record, '');
  const child = spawn(process.execPath, ['--import', join(dir, 'register.mjs'), bin, ...args], {
    cwd: root,
    env: { ...process.env, SB_LOADED: record },
    stdio: 'ignore',
  });
  const [code] = (await once(child, 'close')) as [number];
  return { code, modules: readFileSync(record, 'utf8').trim().split('\n') };
}

describe('start-up', () => {
  for (const args of [
    ['--help'],
    ['validate', 'pipelines/demo.yaml', 'pipelines/example-university.yaml'],
    ['parse', 'examples/scorelink-sample.txt'],
    ['adapter', 'new', '--help'],
  ])
    it(`scorebridge ${args.join(' ')} loads no delivery library`, async () => {
      const { code, modules } = await loadedBy(args);
      expect(code).toBe(0);
      expect(modules.length).toBeGreaterThan(5); // the hook saw the program load
      expect(modules.filter((m) => HEAVY.test(m))).toEqual([]);
    });

  it('run of a file pipeline loads the inline runner only: no BullMQ, ioredis or prom-client', async () => {
    // A source that refuses at once: the run fails after everything it needs has loaded.
    writeFileSync(
      join(dir, 'inline.yaml'),
      `name: inline\nsource:\n  baseUrl: http://127.0.0.1:9/scores\n  authcode: k\ndestinations:\n  - id: out\n    type: file\n    options:\n      directory: ${join(dir, 'out')}\n`,
    );
    const { code, modules } = await loadedBy([
      'run',
      join(dir, 'inline.yaml'),
      '--state-dir',
      join(dir, 'state'),
      '-q',
    ]);
    expect(code).not.toBe(0); // the source was unreachable, after loading
    expect(modules.some((m) => m.includes('/runtime/') && m.includes('runner'))).toBe(true);
    expect(modules.filter((m) => /\/node_modules\/(bullmq|ioredis|prom-client)\//.test(m))).toEqual(
      [],
    );
  });

  it('run loads what delivery needs (the hook sees them)', async () => {
    const { modules } = await loadedBy(['run', 'pipelines/example-university.yaml', '--dry-run']);
    expect(modules.some((m) => /\/node_modules\/(pino|bullmq|ioredis)\//.test(m))).toBe(true);
  });
});
