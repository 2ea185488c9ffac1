import { hash } from 'node:crypto';
import type { Layout } from '../layout/layout.js';
import { defaultLayouts } from '../layout/load.js';
import { buildRecord, type CompiledLayout, compileLayout } from '../record/record.js';
import { VALUE_PROBLEM_TEXT } from '../record/values.js';
import { type Blanks, blanksFor, compileFixedReader, type FixedReader } from './fixed-reader.js';
import { NO_ISSUES, type ParsedEntry, type ParseIssue, parseIssue } from './issues.js';

/** Options of the fixed-length (ScoreLink) parser. */
export interface ScoreLinkParserOptions {
  /**
   * Layouts recognised by record length, line by line; the first one's length is used to cut
   * bodies that have no record separators.
   * @default the shipped 1600 and legacy 900 layouts
   */
  layouts?: readonly Layout[];
  /**
   * A line longer than this is reported and skipped as it streams, so a body without line
   * breaks of an unexpected shape cannot grow memory without bound.
   * @default 64 × the longest record length
   */
  maxLineLength?: number;
}

interface LineLayout {
  readonly compiled: CompiledLayout;
  readonly read: FixedReader;
}

/**
 * A streaming parser for fixed-length ScoreLink bodies. Push text as it arrives; each call
 * returns the records completed so far. Records may be separated by `\n` or `\r\n`, or not at
 * all (then they are cut every record length). Memory stays constant: only the unfinished
 * line is held. Every problem becomes a {@link ParseIssue} and the good records still come out.
 */
export class ScoreLinkParser {
  readonly #byLength = new Map<number, LineLayout>();
  readonly #cutLength: number;
  readonly #maxLineLength: number;
  readonly #expected: string;
  #pending = '';
  #line = 0;
  #mode: 'unknown' | 'lines' | 'unseparated' = 'unknown';
  #skippingLongLine = false;
  // State of the record being read, for the `bad` callback of the compiled reader.
  #text = '';
  #compiled: CompiledLayout | undefined;
  #issues: ParseIssue[] | undefined;
  /** The current chunk holds U+FFFD, so its records need the (costly) per-record look. */
  #suspect = false;
  /** Runs of spaces stored as the current chunk is. */
  #blanks: Blanks = blanksFor('');
  readonly #bad = (field: number, from: number, to: number): string => {
    const f = this.#compiled!.fields[field]!;
    const problem = f.type === 'date' ? 'date' : 'score';
    (this.#issues ??= []).push(
      parseIssue(this.#line, `line ${this.#line}`, problem, VALUE_PROBLEM_TEXT[problem], f),
    );
    return this.#text.slice(from, to).trim();
  };

  constructor(options: ScoreLinkParserOptions = {}) {
    const layouts = options.layouts ?? defaultLayouts();
    for (const layout of layouts) {
      if (this.#byLength.has(layout.recordLength)) continue;
      const compiled = compileLayout(layout);
      this.#byLength.set(layout.recordLength, {
        compiled,
        read: readerOf(compiled),
      });
    }
    this.#cutLength = layouts[0]?.recordLength ?? 1600;
    this.#maxLineLength =
      options.maxLineLength ?? 64 * Math.max(...layouts.map((l) => l.recordLength));
    this.#expected = layouts.map((l) => `${l.recordLength} (${l.name})`).join(' or ');
  }

  /** Feeds decoded text; returns the entries of every record it completed. */
  push(text: string): ParsedEntry[] {
    const out: ParsedEntry[] = [];
    this.#suspect = this.#pending.includes('\uFFFD') || text.includes('\uFFFD');
    if (this.#mode === 'unseparated') {
      const joined = this.#pending + text;
      this.#blanks = blanksFor(joined);
      this.#pending = this.#cut(joined, out);
      return out;
    }
    let pos = 0;
    let nl = text.indexOf('\n');
    if (nl !== -1 && (this.#pending.length > 0 || this.#skippingLongLine)) {
      // The line begun in an earlier chunk ends here.
      this.#mode = 'lines';
      this.#line++;
      if (this.#skippingLongLine) this.#skippingLongLine = false;
      else {
        const line = this.#pending + text.slice(0, nl);
        this.#blanks = blanksFor(line);
        this.#emit(line, 0, endOfLine(line, 0, line.length), out);
      }
      this.#pending = '';
      pos = nl + 1;
      nl = text.indexOf('\n', pos);
    }
    // Whole lines are read in place: fields by offset from this (flat) chunk.
    this.#blanks = blanksFor(text);
    for (; nl !== -1; nl = text.indexOf('\n', pos)) {
      this.#mode = 'lines';
      this.#line++;
      this.#emit(text, pos, endOfLine(text, pos, nl), out);
      pos = nl + 1;
    }
    let rest = this.#pending + (pos === 0 ? text : text.slice(pos));
    if (this.#mode === 'unknown' && rest.length > this.#cutLength + 1) {
      this.#mode = 'unseparated';
      this.#blanks = blanksFor(rest);
      rest = this.#cut(rest, out);
    } else if (rest.length > this.#maxLineLength) {
      if (!this.#skippingLongLine) {
        const line = this.#line + 1;
        const reason = `longer than ${this.#maxLineLength} characters without a line break; skipped`;
        out.push({
          line,
          record: undefined,
          issues: [parseIssue(line, `line ${line}`, 'too-long', reason)],
        });
      }
      this.#skippingLongLine = true;
      rest = '';
    }
    this.#pending = rest;
    return out;
  }

  /** Ends the body: parses a final record that had no line break after it. */
  end(): ParsedEntry[] {
    const out: ParsedEntry[] = [];
    let rest = this.#pending;
    this.#suspect = rest.includes('\uFFFD');
    this.#blanks = blanksFor(rest);
    this.#pending = '';
    if (this.#skippingLongLine) {
      this.#skippingLongLine = false;
      return out;
    }
    if (this.#mode === 'unseparated') rest = this.#cut(rest, out);
    if (rest.trim().length > 0) {
      this.#line++;
      this.#emit(rest, 0, endOfLine(rest, 0, rest.length), out);
    }
    return out;
  }

  #cut(text: string, out: ParsedEntry[]): string {
    const n = this.#cutLength;
    let pos = 0;
    for (;;) {
      // Tolerate a line break between records even in an unseparated body.
      while (text.charCodeAt(pos) === 13 || text.charCodeAt(pos) === 10) pos++;
      if (text.length - pos < n) break;
      this.#line++;
      this.#emit(text, pos, pos + n, out);
      pos += n;
    }
    return text.slice(pos);
  }

  /** Parses `text[from..to)` as one record. */
  #emit(text: string, from: number, to: number, out: ParsedEntry[]): void {
    const line = this.#line;
    const layout = this.#byLength.get(to - from);
    if (!layout && to - from > this.#cutLength && (to - from) % this.#cutLength === 0) {
      // Several records on one line, without separators between them.
      for (let at = from; at < to; at += this.#cutLength)
        this.#emit(text, at, at + this.#cutLength, out);
      return;
    }
    if (!layout) {
      const chars = text.slice(from, to);
      if (chars.trim().length === 0) return; // blank lines between or after records
      const bytes = Buffer.byteLength(chars, 'utf8');
      const hint = this.#byLength.has(bytes)
        ? ` (its UTF-8 bytes number ${bytes}: the source may count bytes, not characters)`
        : '';
      const reason = `record is ${chars.length} characters; expected ${this.#expected}${hint}`;
      out.push({
        line,
        record: undefined,
        issues: [parseIssue(line, `line ${line}`, 'length', reason)],
        fingerprint: hash('sha256', chars, 'hex'),
      });
      return;
    }
    this.#text = text;
    this.#compiled = layout.compiled;
    this.#issues = undefined;
    const fields = layout.read(text, from, this.#bad, this.#blanks);
    const raw = text.slice(from, to);
    if (this.#suspect && raw.includes('\uFFFD')) {
      (this.#issues ??= []).push(
        parseIssue(
          line,
          `line ${line}`,
          'encoding',
          'holds bytes that are not valid text in the source encoding (try --encoding latin1)',
        ),
      );
    }
    const { record, missingKey } = buildRecord(layout.compiled, fields, raw, undefined, raw);
    for (const id of missingKey) {
      const f = layout.compiled.fields.find((x) => x.id === id) ?? { id };
      (this.#issues ??= []).push(
        parseIssue(
          line,
          `line ${line}`,
          'missing-key',
          'is blank, so the record cannot be identified',
          f,
        ),
      );
    }
    out.push({ line, record, issues: this.#issues ?? NO_ISSUES });
    this.#text = '';
  }
}

/** The end of a line's content: before a `\r` that precedes the line break. */
function endOfLine(text: string, from: number, to: number): number {
  return to > from && text.charCodeAt(to - 1) === 13 ? to - 1 : to;
}

/**
 * A layout's field reader, compiled once and shared by every parser of that layout: a parser per
 * response must not compile (and warm up) its own again.
 */
const readers = new WeakMap<CompiledLayout, FixedReader>();
export function readerOf(compiled: CompiledLayout): FixedReader {
  let read = readers.get(compiled);
  if (!read) {
    read = compileFixedReader(compiled.fields);
    readers.set(compiled, read);
  }
  return read;
}
