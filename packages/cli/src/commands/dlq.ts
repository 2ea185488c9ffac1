import { ConfigError, type DestinationLogger, formatEtsDate } from '@scorebridge/core';
import {
  type DeadLetter,
  type RunSummary,
  runPipeline,
  type StateStore,
} from '@scorebridge/runtime/inline';

import type { LoadedPipeline } from '../adapters.js';
import { EXIT, type Io, write } from '../io.js';
import { createLogger } from '../logging.js';
import type { DlqListOptions, DlqReplayOptions } from './dlq.command.js';
import { load, loadForState, withStore } from './state.js';
import { printJson } from './views.js';

/** `scorebridge dlq list`. */
export async function dlqListCommand(
  file: string,
  options: DlqListOptions,
  io: Io,
): Promise<number> {
  const pipeline = await loadForState(file);
  const letters = await withStore(options, pipeline, (store) =>
    store.deadLetters(pipeline.config.name),
  );
  if (options.json) {
    await printJson(io, 'dead-letters', { pipeline: pipeline.config.name, letters });
    return EXIT.ok;
  }
  if (letters.length === 0) {
    await write(io.stdout, 'No dead letters.\n');
    return EXIT.ok;
  }
  const rows = [['ID', 'KIND', 'DESTINATION', 'RECORD KEY', 'WINDOW (UTC)', 'REASON']];
  for (const l of letters) {
    rows.push([
      l.id,
      l.kind,
      l.destination,
      l.recordKey ?? '—',
      `${formatEtsDate(new Date(l.window.from))}–${formatEtsDate(new Date(l.window.to))}`,
      l.reason,
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  await write(
    io.stdout,
    `${rows.map((r) => r.map((cell, c) => (c === r.length - 1 ? cell : cell.padEnd(widths[c]!))).join('  ')).join('\n')}\n`,
  );
  return EXIT.ok;
}

/**
 * `scorebridge dlq replay`: fetches each dead letter's window again and re-delivers just those
 * records (a destination's rejects to that destination; unreadable records to every destination
 * once they read). Dead letters that no longer occur are resolved.
 */
export async function dlqReplayCommand(
  file: string,
  options: DlqReplayOptions,
  io: Io,
  extra: { client?: Parameters<typeof runPipeline>[0]['client'] } = {},
): Promise<number> {
  const pipeline = await load(file);
  const logger = createLogger(io.stderr, options.logLevel ?? 'warn');
  return withStore(options, pipeline, (store) =>
    replay(pipeline, store, options.id, io, logger, extra.client),
  );
}

async function replay(
  pipeline: LoadedPipeline,
  store: StateStore,
  ids: string[] | undefined,
  io: Io,
  logger: DestinationLogger,
  client: Parameters<typeof runPipeline>[0]['client'],
): Promise<number> {
  const options = { id: ids };
  const extra = { client };
  const name = pipeline.config.name;
  const all = await store.deadLetters(name);
  const chosen = options.id?.length ? all.filter((l) => options.id!.includes(l.id)) : all;
  const unknown = (options.id ?? []).filter((id) => !all.some((l) => l.id === id));
  if (unknown.length > 0)
    throw new ConfigError(
      `no open dead letter with id ${unknown.join(', ')} (see scorebridge dlq list)`,
    );
  let resolved = 0;
  for (const group of groupByWindowAndTarget(chosen)) {
    const summary = await runPipeline({
      pipeline,
      adapters: pipeline.adapters,
      store,
      from: new Date(group.window.from),
      to: new Date(group.window.to),
      only:
        group.destination === '*'
          ? undefined
          : {
              destinations: new Set([group.destination]),
              versions: new Set(
                group.letters.flatMap((l) => (l.contentHash ? [l.contentHash] : [])),
              ),
              recordKeys: new Set(
                group.letters.flatMap((l) => (!l.contentHash && l.recordKey ? [l.recordKey] : [])),
              ),
            },
      logger,
      client: extra.client,
      now: io.clock(),
    });
    const settled = group.letters.map((l) =>
      l.destination === '*'
        ? !summary.deadLettersSeen.has(l.id) && !summary.sourceFailed
          ? 'resolved'
          : 'open'
        : settledBy(summary, l),
    );
    await store.resolveDeadLetters(
      name,
      group.letters.filter((_, i) => settled[i] !== 'open').map((l) => l.id),
    );
    resolved += settled.filter((x) => x === 'resolved').length;
  }
  await write(
    io.stderr,
    `scorebridge: replayed ${chosen.length} dead letter(s): ${resolved} resolved, ${chosen.length - resolved} still open\n`,
  );
  return resolved === chosen.length ? EXIT.ok : EXIT.deadLettered;
}

/**
 * What a replay made of this letter: `resolved` when its version was delivered, or superseded by
 * a newer one read (that one is what the destination should hold); `replaced` when it was refused
 * again for another reason (a new letter, with that reason, is open in its place); `open` when it
 * was refused again alike, or not reached.
 */
function settledBy(summary: RunSummary, letter: DeadLetter): 'resolved' | 'replaced' | 'open' {
  const d = summary.destinations.find((x) => x.id === letter.destination);
  const outcome = letter.contentHash ? d?.outcomes?.get(letter.contentHash) : undefined;
  if (outcome === 'delivered' || outcome === 'superseded') return 'resolved';
  if (outcome === 'rejected') return summary.deadLettersSeen.has(letter.id) ? 'open' : 'replaced';
  if (letter.contentHash) return 'open';
  return d &&
    !d.failed &&
    !summary.sourceFailed &&
    !summary.deadLettersSeen.has(letter.id) &&
    d.delivered > 0
    ? 'resolved'
    : 'open';
}

/**
 * Dead letters to replay together: by window, destination and the batch they were refused in,
 * so that a batch's refused records are formed into one batch again — the same records in the
 * same order, hence the same webhook-ids when the whole batch (or one of its messages) was refused.
 */
function groupByWindowAndTarget(letters: readonly DeadLetter[]) {
  const groups = new Map<
    string,
    { window: DeadLetter['window']; destination: string; letters: DeadLetter[] }
  >();
  for (const l of letters) {
    const key = `${l.window.from}|${l.window.to}|${l.destination}|${l.batch ?? ''}`;
    const group = groups.get(key) ?? { window: l.window, destination: l.destination, letters: [] };
    group.letters.push(l);
    groups.set(key, group);
  }
  return [...groups.values()];
}
