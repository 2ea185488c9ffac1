import { type Layout, type ParsedEntry, toCanonicalJson } from '@scorebridge/core';
import { stringify } from 'csv-stringify/sync';
import { type Io, write } from './io.js';

/** How records are printed: one canonical JSON object per line, one JSON array, or CSV. */
export type RecordOutput = 'ndjson' | 'json' | 'csv';

interface OutputWriter {
  begin(): string;
  record(entry: ParsedEntry, index: number): string;
  end(): string;
}

/**
 * Prints parsed entries as they come: good records to stdout in the chosen form, each issue to
 * stderr prefixed with where it came from; counts both. Output streams (nothing is held back).
 */
export class RecordPrinter {
  readonly #writer: OutputWriter;
  readonly #io: Io;
  good = 0;
  withIssues = 0;

  constructor(out: RecordOutput, layouts: readonly Layout[], io: Io) {
    this.#writer = outputWriter(out, layouts);
    this.#io = io;
  }

  #begun = false;

  /** The header (CSV) or `[` (JSON), once, just before the first output. */
  async #begin(): Promise<void> {
    if (this.#begun) return;
    this.#begun = true;
    await write(this.#io.stdout, this.#writer.begin());
  }

  /** Prints one batch; `source` prefixes each issue (a file name, a window). */
  async print(batch: readonly ParsedEntry[], source: string): Promise<void> {
    await this.#begin();
    let records = '';
    let problems = '';
    for (const entry of batch) {
      if (entry.issues.length === 0) records += this.#writer.record(entry, this.good++);
      else {
        this.withIssues++;
        for (const issue of entry.issues) problems += `scorebridge: ${source}: ${issue.message}\n`;
      }
    }
    await write(this.#io.stdout, records);
    await write(this.#io.stderr, problems);
  }

  /**
   * Ends the output. After a failure before anything was printed, prints nothing: a CSV header
   * or an empty array would read as "no records" (`parse missing.txt --out csv > x.csv`).
   */
  async end(failed = false): Promise<void> {
    if (failed && !this.#begun) return;
    await this.#begin();
    await write(this.#io.stdout, this.#writer.end());
  }

  /** `6 records: 4 good, 2 with issues`. */
  summary(): string {
    const total = this.good + this.withIssues;
    return `${total} record${total === 1 ? '' : 's'}: ${this.good} good, ${this.withIssues} with issues`;
  }
}

function outputWriter(out: RecordOutput, layouts: readonly Layout[]): OutputWriter {
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
