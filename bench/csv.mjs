// CSV rendering for the file and Slate destinations: recordsToCsv (ScoreBridge's own writer)
// against csv-stringify, the general library it replaced, on the same 100,000 sandbox records
// and the same cells, interleaved, best of 5 rounds each. Both outputs are checked equal; the
// library's time excludes making its rows, so the ratio understates the writer's gain.
import { sampleRecords } from '@scorebridge/adapter-kit';
import { neutralizeFormula, recordsToCsv, toCanonicalJson } from '@scorebridge/core';
import { stringify } from 'csv-stringify/sync';

const RECORDS = 100_000;

export async function csvRendering() {
  const records = await sampleRecords(RECORDS, 7);
  const columns = Object.keys(toCanonicalJson(records[0]));
  const columnMap = Object.fromEntries(columns.map((c) => [c, c]));
  const cells = (r) => {
    const json = toCanonicalJson(r);
    return columns.map((c) => (json[c] == null ? '' : neutralizeFormula(String(json[c]))));
  };
  // The library is given its rows ready-made (not timed); the writer reads the records itself.
  const rows = [columns, ...records.map(cells)];
  const viaLibrary = () => stringify(rows);
  const viaWriter = () => recordsToCsv(records, { columns: columnMap });
  if (viaLibrary() !== viaWriter()) throw new Error('the two CSV renderings differ');
  const best = { writer: Infinity, library: Infinity };
  for (let round = 0; round < 5; round++) {
    for (const [name, render] of [
      ['writer', viaWriter],
      ['library', viaLibrary],
    ]) {
      const started = performance.now();
      render();
      best[name] = Math.min(best[name], performance.now() - started);
    }
  }
  return {
    records: records.length,
    writerMs: best.writer,
    libraryMs: best.library,
    microsPerRecord: (best.writer * 1000) / records.length,
    ratio: best.library / best.writer,
  };
}
