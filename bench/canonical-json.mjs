// Prints the canonical JSON form of the benchmark records, one per line. Run as a child process
// by parse-throughput.mjs so that parsing them here does not warm up (or skew) the process that
// measures the parser.
import { parseAll, toCanonicalJson } from '@scorebridge/core';
import { benchLines } from './records.mjs';

const count = Number(process.argv[2]);
const entries = await parseAll(`${benchLines(count).join('\n')}\n`);
process.stdout.write(
  `${entries.map((e) => JSON.stringify(toCanonicalJson(e.record))).join('\n')}\n`,
);
