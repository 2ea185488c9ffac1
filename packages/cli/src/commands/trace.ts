import { formatEtsDate } from '@scorebridge/core';
import type { Pipeline } from '@scorebridge/runtime';
import {
  type DeadLetter,
  type RecordVersion,
  type StateStore,
  versionOrder,
} from '@scorebridge/runtime/inline';
import { EXIT, type Io, write } from '../io.js';
import { loadForState, withStore } from './state.js';
import type { TraceOptions } from './trace.command.js';
import { printJson } from './views.js';

/** One version of a report and what became of it at each destination. */
export interface TracedVersion extends RecordVersion {
  /** A newer version of its key was read: it is never sent (again) to any destination. */
  readonly superseded: boolean;
  readonly destinations: readonly {
    readonly id: string;
    readonly type: string;
    readonly confirmed: boolean;
    /** Open dead letters of this version at the destination (or unreadable in the source). */
    readonly deadLetters: readonly Pick<DeadLetter, 'id' | 'kind' | 'reason' | 'code'>[];
  }[];
}

/**
 * What the pipeline knows of one report, by appointment/registration number: each version met
 * (its content hash, the report window it was fetched in, what it changed) and, per
 * destination, whether it confirmed it or holds a dead letter for it. Keys, hashes and reasons
 * only — nothing personal is stored for this.
 */
export async function traceVersions(
  pipeline: Pipeline,
  store: StateStore,
  appointmentNumber: string,
): Promise<TracedVersion[]> {
  const name = pipeline.config.name;
  const versions = (await store.versionsOf(name, appointmentNumber)).sort(
    (a, b) =>
      a.recordKey.localeCompare(b.recordKey) || versionOrder(a).localeCompare(versionOrder(b)),
  );
  const letters = await store.deadLetters(name);
  const ledgers = new Map<string, Set<string>>();
  for (const d of pipeline.config.destinations) ledgers.set(d.id, await store.ledger(name, d.id));
  return versions.map((v, i) => ({
    ...v,
    superseded: versions[i + 1]?.recordKey === v.recordKey,
    destinations: pipeline.config.destinations.map((d) => ({
      id: d.id,
      type: d.type,
      confirmed: ledgers.get(d.id)!.has(v.contentHash),
      deadLetters: letters
        .filter(
          (l) =>
            l.contentHash === v.contentHash && (l.destination === d.id || l.destination === '*'),
        )
        .map(({ id, kind, reason, code }) => ({ id, kind, reason, ...(code ? { code } : {}) })),
    })),
  }));
}

/** `scorebridge trace <pipeline.yaml> <appointment-number>`. */
export async function traceCommand(
  file: string,
  appointmentNumber: string,
  options: TraceOptions,
  io: Io,
): Promise<number> {
  const pipeline = await loadForState(file);
  const traced = await withStore(options, pipeline, (store) =>
    traceVersions(pipeline, store, appointmentNumber),
  );
  if (options.json) {
    await printJson(io, 'trace', {
      pipeline: pipeline.config.name,
      appointmentNumber,
      versions: traced,
    });
    return traced.length > 0 ? EXIT.ok : EXIT.inputProblems;
  }
  if (traced.length === 0) {
    await write(
      io.stdout,
      `No report with appointment/registration number ${appointmentNumber} has been met by ${pipeline.config.name} (reports are traced from this release on).\n`,
    );
    return EXIT.inputProblems;
  }
  await write(io.stdout, renderTrace(traced));
  return EXIT.ok;
}

/** The trace as text, one block per record key. */
export function renderTrace(traced: readonly TracedVersion[]): string {
  const out: string[] = [];
  let key = '';
  for (const v of traced) {
    if (v.recordKey !== key) {
      key = v.recordKey;
      out.push(`${out.length > 0 ? '\n' : ''}${key}`);
    }
    out.push(
      `  version ${v.contentHash.slice(0, 12)}, fetched in the report window from ${formatEtsDate(new Date(v.at))} UTC: ${v.update ? `an update, ${v.update}` : 'the first version met'}`,
    );
    for (const d of v.destinations) {
      const letters = d.deadLetters.map((l) => `dead letter ${l.id}: ${l.reason}`);
      out.push(
        `    ${d.id} (${d.type}): ${d.confirmed ? 'confirmed' : v.superseded ? 'not sent: superseded by the newer version' : 'not confirmed'}${letters.length ? ` — ${letters.join('; ')}` : ''}`,
      );
    }
  }
  return `${out.join('\n')}\n`;
}
