// Child of backfill.mjs: one backfill run, then its figures.
import { fileAdapter } from '@scorebridge/adapter-file';
import { createFileStateStore, loadPipeline, runPipeline } from '@scorebridge/runtime';

const [file, stateDir, from, to] = process.argv.slice(2);
const adapters = [fileAdapter];
const started = process.hrtime.bigint();
const summary = await runPipeline({
  pipeline: loadPipeline(file, { adapters }),
  adapters,
  store: createFileStateStore(stateDir),
  from: new Date(from),
  to: new Date(to),
});
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const delivered = summary.destinations[0].delivered;
console.log(
  JSON.stringify({
    fetched: summary.fetched,
    delivered,
    slices: summary.slices,
    seconds,
    recordsPerSecond: Math.round(delivered / seconds),
    peakRssMb: process.resourceUsage().maxRSS / 1024,
  }),
);
