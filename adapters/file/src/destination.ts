import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import {
  type DeliveryBatch,
  type Destination,
  type DestinationContext,
  noScoreLinkLine,
  outcomesInOrder,
  type RecordOutcome,
  recordsToCsv,
  type ScoreRecord,
  splitForScoreLink,
  toCanonicalJson,
} from '@scorebridge/core';
import { fileError } from './errors.js';
import type { FileOptions } from './options.js';

const EXTENSION = { ndjson: 'ndjson', csv: 'csv', scorelink: 'txt' } as const;
const TEMP = '.partial-';

/**
 * A directory drop. Each batch becomes one file named from the batch id, so a batch delivered
 * twice is one file; it is written under a temporary name and renamed when complete, so no
 * reader ever sees half a file under a final name.
 */
export function createFileDestination(
  options: FileOptions,
  context: DestinationContext,
): Destination {
  // Relative to the pipeline file, like every path in a pipeline.
  const directory = resolve(context.baseDir ?? '.', options.directory);
  const prefix = options.prefix ?? context.pipeline;
  const name = (batchId: string) => `${prefix}-${batchId}.${EXTENSION[options.format]}`;
  const fail = (what: string, cause: unknown) =>
    fileError(what, directory, cause, context.destinationId);

  return {
    async check() {
      try {
        await mkdir(directory, { recursive: true });
        await access(directory, constants.W_OK);
        const probe = join(directory, `${TEMP}check-${randomBytes(4).toString('hex')}`);
        await (await open(probe, 'w')).close();
        await rm(probe);
      } catch (cause) {
        throw fail('writing a test file', cause);
      }
    },

    refuses: (record) =>
      noScoreLinkLine(record, options.format === 'scorelink', 'format csv or ndjson'),

    async deliver(batch: DeliveryBatch): Promise<RecordOutcome[]> {
      // Outcomes in record order: the refused ones now, the others once the file is written.
      const { accepted, refused } = splitForScoreLink(
        batch.records,
        options.format === 'scorelink',
        'format csv or ndjson',
      );
      const final = join(directory, name(batch.id));
      if (accepted.length > 0 && !(await exists(final))) {
        const temp = join(directory, `${TEMP}${name(batch.id)}-${randomBytes(4).toString('hex')}`);
        try {
          await mkdir(directory, { recursive: true });
          const file = await open(temp, 'wx');
          try {
            await file.writeFile(render(options.format, accepted));
            await file.sync();
          } finally {
            await file.close();
          }
          await rename(temp, final);
          await syncDirectory(directory);
        } catch (cause) {
          // Cleaning up may fail for the same reason the write did; the write's error is the one to report.
          await rm(temp, { force: true }).catch(() => undefined);
          throw fail(`writing ${name(batch.id)}`, cause);
        }
      }
      return outcomesInOrder(batch.records, refused);
    },

    async delivered(batchId: string) {
      return exists(join(directory, name(batchId)));
    },

    async close() {
      // Temporary files of deliveries interrupted by a crash, older than a minute, are removed.
      try {
        const cutoff = Date.now() - 60_000;
        for (const entry of await readdir(directory)) {
          if (!entry.startsWith(TEMP)) continue;
          const path = join(directory, entry);
          if ((await stat(path)).mtimeMs < cutoff) await rm(path, { force: true });
        }
      } catch {
        // Nothing to clean, or the directory is gone: either way nothing to do.
      }
    },
  };
}

function render(format: FileOptions['format'], records: readonly ScoreRecord[]): string {
  if (format === 'scorelink') return records.map((r) => `${r.raw}\n`).join('');
  if (format === 'ndjson')
    return records.map((r) => `${JSON.stringify(toCanonicalJson(r))}\n`).join('');
  return recordsToCsv(records);
}

async function exists(path: string): Promise<boolean> {
  try {
    await stat(path);
    return true;
  } catch {
    return false;
  }
}

async function syncDirectory(directory: string): Promise<void> {
  const dir = await open(directory, 'r');
  try {
    await dir.sync();
  } finally {
    await dir.close();
  }
}
