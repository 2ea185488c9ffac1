import { PassThrough, Readable } from 'node:stream';
import { type Clock, systemClock } from '@scorebridge/runtime';
import { main } from '../index.js';

/**
 * Runs the CLI in-process with captured output; `stdin` feeds standard input, `clock` is the
 * commands' "now" (a test that depends on the date fixes it).
 */
export async function run(
  args: string[],
  stdin = '',
  clock: Clock = systemClock,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const stdout = new PassThrough();
  const stderr = new PassThrough();
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  stdout.on('data', (c: Buffer) => out.push(c));
  stderr.on('data', (c: Buffer) => err.push(c));
  const code = await main(args, {
    stdout,
    stderr,
    stdin: Readable.from([Buffer.from(stdin)]),
    clock,
  });
  return {
    code,
    stdout: Buffer.concat(out).toString('utf8'),
    stderr: Buffer.concat(err).toString('utf8'),
  };
}
