import { type ChildProcess, spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startSandbox } from '@scorebridge/sandbox';
import { afterAll, describe, expect, it } from 'vitest';
import { FIRST_RUN, NOW, pipelineYaml, SANDBOX_NOW } from '../harness/pipeline.js';

/**
 * A new destination as a user outside this repository makes one: `scorebridge adapter new`,
 * ScoreBridge's packed packages installed from their tarballs (as from the registry), the
 * scaffold's own contract tests, then a pipeline that names the adapter by package name.
 */

const root = join(import.meta.dirname, '..', '..');
const bin = join(root, 'packages', 'cli', 'bin', 'scorebridge.js');
const WORKSPACES = [
  'packages/core',
  'packages/adapter-kit',
  'packages/sandbox',
  'packages/runtime',
  'packages/cli',
  'adapters/file',
  'adapters/webhook',
  'adapters/salesforce',
  'adapters/slate-sftp',
];
const closers: (() => unknown)[] = [];
afterAll(async () => {
  for (const close of closers.reverse()) await close();
});

/** Runs a command to its end (never spawnSync: servers in this process must keep answering). */
async function sh(
  command: string,
  args: readonly string[],
  cwd: string,
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; out: string }> {
  const child: ChildProcess = spawn(command, args, { cwd, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (c) => (out += c));
  child.stderr!.on('data', (c) => (out += c));
  const [code] = (await once(child, 'close')) as [number];
  return { code, out };
}

const npm = (args: readonly string[], cwd: string) =>
  sh('npm', [...args, '--prefer-offline', '--no-audit', '--no-fund'], cwd);

/** The code blocks of docs/adapters.md that name their file on their first line (`// src/…`). */
function docFiles(): Record<string, string> {
  const text = readFileSync(join(root, 'docs', 'adapters.md'), 'utf8');
  const out: Record<string, string> = {};
  for (const m of text.matchAll(/```ts\n\/\/ (src\/[\w.-]+\.ts)\n([\s\S]*?)```/g))
    out[m[1]!] = m[2]!;
  return out;
}

describe('an adapter package made outside the repository', () => {
  it('scaffolds, builds and passes its contract tests; a pipeline names it by package and delivers once; docs/adapters.md is that code', async () => {
    const tmp = mkdtempSync(join(tmpdir(), 'sb-adapter-'));
    const packs = join(tmp, 'packs');
    mkdirSync(packs);
    const made = await sh(process.execPath, [bin, 'adapter', 'new', 'crm', '--dir', tmp], tmp);
    expect(made.code, made.out).toBe(0);
    expect(made.out).toContain('Wrote scorebridge-adapter-crm in');
    const pack = await npm(
      ['pack', '--pack-destination', packs, ...WORKSPACES.flatMap((w) => ['-w', w])],
      root,
    );
    expect(pack.code, pack.out).toBe(0);
    const tarball = (name: string) => join(packs, `scorebridge-${name}-0.1.0.tgz`);

    // The scaffold: ScoreBridge's core and kit from their tarballs, then its own npm test.
    const adapter = join(tmp, 'scorebridge-adapter-crm');
    const dev = ['core', 'adapter-kit', 'sandbox'].map(tarball);
    expect((await npm(['install', '-D', ...dev], adapter)).code).toBe(0);
    const tested = await npm(['test'], adapter);
    expect(tested.code, tested.out).toBe(0);
    expect(tested.out).toContain('7 passed');
    // The walkthrough's files are the scaffold's, and compile and pass as they stand.
    const docs = docFiles();
    expect(Object.keys(docs).sort()).toEqual(
      readdirSync(join(adapter, 'src'))
        .map((f) => `src/${f}`)
        .sort(),
    );
    for (const [file, text] of Object.entries(docs)) {
      expect(text, `docs/adapters.md's ${file} is the scaffold's`).toBe(
        readFileSync(join(adapter, file), 'utf8'),
      );
      writeFileSync(join(adapter, file), text);
    }
    const fromDocs = await npm(['test'], adapter);
    expect(fromDocs.code, fromDocs.out).toBe(0);
    expect((await npm(['run', 'build'], adapter)).code).toBe(0);
    expect((await npm(['pack', '--pack-destination', packs], adapter)).code).toBe(0);

    // A pipeline project: ScoreBridge and the adapter installed as packages.
    const project = join(tmp, 'pipelines');
    mkdirSync(project);
    writeFileSync(join(project, 'package.json'), '{ "name": "uni", "private": true }\n');
    const installed = await npm(
      ['install', ...readdirSync(packs).map((f) => join(packs, f))],
      project,
    );
    expect(installed.code, installed.out).toBe(0);

    const sandbox = await startSandbox({ seed: 8, records: 300, days: 60, now: SANDBOX_NOW });
    closers.push(() => sandbox.close());
    const batches = new Map<string, number>();
    let puts = 0;
    const crm = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        if (req.headers.authorization !== 'Bearer crm-key') return void res.writeHead(401).end();
        if (req.method === 'PUT') {
          puts++;
          batches.set(req.url!, (JSON.parse(body) as { records: unknown[] }).records.length);
        }
        res.writeHead(200).end();
      });
    });
    await new Promise<void>((resolve) => crm.listen(0, '127.0.0.1', resolve));
    closers.push(() => crm.close());
    writeFileSync(
      join(project, 'uni.yaml'),
      pipelineYaml({
        name: 'uni',
        baseUrl: '${env:SB_URL}',
        authcode: '${env:SB_KEY}',
        firstRunStart: FIRST_RUN,
        layout: join(root, 'packages/sandbox/layouts/ibt26-sandbox.json'),
        destinations: `
  - id: crm
    type: scorebridge-adapter-crm
    batchSize: 100
    options:
      url: http://127.0.0.1:${(crm.address() as AddressInfo).port}/
      apiKey: \${env:CRM_API_KEY}`,
      }),
    );
    const env = {
      ...process.env,
      SB_URL: sandbox.scoresUrl,
      SB_KEY: sandbox.authcode,
      CRM_API_KEY: 'crm-key',
    };
    const scorebridge = join(project, 'node_modules', '.bin', 'scorebridge');
    const run = (...more: string[]) =>
      sh(
        scorebridge,
        ['run', 'uni.yaml', '--to', NOW.toISOString(), '--json', ...more],
        project,
        env,
      );
    const first = await run();
    expect(first.code, first.out).toBe(0);
    const summary = JSON.parse(first.out.slice(first.out.indexOf('{'))) as {
      fetched: number;
      destinations: { id: string; delivered: number }[];
    };
    const delivered = summary.destinations[0]!.delivered;
    expect(delivered).toBeGreaterThan(200);
    expect([...batches.values()].reduce((a, b) => a + b, 0)).toBe(delivered);
    const before = puts;
    const again = await run();
    expect(again.code, again.out).toBe(0);
    expect(JSON.parse(again.out.slice(again.out.indexOf('{'))).destinations[0].delivered).toBe(0);
    expect(puts).toBe(before);
  }, 600_000);
});
