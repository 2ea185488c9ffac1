import { randomBytes } from 'node:crypto';
import { posix } from 'node:path';
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
} from '@scorebridge/core';
import type SftpClient from 'ssh2-sftp-client';
import { sftpError } from './errors.js';
import { hostVerifier } from './host-key.js';
import { fileName, PART_SUFFIX } from './naming.js';
import type { SlateOptions } from './options.js';

/** Temporary files older than this are left by an interrupted delivery and are removed. */
const STALE_MS = 15 * 60_000;

/**
 * Files on Slate's SFTP server. Each delivery opens one connection, checks the host key before
 * anything is sent, uploads under a temporary name the import mask does not match, renames it in
 * the same directory once complete, and closes; every call has a deadline, `end()` included.
 * File names come from the batch id, so a retried batch finds its file complete and is done.
 */
export function createSlateDestination(
  options: SlateOptions,
  context: DestinationContext,
): Destination {
  const server = `${options.host}:${options.port}`;
  const directory = options.remoteDirectory.endsWith('/')
    ? options.remoteDirectory
    : `${options.remoteDirectory}/`;
  const deadline = options.timeoutSeconds * 1000;
  const ext = options.format === 'csv' ? 'csv' : 'txt';
  const fail = (what: string, cause: unknown) =>
    sftpError(what, cause, server, context.destinationId);

  /** Runs `op` on a new connection, then closes it; each step within the deadline. */
  async function session<T>(
    what: string,
    op: (
      sftp: SftpClient,
      step: <R>(name: string, p: () => Promise<R>) => Promise<R>,
    ) => Promise<T>,
  ): Promise<T> {
    // The library would print connection events to the console; the failures it rejects with
    // are reported through ScoreBridge's errors instead.
    const quiet = { error: () => undefined, end: () => undefined, close: () => undefined };
    // ssh2 is loaded at the first connection: validating a pipeline never loads it.
    const { default: Client } = await import('ssh2-sftp-client');
    const sftp = new Client(`scorebridge-${context.destinationId}`, quiet as never);
    const step = <R>(name: string, p: () => Promise<R>): Promise<R> => {
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          (sftp as unknown as { client: { destroy(): void } }).client.destroy();
          reject(
            Object.assign(
              new Error(`${name}: no answer within ${options.timeoutSeconds} s (deadline)`),
              { code: 'ETIMEDOUT' },
            ),
          );
        }, deadline);
      });
      return Promise.race([p(), timeout]).finally(() => clearTimeout(timer));
    };
    try {
      await step('connect', () =>
        sftp.connect({
          host: options.host,
          port: options.port,
          username: options.username,
          privateKey: options.privateKey?.reveal(),
          passphrase: options.passphrase?.reveal(),
          password: options.password?.reveal(),
          hostVerifier: hostVerifier(options.hostKey, options.host, options.port),
          readyTimeout: deadline,
        }),
      );
      return await op(sftp, step);
    } catch (cause) {
      throw fail(what, cause);
    } finally {
      await step('end', () => sftp.end()).catch(() =>
        (sftp as unknown as { client: { destroy(): void } }).client.destroy(),
      );
    }
  }

  const mode = Number.parseInt(options.fileMode, 8);

  return {
    async check() {
      await session(`writing a test file in ${directory}`, async (sftp, step) => {
        const probe = `${directory}.scorebridge-check-${randomBytes(4).toString('hex')}${PART_SUFFIX}`;
        await step('put', () => sftp.put(Buffer.from('ScoreBridge check\n'), probe));
        await step('delete', () => sftp.delete(probe));
      });
    },

    refuses: (record) => noScoreLinkLine(record, options.format === 'scorelink', 'format csv'),

    async deliver(batch: DeliveryBatch): Promise<RecordOutcome[]> {
      const { accepted, refused } = splitForScoreLink(
        batch.records,
        options.format === 'scorelink',
        'format csv',
      );
      if (accepted.length > 0) {
        const body = Buffer.from(render(accepted));
        const date = (batch.window?.to ?? new Date().toISOString())
          .slice(0, 10)
          .replaceAll('-', '');
        const final = posix.join(
          directory,
          fileName(options.fileName, {
            pipeline: batch.pipeline,
            destination: context.destinationId,
            batch: batch.id,
            date,
            ext,
          }),
        );
        await session(`uploading ${posix.basename(final)}`, async (sftp, step) => {
          // A retried delivery whose file is already there (renamed, so complete) is done.
          if ((await step('exists', () => sftp.exists(final))) !== '-') {
            const temp = `${final}.${randomBytes(3).toString('hex')}${PART_SUFFIX}`;
            // Created with the mode (never briefly open to others), then set exactly (no umask).
            await step('put', () => sftp.put(body, temp, { writeStreamOptions: { mode } }));
            await step('chmod', () => sftp.chmod(temp, mode));
            await step('rename', () => sftp.posixRename(temp, final));
          }
          await removeStale(sftp, step);
        });
      }
      return outcomesInOrder(batch.records, refused);
    },

    async close() {},
  };

  function render(records: readonly ScoreRecord[]): string {
    if (options.format === 'scorelink') return records.map((r) => `${r.raw}\r\n`).join('');
    return recordsToCsv(records, { columns: options.columns, dateFormat: options.dateFormat });
  }

  async function removeStale(
    sftp: SftpClient,
    step: <R>(name: string, p: () => Promise<R>) => Promise<R>,
  ): Promise<void> {
    const entries = await step('list', () => sftp.list(directory));
    const cutoff = Date.now() - STALE_MS;
    for (const entry of entries) {
      if (entry.type === '-' && entry.name.endsWith(PART_SUFFIX) && entry.modifyTime < cutoff) {
        await step('delete', () => sftp.delete(posix.join(directory, entry.name))).catch(
          () => undefined,
        );
      }
    }
  }
}
