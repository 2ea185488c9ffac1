// `npm run bench`: the performance figures of docs/performance.md, measured in one run.
// Goals are ratios and bounds, never timed assertions in tests.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { backfill } from './backfill.mjs';
import { csvRendering } from './csv.mjs';
import { fetchMemory } from './fetch-memory.mjs';
import { fleet } from './fleet.mjs';
import { parseThroughput } from './parse-throughput.mjs';
import { queueBackfill } from './queue.mjs';
import { salesforceCalls } from './salesforce.mjs';
import { againstScript } from './script.mjs';
import { slateThroughput } from './slate.mjs';
import { webhookThroughput } from './webhook.mjs';

const GIB = 1024 ** 3;
const only = process.argv[2];
const rows = [];

if (!only || only === 'parse') {
  const t = parseThroughput();
  console.log(
    '\nFull-record parse throughput (20,000 realistic records, 64 KiB decoded chunks, best of 9 interleaved rounds)',
  );
  console.log(
    `  ScoreLink parser            ${t.scorelink.recordsPerSecond.toLocaleString('en')} records/s  ${t.scorelink.mbPerSecond} MB/s`,
  );
  console.log(
    `  ScoreLink parser + SHA-256  ${t.scorelinkWithHash.recordsPerSecond.toLocaleString('en')} records/s  ${t.scorelinkWithHash.mbPerSecond} MB/s`,
  );
  console.log(
    `  JSON.parse, same records    ${t.jsonParse.recordsPerSecond.toLocaleString('en')} records/s  ${t.jsonParse.mbPerSecond} MB/s`,
  );
  console.log(
    `  ratio parser / JSON.parse   ${t.ratio.toFixed(2)}x   (with content hash: ${t.ratioWithHash.toFixed(2)}x; goal: 2x)`,
  );
  rows.push(['parse ratio vs JSON.parse', `${t.ratio.toFixed(2)}x`, '>= 2x']);
}

if (!only || only === 'memory') {
  const script = fileURLToPath(new URL('./stream-memory.mjs', import.meta.url));
  const out = JSON.parse(
    execFileSync(process.execPath, [script, String(GIB)], { encoding: 'utf8' }),
  );
  console.log('\nStreaming a generated 1 GiB ScoreLink body through the parser (own process)');
  console.log(
    `  ${out.records.toLocaleString('en')} records in ${out.seconds.toFixed(1)} s (${Math.round(out.records / out.seconds).toLocaleString('en')} records/s), ${out.issues} issues`,
  );
  console.log(`  peak RSS ${out.peakRssMb.toFixed(0)} MB (goal: under 200 MB)`);
  rows.push(['1 GiB stream peak RSS', `${out.peakRssMb.toFixed(0)} MB`, '< 200 MB']);
}

if (!only || only === 'fetch') {
  const out = await fetchMemory();
  console.log(
    '\nA 100,000-record TOEFL Access response from the sandbox through client and parser (own process)',
  );
  console.log(
    `  ${out.records.toLocaleString('en')} records, ${out.requests} request, ${out.seconds.toFixed(1)} s, ${out.ledgerEntries.toLocaleString('en')} keys and hashes kept as a ledger would`,
  );
  console.log(`  peak RSS ${out.peakRssMb.toFixed(0)} MB (goal: under 200 MB)`);
  rows.push(['100k-record fetch peak RSS', `${out.peakRssMb.toFixed(0)} MB`, '< 200 MB']);
}

let inline;
if (!only || only === 'backfill') {
  const out = await backfill();
  inline = out;
  console.log(
    '\nA 100,000-record backfill from the sandbox to the file adapter, inline runner (own process)',
  );
  console.log(
    `  ${out.delivered.toLocaleString('en')} records delivered in ${out.slices} slices, ${out.seconds.toFixed(1)} s: ${out.recordsPerSecond.toLocaleString('en')} records/s`,
  );
  console.log(`  peak RSS ${out.peakRssMb.toFixed(0)} MB`);
  rows.push(['100k backfill records/s', out.recordsPerSecond.toLocaleString('en'), 'recorded']);
  rows.push(['100k backfill peak RSS', `${out.peakRssMb.toFixed(0)} MB`, 'recorded']);
}

if (!only || only === 'queue') {
  inline ??= await backfill();
  const out = await queueBackfill();
  console.log(
    '\nThe same 100,000-record backfill through worker mode: two `scorebridge worker` processes, redis-server (AOF everysec)',
  );
  console.log(
    `  ${out.delivered.toLocaleString('en')} records in ${out.slices} slices, ${out.seconds.toFixed(1)} s: ${out.recordsPerSecond.toLocaleString('en')} records/s (by worker: ${out.byWorker.map((n) => n.toLocaleString('en')).join(' + ')})`,
  );
  console.log(`  Redis commands per record ${out.commandsPerRecord.toFixed(2)}`);
  console.log(`  peak RSS per worker ${out.peakRssMb.map((m) => `${m.toFixed(0)} MB`).join(', ')}`);
  const ratio = out.recordsPerSecond / inline.recordsPerSecond;
  console.log(
    `  ratio to the inline runner on the same data: ${ratio.toFixed(2)}x (${inline.recordsPerSecond.toLocaleString('en')} records/s inline, in this run)`,
  );
  rows.push(['queue backfill records/s', out.recordsPerSecond.toLocaleString('en'), 'recorded']);
  rows.push(['queue / inline ratio', `${ratio.toFixed(2)}x`, 'recorded']);
  rows.push(['Redis commands per record', out.commandsPerRecord.toFixed(2), 'recorded']);
}

if (!only || only === 'webhook') {
  const out = await webhookThroughput();
  console.log(
    '\nWebhook delivery to a local receiver, batch mode (500 records, one signed message per batch)',
  );
  console.log(
    `  ${out.delivered.toLocaleString('en')} records in ${out.messages} messages, ${out.seconds.toFixed(1)} s: ${out.recordsPerSecond.toLocaleString('en')} records/s`,
  );
  rows.push(['webhook records/s', out.recordsPerSecond.toLocaleString('en'), 'recorded']);
}

if (!only || only === 'csv') {
  const c = await csvRendering();
  console.log(
    `\nCSV rendering of ${c.records.toLocaleString('en')} records (file and Slate destinations; the same cells, best of 5 interleaved)`,
  );
  console.log(
    `  recordsToCsv   ${c.writerMs.toFixed(0)} ms (${c.microsPerRecord.toFixed(1)} µs per record)\n  csv-stringify  ${c.libraryMs.toFixed(0)} ms\n  ratio          ${c.ratio.toFixed(2)}x`,
  );
  rows.push(['csv writer vs csv-stringify', `${c.ratio.toFixed(2)}x`, 'recorded']);
}

if (!only || only === 'slate') {
  const out = await slateThroughput();
  console.log(
    '\nA 100,000-record delivery to Slate over SFTP (OpenSSH sshd on loopback, CSV, one file)',
  );
  if (out.skipped) console.log(`  skipped: ${out.skipped}`);
  else {
    console.log(
      `  ${(out.bytes / 1e6).toFixed(1)} MB in ${out.seconds.toFixed(1)} s: ${out.mbPerSecond.toFixed(1)} MB/s (${out.recordsPerSecond.toLocaleString('en')} records/s)`,
    );
    console.log(
      `  of which CSV rendering (recordsToCsv) ${out.renderSeconds.toFixed(1)} s, upload and rename ${(out.seconds - out.renderSeconds).toFixed(1)} s (${(out.bytes / 1e6 / (out.seconds - out.renderSeconds)).toFixed(1)} MB/s)`,
    );
    rows.push(['slate 100k delivery MB/s', out.mbPerSecond.toFixed(1), 'recorded']);
  }
}

if (!only || only === 'salesforce') {
  const out = salesforceCalls();
  console.log(
    '\nSalesforce API calls for 10,000 reports (EDA: a test and five scores each; matching by e-mail), emulator driven by jsforce',
  );
  for (const [path, f] of Object.entries(out)) {
    console.log(
      `  ${path.padEnd(12)} ${f.writeCalls} write calls + ${f.matchingQueries} matching queries (+ ${f.calls.describe ?? 0} describe, ${f.calls.token ?? 0} token); ${f.delivered.toLocaleString('en')} delivered in ${f.seconds.toFixed(1)} s`,
    );
  }
  rows.push(['SF bulk calls / 10k', String(out.bulk.writeCalls), '<= 10']);
  rows.push(['SF collections calls / 10k', String(out.collections.writeCalls), 'recorded']);
}

if (!only || only === 'fleet') {
  const out = await fleet();
  const mb = (xs) => xs.map((m) => `${m.toFixed(0)} MB`).join(', ');
  console.log(
    `\nA fleet: two \`scorebridge worker\` processes over a directory of ${out.pipelines.toLocaleString('en')} pipelines (file and webhook destinations), redis-server`,
  );
  console.log(
    `  start-up ${out.startupMs.map((ms) => `${(ms / 1000).toFixed(1)} s`).join(', ')} (${out.schedulers.toLocaleString('en')} schedules; goal: 10 s)`,
  );
  console.log(`  Redis connections per process ${out.connectionsPerProcess} (goal: 12)`);
  console.log(
    `  idle Redis commands per second per process ${out.idleCommandsPerSecondPerProcess.toFixed(1)}, script-internal ones included (goal: 5)`,
  );
  console.log(
    `  RSS per process idle ${mb(out.idleRssMb)}, peak ${mb(out.peakRssMb)} (goal: 300 MB)`,
  );
  console.log(
    `  reload (SIGHUP) of every file ${(out.reloadMs / 1000).toFixed(1)} s; due schedule to its run starting: median ${out.dueToStartMs.median} ms, at most ${out.dueToStartMs.max} ms (${out.dueToStartMs.runs} runs)`,
  );
  rows.push(['fleet start-up', `${(Math.max(...out.startupMs) / 1000).toFixed(1)} s`, '<= 10 s']);
  rows.push(['fleet connections/process', String(out.connectionsPerProcess), '<= 12']);
  rows.push(['fleet idle commands/s', out.idleCommandsPerSecondPerProcess.toFixed(1), '<= 5']);
  rows.push(['fleet peak RSS', `${Math.max(...out.peakRssMb).toFixed(0)} MB`, '<= 300 MB']);
  rows.push(['fleet due to run start', `${out.dueToStartMs.max} ms`, 'recorded']);
}

if (!only || only === 'script') {
  const sizes = process.argv.slice(3).map(Number).filter(Boolean);
  const out = await againstScript(sizes.length ? sizes : undefined);
  console.log(
    '\n`scorebridge run` (file destination, CSV, state synced) against the naive script, same sandbox, 90-day window, interleaved, best of 3, each a child process from spawn to exit',
  );
  for (const r of out) {
    const line = (name, x, cpu) =>
      `    ${name.padEnd(12)} ${x.seconds.toFixed(2)} s, ${Math.round(r.records / x.seconds).toLocaleString('en')} records/s, ${cpu.toFixed(0)} µs CPU per record, peak RSS ${x.peakRssMb.toFixed(0)} MB`;
    console.log(
      `  ${r.records.toLocaleString('en')} records: ratio ${r.ratio.toFixed(2)}x (goal: 1.5x); the sandbox alone serves the window in ${r.sandboxAlone.seconds.toFixed(2)} s, so no client can pass ${r.ceiling.toFixed(2)}x`,
    );
    console.log(line('scorebridge', r.scorebridge, r.cpuMicrosPerRecord.scorebridge));
    console.log(line('script', r.script, r.cpuMicrosPerRecord.script));
    rows.push([`vs script, ${r.records / 1000}k`, `${r.ratio.toFixed(2)}x`, '>= 1.5x']);
    rows.push([`ceiling vs script, ${r.records / 1000}k`, `${r.ceiling.toFixed(2)}x`, 'recorded']);
    rows.push([
      `run peak RSS, ${r.records / 1000}k`,
      `${r.scorebridge.peakRssMb.toFixed(0)} MB`,
      r.records >= 100_000 ? '<= 200 MB' : 'recorded',
    ]);
  }
}

console.log('\nSummary');
for (const [name, value, goal] of rows)
  console.log(`  ${name.padEnd(28)} ${value.padStart(8)}   goal ${goal}`);
