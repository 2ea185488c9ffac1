import { ConfigError } from '@scorebridge/core';
import { loadPipelineFile } from '../adapters.js';
import { EXIT, type Io, write } from '../io.js';
import { printJson } from '../json.js';
import type { ValidateOptions } from './validate.command.js';

/** `scorebridge validate`: every file checked, every problem listed. */
export async function validateCommand(
  files: string[],
  options: Partial<ValidateOptions>,
  io: Io,
): Promise<number> {
  let bad = 0;
  const results: Record<string, unknown>[] = [];
  for (const file of files) {
    try {
      const pipeline = await loadPipelineFile(file, { lenient: !options.resolve });
      const { name, destinations } = pipeline.config;
      results.push({ file, ok: true, pipeline: name, destinations: destinations.map((d) => d.id) });
      if (!options.json)
        await write(
          io.stdout,
          `${file}: ok (${name}, ${destinations.length} destination${destinations.length === 1 ? '' : 's'})\n`,
        );
    } catch (error) {
      if (!(error instanceof ConfigError)) throw error;
      bad++;
      results.push({ file, ok: false, problems: error.problems });
      if (!options.json)
        await write(io.stderr, error.problems.map((p) => `scorebridge: ${p}\n`).join(''));
    }
  }
  if (options.json) await printJson(io, 'validation', { ok: bad === 0, files: results });
  return bad > 0 ? EXIT.usage : EXIT.ok;
}
