import { DestinationError } from '@scorebridge/core';
import { parse as parseCsv } from 'csv-parse/sync';
import { stringify as stringifyCsv } from 'csv-stringify/sync';
import type { Api, RowResult } from './api.js';
import type { ObjectRows, Row } from './profiles.js';

/**
 * Bulk API 2.0: create, upload, close, poll with backoff, then read the failed and unprocessed
 * rows when the job's counts say there are any. A job still running when polling gives up is
 * remembered in `bulkJobs` by `key`: the next attempt at the same batch re-attaches to it instead of
 * creating another.
 */
export async function bulkUpsert(
  api: Api,
  rows: ObjectRows,
  key: string,
  bulkJobs: Map<string, string>,
): Promise<RowResult[]> {
  await api.ready();
  const known = bulkJobs.get(key);
  const job = known
    ? api.conn.bulk2.job('ingest', { id: known })
    : api.conn.bulk2.createJob({
        object: rows.object,
        operation: 'upsert',
        externalIdFieldName: rows.externalId,
        lineEnding: 'LF',
      });
  if (!known) {
    await api.call(`create a Bulk job for ${rows.object}`, () => job.open(), true);
    bulkJobs.set(key, job.id!);
    await api.call(
      `upload to Bulk job ${job.id}`,
      () => job.uploadData(csvText(rows.rows.map((r) => r.row))),
      true,
    );
    await api.call(`close Bulk job ${job.id}`, () => job.close(), true);
  }
  const deadline = Date.now() + api.options.bulkPollSeconds * 1000;
  let info: {
    state: string;
    errorMessage?: string;
    numberRecordsProcessed?: number;
    numberRecordsFailed?: number;
  };
  for (let wait = 1000; ; wait = Math.min(wait * 2, 15_000)) {
    info = (await api.call(`poll Bulk job ${job.id}`, () => job.check(), true)) as typeof info;
    if (info.state === 'JobComplete') break;
    if (info.state === 'Failed' || info.state === 'Aborted') {
      bulkJobs.delete(key);
      throw new DestinationError(
        'unavailable',
        `${api.where}: Bulk job ${job.id} ${info.state.toLowerCase()}: ${info.errorMessage ?? 'no reason given'}`,
        { destination: api.destination },
      );
    }
    if (Date.now() + wait > deadline) {
      throw new DestinationError(
        'timeout',
        `${api.where}: Bulk job ${job.id} is still ${info.state} after ${api.options.bulkPollSeconds} s; the next attempt waits for the same job`,
        { destination: api.destination },
      );
    }
    await new Promise((r) => setTimeout(r, wait));
  }
  // Read raw and parsed here: jsforce's own parser splits on every delimiter Bulk API knows
  // (| ^ ; ` and tab too), which breaks record keys and any value holding one of them.
  const results = async (what: string, read: () => Promise<unknown>) =>
    parseCsv(String(await api.call(what, read, true)), {
      columns: true,
      skip_empty_lines: true,
    }) as Record<string, string>[];
  // Every row is successful, failed or unprocessed: the job's counts say which lists to read,
  // so a clean job costs no result calls at all.
  const processed = info.numberRecordsProcessed ?? 0;
  const failed =
    (info.numberRecordsFailed ?? 1) > 0
      ? await results('read Bulk failures', () => job.getFailedResults(true))
      : [];
  const unprocessed =
    processed < rows.rows.length
      ? await results('read unprocessed Bulk records', () => job.getUnprocessedRecords(true))
      : [];
  const sent = new Set(rows.rows.map((r) => String(r.row[rows.externalId])));
  const byKey = new Map<string, RowResult>();
  let listed = 0;
  for (const r of failed) {
    const [code, ...rest] = String(r.sf__Error ?? 'UNKNOWN_ERROR').split(':');
    const at = String(r[rows.externalId]);
    if (!sent.has(at)) continue;
    listed++;
    byKey.set(at, { ok: false, code, message: rest.join(':').trim() });
  }
  for (const r of unprocessed)
    byKey.set(String(r[rows.externalId]), {
      ok: false,
      code: 'UNPROCESSED',
      message: 'Salesforce did not process this row',
    });
  // The job's count is the truth: a failure it counts that the list does not name is not
  // taken for a success. Then only the rows Salesforce lists as successful are.
  const counted = info.numberRecordsFailed ?? 0;
  if (listed < counted) {
    const ok = new Set(
      (await results('read Bulk successes', () => job.getSuccessfulResults(true))).map((r) =>
        String(r[rows.externalId]),
      ),
    );
    for (const at of sent)
      if (!ok.has(at) && !byKey.has(at))
        byKey.set(at, {
          ok: false,
          code: 'UNCONFIRMED',
          message: `Bulk job ${job.id} counted ${counted} failed rows but listed ${listed}; this row is not among its successes either: replay it`,
        });
  }
  bulkJobs.delete(key);
  return rows.rows.map((r) => byKey.get(String(r.row[rows.externalId])) ?? { ok: true });
}

/** Rows as Bulk API CSV (comma-separated, LF): relationship references as `Rel.ExtId` columns. */
function csvText(rows: readonly Row[]): string {
  const flat = rows.map((row) => {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(row)) {
      if (v && typeof v === 'object')
        for (const [ek, ev] of Object.entries(v as Record<string, unknown>)) out[`${k}.${ek}`] = ev;
      else out[k] = v;
    }
    return out;
  });
  const columns = [...new Set(flat.flatMap((r) => Object.keys(r)))];
  // Bulk API 2.0 ignores a blank cell; #N/A clears the field ("Prepare CSV Files").
  return stringifyCsv(
    flat.map((r) => columns.map((c) => (!(c in r) ? '' : r[c] === null ? '#N/A' : r[c]))),
    { header: true, columns, record_delimiter: 'unix' },
  );
}
