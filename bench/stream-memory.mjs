// Streams a generated ScoreLink body of TOTAL_BYTES through the parser in 64 KiB byte chunks
// (as an HTTP response or a file stream would arrive) and reports peak RSS. Run in its own
// process so the figure is the parser's alone.
import { parseRecords } from '@scorebridge/core';
import { benchLines } from './records.mjs';

const TOTAL_BYTES = Number(process.argv[2] ?? 1024 ** 3);
const CHUNK = 64 * 1024;

async function* body() {
  const lines = benchLines(1000).map((line) => Buffer.from(`${line}\r\n`));
  let sent = 0;
  let i = 0;
  let pending = [];
  let size = 0;
  while (sent < TOTAL_BYTES) {
    const line = lines[i++ % lines.length];
    pending.push(line);
    size += line.length;
    sent += line.length;
    if (size >= CHUNK) {
      const chunk = Buffer.concat(pending);
      pending = [];
      size = 0;
      // Cut at a fixed size, not at record edges: records and characters straddle chunks.
      for (let at = 0; at < chunk.length; at += CHUNK) yield chunk.subarray(at, at + CHUNK);
    }
  }
  if (pending.length > 0) yield Buffer.concat(pending);
}

const started = process.hrtime.bigint();
let records = 0;
let issues = 0;
for await (const batch of parseRecords(body())) {
  for (const entry of batch) {
    if (entry.issues.length > 0) issues++;
    else records++;
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const peakRssMb = process.resourceUsage().maxRSS / 1024;
console.log(JSON.stringify({ bytes: TOTAL_BYTES, records, issues, seconds, peakRssMb }));
