import { spawnSync } from 'node:child_process';
import {
  chmodSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { basename, join } from 'node:path';
import { runDestinationContract, sampleRecords, testContext } from '@scorebridge/adapter-kit';
import { parseAll, type ScoreRecord } from '@scorebridge/core';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { fileAdapter } from './index.js';
import type { FileOptions } from './options.js';

const fresh = () => mkdtempSync(join(tmpdir(), 'sb-file-'));

/** Every record version in a directory of NDJSON files. */
function storedNdjson(directory: string) {
  return readdirSync(directory)
    .filter((f) => f.endsWith('.ndjson'))
    .flatMap((f) => readFileSync(join(directory, f), 'utf8').trim().split('\n').filter(Boolean))
    .map((line) => JSON.parse(line) as { recordKey: string; contentHash: string });
}

runDestinationContract<FileOptions>('file', {
  adapter: fileAdapter,
  options: () => ({ directory: fresh(), format: 'ndjson' }),
  stored: async (options) => storedNdjson(options.directory),
  broken: [
    {
      name: 'a directory that is a file',
      options: () => {
        const file = join(fresh(), 'not-a-directory');
        writeFileSync(file, '');
        return { directory: join(file, 'sub'), format: 'ndjson' };
      },
      kind: 'config',
    },
    ...(process.getuid?.() === 0
      ? []
      : [
          {
            name: 'a directory without write permission',
            options: () => {
              const dir = fresh();
              chmodSync(dir, 0o500);
              return { directory: dir, format: 'ndjson' as const };
            },
            kind: 'config' as const,
          },
        ]),
  ],
  // A record from a JSON response has no fixed-length line to write in scorelink format.
  rejectable: {
    options: () => ({ directory: fresh(), format: 'scorelink' }),
    records: async () => {
      const body = {
        data: [
          {
            institution_code: '1234',
            appointment_number: '42',
            test_date: '2026-01-05',
            last_name: 'Zieliński',
          },
        ],
      };
      const [entry] = await parseAll(JSON.stringify(body), { format: 'json' });
      return [entry!.record!];
    },
  },
});

describe('file destination', () => {
  const context = testContext('files');
  const deliver = async (options: FileOptions, records: ScoreRecord[], id = 'b1') => {
    const destination = fileAdapter.create(fileAdapter.optionsSchema.parse(options), context);
    const outcomes = await destination.deliver({ id, pipeline: 'unit', records });
    await destination.close();
    return outcomes;
  };

  it('writes raw ScoreLink lines that parse back to the same records, and refuses JSON-sourced ones', async () => {
    const directory = fresh();
    const records = await sampleRecords(20);
    const [json] = await parseAll(
      '{"data":[{"institution_code":"1","appointment_number":"2","test_date":"2026-01-01"}]}',
      { format: 'json' },
    );
    const outcomes = await deliver({ directory, format: 'scorelink' }, [...records, json!.record!]);
    expect(outcomes.at(-1)).toMatchObject({ status: 'rejected', code: 'NO_SCORELINK_LINE' });
    const [file] = readdirSync(directory);
    expect(file).toMatch(/^unit-b1\.txt$/);
    const back = await parseAll(readFileSync(join(directory, file!), 'utf8'));
    expect(back.map((e) => e.record!.contentHash)).toEqual(records.map((r) => r.contentHash));
  });

  it('writes CSV that parses back, non-ASCII intact, formula-like cells neutralised', async () => {
    const directory = fresh();
    const records = await sampleRecords(30);
    const [formula] = await parseAll(
      '{"data":[{"institution_code":"1234","appointment_number":"77","test_date":"2026-01-01","last_name":"=HYPERLINK(\\"x\\")","first_name":"Łucja"}]}',
      { format: 'json' },
    );
    await deliver({ directory, format: 'csv', prefix: 'toefl' }, [...records, formula!.record!]);
    const [file] = readdirSync(directory);
    expect(file).toBe('toefl-b1.csv');
    const rows = parseCsv(readFileSync(join(directory, file!), 'utf8'), {
      columns: true,
    }) as Record<string, string>[];
    expect(rows).toHaveLength(31);
    expect(rows.slice(0, 30).map((r) => r.recordKey)).toEqual(records.map((r) => r.recordKey));
    expect(rows.slice(0, 30).map((r) => r.lastName)).toEqual(
      records.map((r) => r.fields.lastName ?? ''),
    );
    expect(rows[30]).toMatchObject({ lastName: `'=HYPERLINK("x")`, firstName: 'Łucja' });
  });

  it('never leaves a partial file under a final name, and cleans up stale partial files', async () => {
    const directory = fresh();
    mkdirSync(directory, { recursive: true });
    const stale = join(directory, '.partial-unit-old.ndjson-1234');
    writeFileSync(stale, 'half a file');
    const old = new Date(Date.now() - 3_600_000);
    const { utimesSync } = await import('node:fs');
    utimesSync(stale, old, old);
    // Left by a process of this machine that is gone (kill -9): removed at once, however new.
    const { hostname } = await import('node:os');
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], {
      encoding: 'utf8',
    }).stdout;
    const killed = join(directory, `.partial-unit-b0.ndjson~${hostname()}~${dead}~abcd`);
    writeFileSync(killed, 'half a file');
    // A live writer's (this process, another batch): kept.
    const live = join(directory, `.partial-unit-b9.ndjson~${hostname()}~${process.pid}~abcd`);
    writeFileSync(live, 'being written');
    // Another destination's: not this one's to remove.
    const other = join(directory, `.partial-other-b0.ndjson~${hostname()}~${dead}~abcd`);
    writeFileSync(other, 'not mine');
    await deliver({ directory, format: 'ndjson' }, await sampleRecords(5));
    expect(readdirSync(directory).sort()).toEqual(
      [basename(other), basename(live), 'unit-b1.ndjson'].sort(),
    );
  });
});
