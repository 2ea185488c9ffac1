// Full-record parse throughput of the ScoreLink parser against JSON.parse of the same records in
// their canonical JSON form, measured side by side in one run (interleaved rounds, best round of
// each), so the ratio does not depend on the machine.
import { execFileSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { ScoreLinkParser } from '@scorebridge/core';
import { benchLines } from './records.mjs';

const COUNT = 20_000;
const ROUNDS = 9;
const CHUNK = 64 * 1024;

export function parseThroughput() {
  const lines = benchLines(COUNT);
  const body = Buffer.from(`${lines.join('\n')}\n`);
  // Chunks as a stream delivers them: bytes cut anywhere, decoded as they arrive.
  const decoder = new TextDecoder();
  const chunks = [];
  for (let i = 0; i < body.length; i += CHUNK) {
    chunks.push(decoder.decode(body.subarray(i, i + CHUNK), { stream: true }));
  }
  const script = fileURLToPath(new URL('./canonical-json.mjs', import.meta.url));
  const json = execFileSync(process.execPath, [script, String(COUNT)], {
    encoding: 'utf8',
    maxBuffer: 1024 ** 3,
  })
    .split('\n')
    .filter(Boolean);
  const jsonBytes = json.reduce((n, j) => n + Buffer.byteLength(j) + 1, 0);

  let sink = 0;
  const scorelink = () => {
    const parser = new ScoreLinkParser();
    for (const chunk of chunks)
      for (const e of parser.push(chunk)) sink += e.record.fields.ibtTotal;
    for (const e of parser.end()) sink += e.record.fields.ibtTotal;
  };
  const jsonParse = () => {
    for (const j of json) sink += JSON.parse(j).ibtTotal;
  };
  const withHash = () => {
    const parser = new ScoreLinkParser();
    for (const chunk of chunks)
      for (const e of parser.push(chunk)) sink += e.record.contentHash.length;
    for (const e of parser.end()) sink += e.record.contentHash.length;
  };
  const best = { scorelink: Infinity, json: Infinity, withHash: Infinity };
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, fn] of [
      ['scorelink', scorelink],
      ['json', jsonParse],
      ['withHash', withHash],
    ]) {
      const t = performance.now();
      fn();
      best[name] = Math.min(best[name], performance.now() - t);
    }
  }
  if (sink === 0) throw new Error('nothing was parsed');
  const perSecond = (ms) => Math.round((COUNT / ms) * 1000);
  const mbPerSecond = (bytes, ms) => (bytes / 1e6 / (ms / 1000)).toFixed(0);
  return {
    records: COUNT,
    scorelink: {
      recordsPerSecond: perSecond(best.scorelink),
      mbPerSecond: mbPerSecond(body.length, best.scorelink),
    },
    scorelinkWithHash: {
      recordsPerSecond: perSecond(best.withHash),
      mbPerSecond: mbPerSecond(body.length, best.withHash),
    },
    jsonParse: {
      recordsPerSecond: perSecond(best.json),
      mbPerSecond: mbPerSecond(jsonBytes, best.json),
    },
    ratio: best.json / best.scorelink,
    ratioWithHash: best.json / best.withHash,
  };
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await parseThroughput());
