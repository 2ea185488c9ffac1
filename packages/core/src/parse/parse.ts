import { ParseError } from '../errors.js';
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
 * `ParseError` after yielding every record read before the problem; so does a ScoreLink body
 * that is plainly something else (a page, JSON, a short message), before yielding anything.
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
    let head = '';
    for await (const chunk of chunks) {
      if (head.length < SNIFF_CHARS) head += chunk.slice(0, SNIFF_CHARS - head.length);
      const elements = splitter.push(chunk);
      if (elements.length > 0) yield elements.map((text) => mapper.map(text, ++index));
    }
    try {
      splitter.end();
    } catch (error) {
      // No JSON at all, and the beginning could be a ScoreLink record: say so.
      const text = head.trimStart();
      if (index === 0 && text && !/^[{[<]/.test(text) && notScoreLink(head) === undefined)
        throw new ParseError((error as Error).message, { cause: error, looksLike: 'scorelink' });
      throw error;
    }
    return;
  }
  const parser = new ScoreLinkParser({ layouts });
  // The body's beginning is looked at before any of it becomes records (or dead letters).
  let head: string | undefined = '';
  for await (const chunk of chunks) {
    if (head !== undefined) {
      head += chunk;
      if (head.length < SNIFF_CHARS) continue;
      refuseIfNotScoreLink(head);
    }
    const entries = parser.push(head ?? chunk);
    head = undefined;
    if (entries.length > 0) yield entries;
  }
  if (head) {
    refuseIfNotScoreLink(head);
    const entries = parser.push(head);
    if (entries.length > 0) yield entries;
  }
  const last = parser.end();
  if (last.length > 0) yield last;
}

/** How much of a ScoreLink body is looked at first; no record is shorter (900 or 1600). */
const SNIFF_CHARS = 256;

/**
 * What a body that should be ScoreLink plainly is instead: a page, JSON, or text whose first
 * line is too short to be a record (ETS answers some failures with a 200 and a message). It
 * says what it looks like, never what it holds.
 */
export function notScoreLink(head: string): string | undefined {
  const text = head.trimStart();
  if (text === '') return undefined;
  if (text.startsWith('<')) return 'an HTML or XML document';
  if (text.startsWith('{') || text.startsWith('[')) return 'JSON';
  const line = /^[^\r\n]*/.exec(text)![0];
  const ended = line.length < text.length || head.length < SNIFF_CHARS;
  return ended && line.length < SNIFF_CHARS
    ? `text whose first line is ${line.length} character${line.length === 1 ? '' : 's'} long, too short for a record (900 or 1600)`
    : undefined;
}

function refuseIfNotScoreLink(head: string): void {
  const what = notScoreLink(head);
  if (what)
    throw new ParseError(`the body is not ScoreLink: it is ${what}`, {
      ...(what === 'JSON' ? { looksLike: 'json' as const } : {}),
    });
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
