import { readFileSync } from 'node:fs';
import {
  ConfigError,
  type JsonMapping,
  type Layout,
  type ParsedEntry,
  parseRecords,
  type ResponseFormat,
  resolveLayouts,
  type SourceEncoding,
  toCanonicalJson,
} from '@scorebridge/core';
import { stringify } from 'csv-stringify/sync';
import { EXIT, type Io, openInput, write } from '../io.js';

/** Output formats of `parse`. */
export type ParseOutput = 'ndjson' | 'json' | 'csv';

/** Options of `scorebridge parse`. */
export interface ParseCommandOptions {
  format: ResponseFormat;
  out: ParseOutput;
  layout?: string;
  encoding: SourceEncoding;
  jsonMap?: string;
}

/**
 * Parses a ScoreLink or JSON body into canonical records on stdout; each issue goes to stderr
 * with its line and field. Returns 1 when any record had an issue (good records still printed).
 */
export async function parseCommand(
  input: string,
  options: ParseCommandOptions,
  io: Io,
): Promise<number> {
  const layouts = resolveLayouts(options.layout);
  const writer = outputWriter(options.out, layouts);
  const source = input === '-' ? 'stdin' : input;
  let good = 0;
  let withIssues = 0;
  await write(io.stdout, writer.begin());
  try {
    for await (const batch of parseRecords(openInput(input, io), {
      format: options.format,
      layouts,
      encoding: options.encoding,
      jsonMapping: options.jsonMap ? readJsonMapping(options.jsonMap) : undefined,
    })) {
      let text = '';
      let problems = '';
      for (const entry of batch) {
        if (entry.issues.length === 0) {
          text += writer.record(entry, good++);
        } else {
          withIssues++;
          for (const issue of entry.issues)
            problems += `scorebridge: ${source}: ${issue.message}\n`;
        }
      }
      await write(io.stdout, text);
      await write(io.stderr, problems);
    }
  } finally {
    await write(io.stdout, writer.end());
  }
  const total = good + withIssues;
  await write(
    io.stderr,
    `scorebridge: ${source}: ${total} record${total === 1 ? '' : 's'}: ${good} good, ${withIssues} with issues\n`,
  );
  return withIssues > 0 ? EXIT.inputProblems : EXIT.ok;
}

interface OutputWriter {
  begin(): string;
  record(entry: ParsedEntry, index: number): string;
  end(): string;
}

function outputWriter(out: ParseOutput, layouts: readonly Layout[]): OutputWriter {
  const json = (entry: ParsedEntry) =>
    JSON.stringify({ line: entry.line, ...toCanonicalJson(entry.record!) });
  switch (out) {
    case 'json':
      return {
        begin: () => '[\n',
        record: (entry, index) => `${index === 0 ? '' : ',\n'}${json(entry)}`,
        end: () => '\n]\n',
      };
    case 'csv': {
      const ids = [
        ...new Set(
          layouts.flatMap((l) => l.fields.filter((f) => f.type !== 'filler').map((f) => f.id)),
        ),
      ];
      const columns = ['line', ...ids, 'recordKey', 'contentHash', 'scale'];
      return {
        begin: () => stringify([columns]),
        record: (entry) => {
          const row: Record<string, unknown> = {
            line: entry.line,
            ...toCanonicalJson(entry.record!),
          };
          return stringify([columns.map((c) => row[c] ?? '')]);
        },
        end: () => '',
      };
    }
    default:
      return { begin: () => '', record: (entry) => `${json(entry)}\n`, end: () => '' };
  }
}

function readJsonMapping(path: string): JsonMapping {
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
