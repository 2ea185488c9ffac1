import { mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { DestinationError } from '@scorebridge/core';
import { describe, expect, it } from 'vitest';
import { pipelineYaml } from '../../../../test/harness/pipeline.js';
import { run } from '../testing/run.test-helpers.js';

const root = join(import.meta.dirname, '..', '..', '..', '..');
const dist = (p: string) => pathToFileURL(join(root, p, 'dist', 'index.js')).href;

/** A package installed beside a pipeline: `node_modules/<name>` with this `index.js`. */
function installed(dir: string, name: string, code: string) {
  const at = join(dir, 'node_modules', name);
  mkdirSync(at, { recursive: true });
  writeFileSync(
    join(at, 'package.json'),
    JSON.stringify({ name, version: '1.0.0', type: 'module', exports: { '.': './index.js' } }),
  );
  writeFileSync(join(at, 'index.js'), code);
}

function pipelineWith(dir: string, types: readonly string[]): string {
  const file = join(dir, 'uni.yaml');
  writeFileSync(
    file,
    pipelineYaml({
      name: 'uni',
      baseUrl: 'https://toefl.example/scores',
      authcode: '${env:SB_NEVER_SET}',
      destinations: types
        .map(
          (type, i) =>
            `  - id: d${i}\n    type: ${JSON.stringify(type)}\n    options:\n      directory: ./out${i}\n      format: ndjson`,
        )
        .join('\n'),
    }),
  );
  return file;
}

describe('adapters found by package name', () => {
  it('loads an installed package a pipeline names as its type, beside the pipeline; validate and schema use its options', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-adapter-pkg-'));
    // (Built code only: a package beside a pipeline is plain JavaScript, loaded by Node itself.)
    installed(
      dir,
      '@acme/scorebridge-adapter-drop',
      `import { defineAdapter, z } from '${dist('packages/core')}';
export const adapter = defineAdapter({
  type: '@acme/scorebridge-adapter-drop',
  description: 'drops batches',
  optionsSchema: z.object({ directory: z.string(), format: z.enum(['ndjson', 'csv']) }).strict(),
  create: () => ({ async check() {}, async deliver() { return []; }, async close() {} }),
});`,
    );
    const file = pipelineWith(dir, ['@acme/scorebridge-adapter-drop', 'file']);
    const ok = await run(['validate', file]);
    expect(ok.stderr).toBe('');
    expect(ok.code).toBe(0);
    const cwd = process.cwd();
    process.chdir(dir);
    try {
      const schema = JSON.parse(
        (await run(['schema', '--adapter', '@acme/scorebridge-adapter-drop'])).stdout,
      );
      expect(JSON.stringify(schema)).toContain('"@acme/scorebridge-adapter-drop"');
    } finally {
      process.chdir(cwd);
    }
    // Its options are checked with its own schema, where they are written.
    writeFileSync(
      file,
      (await import('node:fs'))
        .readFileSync(file, 'utf8')
        .replace('format: ndjson', 'format: xlsx'),
    );
    const bad = await run(['validate', file]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/uni\.yaml:\d+:\d+: destinations\[0\]\.options\.format: /);
  });

  it('refuses a package of the wrong shape, an older contract, and a name not installed, each where it is named', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-adapter-bad-'));
    installed(dir, 'shapeless', `export const adapter = { type: 'shapeless', description: 'x' };`);
    installed(
      dir,
      'old-crm',
      `import { z } from '${dist('packages/core')}';
export default { type: 'old-crm', description: 'x', optionsSchema: z.object({}).passthrough(), create: () => ({}), contract: 0 };`,
    );
    const file = pipelineWith(dir, ['shapeless', 'old-crm', 'not-installed-crm', 'Not A Name']);
    const { code, stderr } = await run(['validate', file]);
    expect(code).toBe(2);
    expect(stderr).toContain(
      'destinations[0].type: the package shapeless is not a ScoreBridge adapter: it lacks optionsSchema (a zod 4 schema), create (a function) (export it as `adapter` or as the default export)',
    );
    expect(stderr).toContain(
      'destinations[1].type: the package old-crm is not a ScoreBridge adapter: it implements adapter contract 0, and this ScoreBridge speaks 1',
    );
    expect(stderr).toContain(
      'destinations[2].type: unknown destination type "not-installed-crm": not a built-in type (file, salesforce, slate-sftp, webhook), and no package not-installed-crm is installed beside the pipeline or in the working directory: npm install not-installed-crm',
    );
    expect(stderr).toContain(
      'destinations[3].type: unknown destination type "Not A Name": neither a built-in type',
    );
    for (const line of stderr.trim().split('\n'))
      expect(line).toMatch(/^scorebridge: .*uni\.yaml:\d+:\d+: destinations\[\d\]\.type: /);
  });

  it("an error made by another copy of @scorebridge/core is still a DestinationError to ScoreBridge's", async () => {
    const copy = (await import(`${dist('packages/core')}?another-copy`)) as {
      DestinationError: typeof DestinationError;
      ConfigError: new (p: string) => Error;
    };
    expect(copy.DestinationError).not.toBe(DestinationError);
    expect(new copy.DestinationError('auth', 'x')).toBeInstanceOf(DestinationError);
    expect(new copy.ConfigError('x')).not.toBeInstanceOf(DestinationError);
    expect(new Error('x')).not.toBeInstanceOf(DestinationError);
  });

  it('adapter new refuses a name that makes no package, and a folder that is not empty', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'sb-adapter-new-'));
    const bad = await run(['adapter', 'new', 'My CRM', '--dir', dir]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/adapter name "My CRM": use lower-case letters/);
    expect((await run(['adapter', 'new', 'crm', '--dir', dir, '--scope', '@acme'])).code).toBe(0);
    expect(readdirSync(join(dir, 'scorebridge-adapter-crm', 'src')).sort()).toEqual([
      'destination.test.ts',
      'destination.ts',
      'errors.ts',
      'index.ts',
      'options.ts',
    ]);
    const again = await run(['adapter', 'new', 'crm', '--dir', dir]);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/already exists and is not empty/);
  });
});
