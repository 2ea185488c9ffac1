import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import type { Writable } from 'node:stream';
import { type Clock, systemClock } from '@scorebridge/runtime/clock';

/** The streams a command writes to, and the clock it reads "now" from; tests pass their own. */
export interface Io {
  readonly stdout: Writable;
  readonly stderr: Writable;
  readonly stdin: NodeJS.ReadableStream;
  /** Where a run's window ends and what "the last 24 hours" means. */
  readonly clock: Clock;
}

/** The process's own streams and the system clock. */
export const processIo: Io = {
  stdout: process.stdout,
  stderr: process.stderr,
  stdin: process.stdin,
  clock: systemClock,
};

/** Writes and waits for the stream to drain when its buffer is full (large outputs stay in constant memory). */
export async function write(stream: Writable, text: string): Promise<void> {
  if (text.length > 0 && !stream.write(text)) await once(stream, 'drain');
}

/** A file path, or `-` for standard input, as a stream of chunks. */
export function openInput(path: string, io: Io): AsyncIterable<Uint8Array | string> {
  return path === '-' ? (io.stdin as AsyncIterable<Uint8Array | string>) : createReadStream(path);
}

/** Every exit status of `scorebridge`, in one place; docs/cli.md lists them in the same words. */
export const EXIT = {
  ok: 0,
  /** The input had problems, each reported (parse: unreadable lines; run: dead letters). */
  inputProblems: 1,
  deadLettered: 1,
  /** Usage or configuration error: nothing was processed. */
  usage: 2,
  /** TOEFL Access refused or failed. */
  source: 3,
  /** Only a destination failed (run, check, backfill): its cursor did not move. */
  destinationFailed: 4,
  /** 128 + SIGINT, as shells report a Ctrl-C. */
  interrupted: 130,
} as const;
