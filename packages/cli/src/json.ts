import { type Io, write } from './io.js';

/**
 * The machine-readable shapes of `--json` (documented in docs/cli.md, "JSON output"): one JSON
 * document on stdout per command, with `"version": 1`; a field is only ever added, never renamed
 * or removed, within a version. Exit statuses are the same as without `--json`.
 */
export const JSON_VERSION = 1;

/** Prints one `--json` document. */
export async function printJson(
  io: Io,
  kind: string,
  body: Record<string, unknown>,
): Promise<void> {
  await write(io.stdout, `${JSON.stringify({ version: JSON_VERSION, kind, ...body }, null, 2)}\n`);
}
