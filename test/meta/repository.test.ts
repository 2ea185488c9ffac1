import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { loadPipeline, pipelineJsonSchema } from '@scorebridge/runtime';
import ts from 'typescript';
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

  it('describes every option in the JSON Schema, for editors to show', () => {
    const undescribed: string[] = [];
    const walk = (node: unknown, path: string) => {
      if (!node || typeof node !== 'object') return;
      const o = node as Record<string, unknown>;
      for (const [key, value] of Object.entries((o.properties ?? {}) as Record<string, unknown>)) {
        if (!(value as { description?: string }).description) undescribed.push(`${path}.${key}`);
        walk(value, `${path}.${key}`);
      }
      for (const key of ['items', 'anyOf', 'oneOf', 'allOf', 'additionalProperties']) {
        const next = o[key];
        if (Array.isArray(next))
          next.forEach((n, i) => {
            walk(n, `${path}[${i}]`);
          });
        else walk(next, path);
      }
    };
    walk(JSON.parse(JSON.stringify(pipelineJsonSchema(ADAPTERS))), '');
    expect(undescribed).toEqual([]);
  });

  it('ships the current JSON Schema for editors (regenerate: npx scorebridge schema -o pipelines/pipeline.schema.json)', () => {
    const shipped = JSON.parse(
      readFileSync(join(root, 'pipelines', 'pipeline.schema.json'), 'utf8'),
    );
    expect(shipped).toEqual(JSON.parse(JSON.stringify(pipelineJsonSchema(ADAPTERS))));
  });

  it('keeps runtime and CLI modules small enough to read: no function past ~120 lines, no file past ~400', () => {
    const files = ['packages/runtime/src', 'packages/cli/src'].flatMap((dir) =>
      (readdirSync(join(root, dir), { recursive: true }) as string[])
        .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts') && !f.endsWith('.d.ts'))
        .map((f) => join(dir, f)),
    );
    expect(files.length).toBeGreaterThan(30);
    const long: string[] = [];
    for (const file of files) {
      const text = readFileSync(join(root, file), 'utf8');
      const lines = text.split('\n').length;
      if (lines > 400) long.push(`${file}: ${lines} lines`);
      const source = ts.createSourceFile(file, text, ts.ScriptTarget.Latest, true);
      const visit = (node: ts.Node) => {
        if (ts.isFunctionLike(node) && 'body' in node && node.body) {
          const from = source.getLineAndCharacterOfPosition(node.getStart()).line;
          const to = source.getLineAndCharacterOfPosition(node.end).line;
          if (to - from + 1 > 120)
            long.push(`${file}:${from + 1}: a function of ${to - from + 1} lines`);
        }
        ts.forEachChild(node, visit);
      };
      visit(source);
    }
    expect(long, 'split these (docs/development.md, "Layout")').toEqual([]);
  });
});
