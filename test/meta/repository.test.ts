import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline, pipelineJsonSchema } from '@scorebridge/runtime';
import { describe, expect, it } from 'vitest';
import { builtInAdapters } from '../../packages/cli/src/adapters.js';

const ADAPTERS = await builtInAdapters();

const root = join(import.meta.dirname, '..', '..');

describe('the repository', () => {
  it('registers every adapter folder in the CLI', () => {
    const folders = readdirSync(join(root, 'adapters'));
    const registered = new Set(ADAPTERS.map((a) => a.type));
    for (const folder of folders) {
      const name = JSON.parse(readFileSync(join(root, 'adapters', folder, 'package.json'), 'utf8'))
        .name as string;
      expect(
        registered,
        `${name} (adapters/${folder}) is not in packages/cli/src/adapters.ts`,
      ).toContain(folder);
    }
  });

  it('has pipelines that all validate and name registered adapters', () => {
    const files = readdirSync(join(root, 'pipelines')).filter((f) => f.endsWith('.yaml'));
    expect(files.length).toBeGreaterThan(0);
    for (const file of files) {
      // References are checked for form: secrets are not at hand in CI.
      const { config } = loadPipeline(join(root, 'pipelines', file), {
        adapters: ADAPTERS,
        lenient: true,
      });
      for (const d of config.destinations) expect(ADAPTERS.map((a) => a.type)).toContain(d.type);
    }
  });

  it('ships the current JSON Schema for editors (regenerate: npx scorebridge schema -o pipelines/pipeline.schema.json)', () => {
    const shipped = JSON.parse(
      readFileSync(join(root, 'pipelines', 'pipeline.schema.json'), 'utf8'),
    );
    expect(shipped).toEqual(JSON.parse(JSON.stringify(pipelineJsonSchema(ADAPTERS))));
  });
});
