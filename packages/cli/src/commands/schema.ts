import { writeFileSync } from 'node:fs';
import { ConfigError } from '@scorebridge/core';
import { pipelineJsonSchema } from '@scorebridge/runtime';

import { builtInAdapters, loadAdapter } from '../adapters.js';
import { EXIT, type Io, write } from '../io.js';
import type { SchemaOptions } from './schema.command.js';

/** `scorebridge schema`: the JSON Schema of pipeline files. */
export async function schemaCommand(options: SchemaOptions, io: Io): Promise<number> {
  const adapters = await builtInAdapters();
  for (const name of options.adapter ?? []) {
    const found = await loadAdapter(name);
    if ('problem' in found) throw new ConfigError(`--adapter ${name}: ${found.problem}`);
    adapters.push(found);
  }
  const text = `${JSON.stringify(pipelineJsonSchema(adapters), null, 2)}\n`;
  if (options.output) {
    writeFileSync(options.output, text);
    await write(io.stderr, `scorebridge: wrote ${options.output}\n`);
  } else await write(io.stdout, text);
  return EXIT.ok;
}
