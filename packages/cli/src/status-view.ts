import type { DeadLetter, Incident, Pipeline, RunRecord, StateStore } from '@scorebridge/runtime';

/**
 * Where a pipeline stands, read from its state: the one view `scorebridge status` prints (text or
 * `--json`) and the dashboard renders. Keys, counts, windows and reasons only.
 */
export interface PipelineStatus {
  readonly pipeline: string;
  readonly destinations: readonly {
    readonly id: string;
    readonly type: string;
    readonly cursor: string | null;
    /** Record versions confirmed (its ledger's size); read only when asked (it reads the ledger). */
    readonly confirmed?: number;
    readonly deadLetters: number;
  }[];
  /** Unreadable records (dead letters of every destination). */
  readonly sourceDeadLetters: number;
  readonly incidents: readonly ({ readonly key: string } & Incident)[];
  /** Recent runs, newest last. */
  readonly runs: readonly RunRecord[];
  /** Open dead letters, oldest first. */
  readonly letters: readonly DeadLetter[];
  readonly health: Health;
}

/** `failing`: an open alert or a failed last run; `attention`: dead letters or no run yet. */
export interface Health {
  readonly level: 'ok' | 'attention' | 'failing';
  readonly why: string;
}

export async function pipelineStatus(
  pipeline: Pipeline,
  store: StateStore,
  options: { readonly runs: number; readonly ledgers?: boolean },
): Promise<PipelineStatus> {
  const name = pipeline.config.name;
  const letters = await store.deadLetters(name);
  const destinations = [];
  for (const d of pipeline.config.destinations) {
    const cursor = await store.cursor(name, d.id);
    destinations.push({
      id: d.id,
      type: d.type,
      cursor: cursor?.toISOString() ?? null,
      ...(options.ledgers ? { confirmed: (await store.ledger(name, d.id)).size } : {}),
      deadLetters: letters.filter((l) => l.destination === d.id).length,
    });
  }
  const incidents = Object.entries(await store.incidents(name)).map(([key, i]) => ({ key, ...i }));
  const runs = await store.runs(name, options.runs);
  return {
    pipeline: name,
    destinations,
    sourceDeadLetters: letters.filter((l) => l.destination === '*').length,
    incidents,
    runs,
    letters,
    health: healthOf(runs, incidents.length, letters.length),
  };
}

function healthOf(runs: readonly RunRecord[], incidents: number, letters: number): Health {
  const last = runs.at(-1);
  if (incidents > 0) return { level: 'failing', why: `${incidents} open alert(s)` };
  if (last && !last.ok && !last.interrupted)
    return { level: 'failing', why: 'the last run failed' };
  if (letters > 0) return { level: 'attention', why: `${letters} dead letter(s) to look at` };
  if (!last) return { level: 'attention', why: 'no run yet' };
  return { level: 'ok', why: 'the last run went well' };
}
