import { randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { access, mkdir, open, readdir, rename, rm, stat } from 'node:fs/promises';
import { hostname } from 'node:os';
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
/** Temporary names say who writes them: `.partial-<name>~<host>~<pid>~<random>`. */
const OWNER = `~${hostname()}~${process.pid}~`;
/** A temporary file of another machine (or an unknown writer) is left alone this long. */
const FOREIGN_STALE_MS = 3_600_000;

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
  let cleaned: Promise<void> | undefined;

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
      // Before the first write: temporary files a killed run of this destination left behind.
      cleaned ??= removeStale(directory, `${TEMP}${prefix}-`);
      await cleaned;
      if (accepted.length > 0 && !(await exists(final))) {
        const temp = join(
          directory,
          `${TEMP}${name(batch.id)}${OWNER}${randomBytes(4).toString('hex')}`,
        );
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
      await removeStale(directory, `${TEMP}${prefix}-`);
    },
  };
}

/**
 * Removes the temporary files (names starting `start`) whose writer is gone: written on this
 * machine by a process no longer alive (a `kill -9`, a crash), or by anyone more than an hour
 * ago. A live writer's file, here or on another machine sharing the directory, is left alone.
 */
async function removeStale(directory: string, start: string): Promise<void> {
  try {
    for (const entry of await readdir(directory)) {
      if (!entry.startsWith(start)) continue;
      const [, host, pid] = entry.split('~');
      const path = join(directory, entry);
      // This machine's: its writer's pid says (a live writer's file is never taken, however old).
      const stale =
        host === hostname() && pid !== undefined
          ? !alive(Number(pid))
          : (await stat(path)).mtimeMs < Date.now() - FOREIGN_STALE_MS;
      if (stale) await rm(path, { force: true });
    }
  } catch {
    // Nothing to clean, or the directory is not there yet: either way nothing to do.
  }
}

function alive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === 'EPERM';
  }
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
