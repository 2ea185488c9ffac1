import type { Layout } from '../layout/layout.js';
import { defaultLayouts } from '../layout/load.js';
import { type ParseInput, type SourceEncoding, textChunks } from './input.js';
import type { ParsedEntry } from './issues.js';
import { type JsonMapping, JsonRecordMapper } from './json.js';
import { JsonDataSplitter } from './json-splitter.js';
import { ScoreLinkParser } from './scorelink.js';

/** The two response formats of TOEFL Access. */
export type ResponseFormat = 'scorelink' | 'json';

/** Options of {@link parseRecords}. */
export interface ParseOptions {
  /** The body's format. @default 'scorelink' */
  format?: ResponseFormat;
  /**
   * Layouts to read with. ScoreLink lines are matched by length; JSON records are typed with
   * the first one.
   * @default the shipped 1600 and legacy 900 layouts
   */
  layouts?: readonly Layout[];
  /** JSON key names, for `format: 'json'`. @default match layout ids ignoring case and separators */
  jsonMapping?: JsonMapping;
  /** The body's text encoding. @default 'utf-8' */
  encoding?: SourceEncoding;
}

/**
 * Parses a TOEFL Access response body as it streams, yielding entries in batches (one batch
 * per input chunk). Good records and records with issues both come out, in order; a body that
 * cannot be read at all (a JSON response without a data array, or cut off) throws a
 * `ParseError` after yielding every record read before the problem.
 */
export async function* parseRecords(
  input: ParseInput,
  options: ParseOptions = {},
): AsyncGenerator<ParsedEntry[]> {
  const layouts = options.layouts ?? defaultLayouts();
  const chunks = textChunks(input, options.encoding);
  if (options.format === 'json') {
    const splitter = new JsonDataSplitter();
    const mapper = new JsonRecordMapper(layouts[0]!, options.jsonMapping);
    let index = 0;
    for await (const chunk of chunks) {
      const elements = splitter.push(chunk);
      if (elements.length > 0) yield elements.map((text) => mapper.map(text, ++index));
    }
    splitter.end();
    return;
  }
  const parser = new ScoreLinkParser({ layouts });
  for await (const chunk of chunks) {
    const entries = parser.push(chunk);
    if (entries.length > 0) yield entries;
  }
  const last = parser.end();
  if (last.length > 0) yield last;
}

/** Reads a whole body into a list of entries; for small inputs and tests. */
export async function parseAll(
  input: ParseInput,
  options: ParseOptions = {},
): Promise<ParsedEntry[]> {
  const all: ParsedEntry[] = [];
  for await (const batch of parseRecords(input, options))
    for (const entry of batch) all.push(entry);
  return all;
}
