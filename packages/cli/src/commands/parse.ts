import { readFileSync } from 'node:fs';
import {
  ConfigError,
  type JsonMapping,
  ParseError,
  parseRecords,
  type ResponseFormat,
  resolveLayouts,
} from '@scorebridge/core';
import { EXIT, type Io, openInput, write } from '../io.js';
import { RecordPrinter } from '../output.js';
import type { ParseOptions } from './parse.command.js';

/**
 * Parses a ScoreLink or JSON body into canonical records on stdout; each issue goes to stderr
 * with its line and field. Returns 1 when any record had an issue (good records still printed).
 */
export async function parseCommand(input: string, options: ParseOptions, io: Io): Promise<number> {
  const layouts = resolveLayouts(options.layout);
  const printer = new RecordPrinter(options.out, layouts, io);
  const source = input === '-' ? 'stdin' : input;
  let failed = true;
  try {
    for await (const batch of parseRecords(openInput(input, io), {
      format: options.format,
      layouts,
      encoding: options.encoding,
      jsonMapping: options.jsonMap ? readJsonMapping(options.jsonMap) : undefined,
    })) {
      await printer.print(batch, source);
    }
    failed = false;
  } catch (error) {
    throw withFormatHint(error, options.format);
  } finally {
    await printer.end(failed);
  }
  await write(io.stderr, `scorebridge: ${source}: ${printer.summary()}\n`);
  return printer.withIssues > 0 ? EXIT.inputProblems : EXIT.ok;
}

/** A body of the other format than the one asked for: the error says which `--format` reads it. */
export function withFormatHint(error: unknown, format: ResponseFormat): unknown {
  if (!(error instanceof ParseError) || !error.looksLike || error.looksLike === format)
    return error;
  return new ParseError(error.message, {
    cause: error,
    remedy: `it looks like ${error.looksLike === 'json' ? 'JSON' : 'ScoreLink'}: did you mean --format ${error.looksLike}?`,
  });
}

/** Reads a `--json-map` file: `{"fields": {"<JSON key>": "<layout id>"}}`. */
export function readJsonMapping(path: string): JsonMapping {
  let parsed: unknown;
  try {
    parsed = JSON.parse(readFileSync(path, 'utf8'));
  } catch (cause) {
    throw new ConfigError(`${path}: cannot read the JSON mapping (${(cause as Error).message})`, {
      cause,
      where: path,
    });
  }
  const fields = (parsed as { fields?: unknown })?.fields;
  if (
    !fields ||
    typeof fields !== 'object' ||
    Object.values(fields).some((v) => typeof v !== 'string')
  ) {
    throw new ConfigError(
      `${path}: a JSON mapping is {"fields": {"<JSON key>": "<layout id>", …}}`,
      { where: path },
    );
  }
  return { fields: fields as Record<string, string> };
}
