import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '@scorebridge/core';
import {
  type DeadLetter,
  type DeliveryIntent,
  decodeAt,
  encodeAt,
  type Incident,
  oldestFirst,
  type RecordVersion,
  type RunRecord,
  type StateStore,
} from './store.js';

/**
 * State in a local directory, one folder per pipeline. Cursors are replaced atomically (write a
 * temporary file, sync, rename); ledgers, intents, dead letters and runs are append-only logs,
 * synced on every write, whose torn last line (a crash mid-write) is ignored on reading. A crash
 * at any point therefore loses nothing that was confirmed.
 */
export function createFileStateStore(root: string): StateStore {
  // Reading never creates anything (a dry run leaves no trace); writing creates the folder.
  const fileOf = async (pipeline: string, name: string) => join(root, pipeline, name);
  const writable = async (pipeline: string, name: string) => {
    await mkdir(join(root, pipeline), { recursive: true });
    return join(root, pipeline, name);
  };
  // The directory belongs to one run at a time (the lock); within it, incident changes take turns.
  let incidentsTurn: Promise<unknown> = Promise.resolve();
  const changeIncidents = <T>(
    pipeline: string,
    change: (all: Record<string, Incident>) => T,
  ): Promise<T> => {
    const turn = incidentsTurn.then(async () => {
      const path = await writable(pipeline, 'incidents.json');
      const all = (await readJson<Record<string, Incident>>(path)) ?? {};
      const result = change(all);
      await replace(path, `${JSON.stringify(all, null, 2)}\n`);
      return result;
    });
    incidentsTurn = turn.catch(() => undefined);
    return turn;
  };

  // Versions are read once per pipeline and kept up to date by this process's own writes.
  const versionMaps = new Map<string, Promise<Map<string, RecordVersion[]>>>();
  const versionsOf = (pipeline: string) => {
    let map = versionMaps.get(pipeline);
    if (!map) {
      map = (async () => {
        const out = new Map<string, RecordVersion[]>();
        for (const line of await readLog(await fileOf(pipeline, 'versions.log'))) {
          const [recordKey, contentHash, digest, at, update] = line.split('\t');
          if (!recordKey || !contentHash || !digest || !at) continue;
          keep(out, {
            recordKey,
            contentHash,
            digest,
            ...decodeAt(at),
            ...(update ? { update: update as RecordVersion['update'] } : {}),
          });
        }
        return out;
      })();
      versionMaps.set(pipeline, map);
    }
    return map;
  };

  /** Open dead letters by id: the log's additions less its resolutions. */
  async function openDeadLetters(pipeline: string): Promise<Map<string, DeadLetter>> {
    const open = new Map<string, DeadLetter>();
    for (const line of await readLog(await fileOf(pipeline, 'dead-letters.log'))) {
      const entry = parseJson<{ add?: DeadLetter; resolve?: string }>(line);
      if (entry?.add && !open.has(entry.add.id)) open.set(entry.add.id, entry.add);
      if (entry?.resolve) open.delete(entry.resolve);
    }
    return open;
  }

  async function cursors(pipeline: string): Promise<Record<string, string>> {
    try {
      return JSON.parse(await readFile(await fileOf(pipeline, 'cursors.json'), 'utf8')) as Record<
        string,
        string
      >;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ConfigError(
        `${await fileOf(pipeline, 'cursors.json')}: unreadable (${(cause as Error).message}); restore it or remove it to start from firstRunStart`,
      );
    }
  }

  return {
    async cursor(pipeline, destination) {
      const at = (await cursors(pipeline))[destination];
      return at ? new Date(at) : undefined;
    },
    async setCursor(pipeline, destination, at) {
      const all = { ...(await cursors(pipeline)), [destination]: at.toISOString() };
      await replace(await writable(pipeline, 'cursors.json'), `${JSON.stringify(all, null, 2)}\n`);
    },
    async ledger(pipeline, destination) {
      const ledger = new Set<string>();
      for (const line of await readLog(await fileOf(pipeline, `ledger.${destination}.log`))) {
        const tab = line.indexOf('\t');
        if (tab > 0) ledger.add(line.slice(tab + 1));
      }
      return ledger;
    },
    async versions(pipeline, keys) {
      const map = await versionsOf(pipeline);
      return keys.map((k) => [...(map.get(k) ?? [])]);
    },
    async versionsOf(pipeline, appointmentNumber) {
      const number = appointmentNumber.replace(/\s+/g, '');
      const map = await versionsOf(pipeline);
      return [...map.entries()]
        .filter(([key]) => key.split('|')[2] === number)
        .flatMap(([, list]) => list);
    },
    async recordVersions(pipeline, versions) {
      if (versions.length === 0) return;
      await append(
        await writable(pipeline, 'versions.log'),
        versions
          .map(
            (v) =>
              `${v.recordKey}\t${v.contentHash}\t${v.digest}\t${encodeAt(v)}\t${v.update ?? ''}\n`,
          )
          .join(''),
      );
      const map = await versionsOf(pipeline);
      for (const v of versions) keep(map, v);
    },
    async confirm(pipeline, destination, entries) {
      if (entries.length === 0) return;
      await append(
        await writable(pipeline, `ledger.${destination}.log`),
        entries.map(([k, h]) => `${k}\t${h}\n`).join(''),
      );
    },
    async addIntent(pipeline, destination, intent) {
      await append(
        await writable(pipeline, `intents.${destination}.log`),
        `${JSON.stringify({ add: intent })}\n`,
      );
    },
    async clearIntent(pipeline, destination, batchId) {
      await append(
        await writable(pipeline, `intents.${destination}.log`),
        `${JSON.stringify({ clear: batchId })}\n`,
      );
    },
    async intents(pipeline, destination) {
      const open = new Map<string, DeliveryIntent>();
      for (const line of await readLog(await fileOf(pipeline, `intents.${destination}.log`))) {
        const entry = parseJson<{ add?: DeliveryIntent; clear?: string }>(line);
        if (entry?.add) open.set(entry.add.batchId, entry.add);
        if (entry?.clear) open.delete(entry.clear);
      }
      return [...open.values()];
    },
    async addDeadLetters(pipeline, letters) {
      if (letters.length === 0) return 0;
      const open = new Set((await openDeadLetters(pipeline)).keys());
      const fresh = letters.filter((l) => !open.has(l.id) && open.add(l.id));
      if (fresh.length > 0)
        await append(
          await writable(pipeline, 'dead-letters.log'),
          fresh.map((letter) => `${JSON.stringify({ add: letter })}\n`).join(''),
        );
      return fresh.length;
    },
    async deadLetters(pipeline) {
      return [...(await openDeadLetters(pipeline)).values()].sort(oldestFirst);
    },
    async resolveDeadLetters(pipeline, ids) {
      if (ids.length === 0) return;
      await append(
        await writable(pipeline, 'dead-letters.log'),
        ids.map((id) => `${JSON.stringify({ resolve: id })}\n`).join(''),
      );
    },
    async incidents(pipeline) {
      return (
        (await readJson<Record<string, Incident>>(await fileOf(pipeline, 'incidents.json'))) ?? {}
      );
    },
    async setIncident(pipeline, key, incident) {
      await changeIncidents(pipeline, (all) => {
        if (incident) all[key] = incident;
        else delete all[key];
      });
    },
    async claimIncident(pipeline, key, incident, notifiedBy) {
      return changeIncidents(pipeline, (all) => {
        const previous = all[key];
        if (previous && Date.parse(previous.notifiedAt) > notifiedBy.getTime())
          return { claimed: false, previous };
        all[key] = { ...incident, openedAt: previous?.openedAt ?? incident.openedAt };
        return { claimed: true, ...(previous ? { previous } : {}) };
      });
    },
    async recordRun(pipeline, run) {
      await append(await writable(pipeline, 'runs.log'), `${JSON.stringify(run)}\n`);
    },
    async runs(pipeline, limit = 20) {
      const runs = (await readLog(await fileOf(pipeline, 'runs.log')))
        .map((line) => parseJson<RunRecord>(line))
        .filter((r): r is RunRecord => !!r);
      return runs.slice(-limit);
    },
    async lock(pipeline) {
      // Another process may have run since: versions are read again from the log.
      versionMaps.delete(pipeline);
      const path = await writable(pipeline, 'run.lock');
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const handle = await open(path, 'wx');
          await handle.writeFile(String(process.pid));
          await handle.close();
          return () => rm(path, { force: true });
        } catch (cause) {
          if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
          const holder = Number(await readFile(path, 'utf8').catch(() => ''));
          if (holder && alive(holder)) {
            throw new ConfigError(
              `pipeline ${pipeline} is being run by process ${holder}; wait for it to finish (state: ${path})`,
            );
          }
          await rm(path, { force: true }); // left by a run that died
        }
      }
      throw new ConfigError(`cannot take the run lock ${path}`);
    },
  };
}

/** Appends and syncs: when this resolves, the text survives a crash or power loss. */
/** Adds a version to its key's list, or replaces the one with its content hash. */
function keep(map: Map<string, RecordVersion[]>, v: RecordVersion): void {
  const list = map.get(v.recordKey) ?? [];
  const at = list.findIndex((x) => x.contentHash === v.contentHash);
  if (at >= 0) list[at] = v;
  else list.push(v);
  map.set(v.recordKey, list);
}

async function append(path: string, text: string): Promise<void> {
  const handle = await open(path, 'a');
  try {
    await handle.writeFile(text);
    await handle.datasync();
  } finally {
    await handle.close();
  }
}

/** Replaces a file atomically: readers see the old content or the new, never a mix. */
/** A JSON file's content, or undefined when it does not exist. */
async function readJson<T>(path: string): Promise<T | undefined> {
  try {
    return JSON.parse(await readFile(path, 'utf8')) as T;
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw new ConfigError(
      `${path}: unreadable (${(cause as Error).message}); remove it to start afresh`,
    );
  }
}

async function replace(path: string, text: string): Promise<void> {
  const temp = `${path}.${process.pid}.tmp`;
  const handle = await open(temp, 'w');
  try {
    await handle.writeFile(text);
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, path);
}

/** The complete lines of a log; a last line without its newline was torn by a crash and is skipped. */
async function readLog(path: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch (cause) {
    if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw cause;
  }
  const lines = text.split('\n');
  lines.pop(); // after the last newline: empty, or a torn line
  return lines.filter(Boolean);
}

function parseJson<T>(line: string): T | undefined {
  try {
    return JSON.parse(line) as T;
  } catch {
    return undefined;
  }
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (cause) {
    return (cause as NodeJS.ErrnoException).code === 'EPERM';
  }
}
