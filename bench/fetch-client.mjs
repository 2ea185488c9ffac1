// Child of fetch-memory.mjs: fetches the whole window (one request of 30 days), keeps each
// record's key and content hash as a ledger would, and reports.
import { createToeflAccessClient } from '@scorebridge/core';

const [baseUrl, authcode, now] = process.argv.slice(2);
const to = new Date(now);
const from = new Date(to.getTime() - 30 * 86_400_000);
const client = createToeflAccessClient({ baseUrl, authcode });
const started = process.hrtime.bigint();
let records = 0;
let issues = 0;
const ledger = new Map();
for await (const batch of client.fetch(from, to)) {
  for (const entry of batch) {
    if (entry.issues.length > 0) issues++;
    else {
      records++;
      ledger.set(entry.record.recordKey, entry.record.contentHash);
    }
  }
}
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
console.log(
  JSON.stringify({
    records,
    issues,
    ledgerEntries: ledger.size,
    requests: client.stats.requests,
    seconds,
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  }),
);
