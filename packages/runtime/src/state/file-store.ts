import { mkdir, open, readFile, rm, stat } from 'node:fs/promises';
import { join } from 'node:path';
import { ConfigError } from '@scorebridge/core';
import {
  alive,
  append,
  keep,
  openDeadLetterLog,
  openIntents,
  parseJson,
  readJson,
  readLog,
  readVersionLog,
  replace,
} from './files.js';
import {
  type DeadLetter,
  encodeAt,
  type Incident,
  oldestFirst,
  type RecordVersion,
  type RunCoordination,
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
  const files = pipelineFiles(root);
  return { ...recordState(files), ...historyState(files), ...runState(files) };
}

/** A pipeline's folder: reading never creates anything (a dry run leaves no trace); writing does. */
function pipelineFiles(root: string) {
  // The directory belongs to one run at a time (the lock); within it, JSON documents that
  // several jobs change (incidents, the run's coordination) take turns.
  let turn: Promise<unknown> = Promise.resolve();
  const writable = async (pipeline: string, name: string) => {
    await mkdir(join(root, pipeline), { recursive: true });
    return join(root, pipeline, name);
  };
  return {
    fileOf: async (pipeline: string, name: string) => join(root, pipeline, name),
    writable,
    /** Reads a JSON document, lets `change` change it in place, writes it back: one at a time. */
    change<D extends object, T>(
      pipeline: string,
      name: string,
      empty: () => D,
      change: (doc: D) => T,
    ): Promise<T> {
      const mine = turn.then(async () => {
        const path = await writable(pipeline, name);
        const doc = (await readJson<D>(path)) ?? empty();
        const result = change(doc);
        await replace(path, `${JSON.stringify(doc, null, 2)}\n`);
        return result;
      });
      turn = mine.catch(() => undefined);
      return mine;
    },
    /** Versions are read once per pipeline and kept up to date by this process's own writes. */
    versionMaps: new Map<string, Promise<Map<string, RecordVersion[]>>>(),
  };
}
type Files = ReturnType<typeof pipelineFiles>;

/** Every version met, by key: read once per pipeline, kept up to date by this process's writes. */
function versionsFor(files: Files, pipeline: string) {
  let map = files.versionMaps.get(pipeline);
  if (!map) {
    map = files.fileOf(pipeline, 'versions.log').then(readVersionLog);
    files.versionMaps.set(pipeline, map);
  }
  return map;
}

/** Cursors, ledgers, versions and intents. */
function recordState(
  files: Files,
): Pick<
  StateStore,
  | 'cursor'
  | 'setCursor'
  | 'ledger'
  | 'versions'
  | 'versionsOf'
  | 'recordVersions'
  | 'confirm'
  | 'addIntent'
  | 'clearIntent'
  | 'intents'
> {
  const { fileOf, writable } = files;
  const versionsOf = (pipeline: string) => versionsFor(files, pipeline);
  async function cursors(pipeline: string): Promise<Record<string, string>> {
    const path = await fileOf(pipeline, 'cursors.json');
    try {
      return JSON.parse(await readFile(path, 'utf8')) as Record<string, string>;
    } catch (cause) {
      if ((cause as NodeJS.ErrnoException).code === 'ENOENT') return {};
      throw new ConfigError(
        `${path}: unreadable (${(cause as Error).message}); restore it or remove it to start from firstRunStart`,
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
      const path = await writable(pipeline, `intents.${destination}.log`);
      const open = await openIntents(path);
      open.delete(batchId);
      // Once nothing is open, the log starts afresh (atomically): it holds what is pending, not
      // every batch ever announced — 10 MB after 100,000 records, read again by every run.
      if (open.size === 0) await replace(path, '');
      else await append(path, `${JSON.stringify({ clear: batchId })}\n`);
    },
    async intents(pipeline, destination) {
      return [
        ...(await openIntents(await fileOf(pipeline, `intents.${destination}.log`))).values(),
      ];
    },
  };
}

/** Dead letters, runs and incidents. */
function historyState(
  files: Files,
): Pick<
  StateStore,
  | 'addDeadLetters'
  | 'deadLetters'
  | 'resolveDeadLetters'
  | 'recordRun'
  | 'runs'
  | 'incidents'
  | 'setIncident'
  | 'claimIncident'
> {
  const { fileOf, writable } = files;
  /**
   * Open dead letters by id: the log's additions less its resolutions. Every delivery asks (to
   * resolve what it delivered), so the log is read again only when its size or time changed:
   * it is only ever appended to, here or by another command.
   */
  const read = new Map<string, { stamp: string; open: ReadonlyMap<string, DeadLetter> }>();
  async function openDeadLetters(pipeline: string): Promise<ReadonlyMap<string, DeadLetter>> {
    const path = await fileOf(pipeline, 'dead-letters.log');
    const info = await stat(path).catch(() => undefined);
    const stamp = info ? `${info.size}:${info.mtimeMs}` : 'none';
    const known = read.get(path);
    if (known?.stamp === stamp) return known.open;
    const open = info ? await openDeadLetterLog(path) : new Map<string, DeadLetter>();
    read.set(path, { stamp, open });
    return open;
  }
  const changeIncidents = <T>(pipeline: string, change: (all: Record<string, Incident>) => T) =>
    files.change(pipeline, 'incidents.json', () => ({}), change);
  return {
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
      // Every delivery resolves the letters of what it delivered, open or not: only open ones
      // are written (a run of 100,000 records wrote 98,000 resolutions of nothing, 3 MB).
      const open = await openDeadLetters(pipeline);
      const resolved = [...new Set(ids)].filter((id) => open.has(id));
      if (resolved.length === 0) return;
      await append(
        await writable(pipeline, 'dead-letters.log'),
        resolved.map((id) => `${JSON.stringify({ resolve: id })}\n`).join(''),
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
  };
}

/** What a pipeline's runs share while they go (`run.json`): its slot, claims, barriers, cancels. */
interface Coordination {
  slot?: { holder: string; until: number };
  /** Per `<run> <destination>`: owner by content hash, and when the claims lapse. */
  claims: Record<string, { until: number; owners: Record<string, string> }>;
  barriers: Record<string, { until: number; members: string[] }>;
  cancelled: Record<string, number>;
}

/** The run lock of an inline run, and the run slot and marks of worker-mode runs. */
function runState(files: Files): Pick<StateStore, RunCoordination | 'lock'> {
  const { writable } = files;
  const empty = (): Coordination => ({ claims: {}, barriers: {}, cancelled: {} });
  /** What has lapsed is let go of whenever the document is read. */
  const lapse = (doc: Coordination) => {
    const now = Date.now();
    if (doc.slot && doc.slot.until <= now) delete doc.slot;
    for (const [k, v] of Object.entries(doc.claims)) if (v.until <= now) delete doc.claims[k];
    for (const [k, v] of Object.entries(doc.barriers)) if (v.until <= now) delete doc.barriers[k];
    for (const [k, until] of Object.entries(doc.cancelled))
      if (until <= now) delete doc.cancelled[k];
    return doc;
  };
  const coordinate = <T>(pipeline: string, change: (doc: Coordination) => T) =>
    files.change<Coordination, T>(pipeline, 'run.json', empty, (doc) => change(lapse(doc)));
  /** Reads without writing (reading never creates the pipeline's folder). */
  const peek = async (pipeline: string) =>
    lapse((await readJson<Coordination>(await files.fileOf(pipeline, 'run.json'))) ?? empty());
  const lockHolder = async (pipeline: string) => {
    const path = await files.fileOf(pipeline, 'run.lock');
    const holder = Number(await readFile(path, 'utf8').catch(() => ''));
    return holder && alive(holder) ? holder : undefined;
  };
  return {
    async lock(pipeline) {
      // Another process may have run since: versions are read again from the log.
      files.versionMaps.delete(pipeline);
      const path = await writable(pipeline, 'run.lock');
      const slot = (await peek(pipeline)).slot?.holder;
      if (slot)
        throw new ConfigError(
          `pipeline ${pipeline} has a worker-mode run going (${slot}); wait for it to finish`,
        );
      for (let attempt = 0; attempt < 2; attempt++) {
        try {
          const handle = await open(path, 'wx');
          await handle.writeFile(String(process.pid));
          await handle.close();
          return () => rm(path, { force: true });
        } catch (cause) {
          if ((cause as NodeJS.ErrnoException).code !== 'EEXIST') throw cause;
          const holder = await lockHolder(pipeline);
          if (holder) {
            throw new ConfigError(
              `pipeline ${pipeline} is being run by process ${holder}; wait for it to finish (state: ${path})`,
            );
          }
          await rm(path, { force: true }); // left by a run that died
        }
      }
      throw new ConfigError(`cannot take the run lock ${path}`);
    },
    async takeRunSlot(pipeline, runId, { seconds, over }) {
      if (await lockHolder(pipeline)) return { taken: false, holder: 'inline' };
      return coordinate(pipeline, (doc) => {
        const holder = doc.slot?.holder;
        if (holder && holder !== runId && holder !== over) return { taken: false, holder };
        doc.slot = { holder: runId, until: Date.now() + seconds * 1000 };
        return { taken: true };
      });
    },
    async runSlot(pipeline) {
      return (await peek(pipeline)).slot?.holder;
    },
    async releaseRunSlot(pipeline, runId) {
      await coordinate(pipeline, (doc) => {
        if (doc.slot?.holder === runId) delete doc.slot;
      });
    },
    async claim(pipeline, runId, destination, owner, hashes, seconds) {
      return coordinate(pipeline, (doc) => {
        const scope = (doc.claims[`${runId} ${destination}`] ??= { until: 0, owners: {} });
        scope.until = Date.now() + seconds * 1000;
        return hashes.map((h) => (scope.owners[h] ??= owner) === owner);
      });
    },
    async addToBarrier(pipeline, runId, members, seconds) {
      await coordinate(pipeline, (doc) => {
        const barrier = (doc.barriers[runId] ??= { until: 0, members: [] });
        barrier.until = Date.now() + seconds * 1000;
        barrier.members = [...new Set([...barrier.members, ...members])];
      });
    },
    async barrier(pipeline, runId) {
      return (await peek(pipeline)).barriers[runId]?.members ?? [];
    },
    async leaveBarrier(pipeline, runId, members) {
      await coordinate(pipeline, (doc) => {
        const barrier = doc.barriers[runId];
        if (barrier) barrier.members = barrier.members.filter((m) => !members.includes(m));
      });
    },
    async cancelRun(pipeline, runId, seconds) {
      await coordinate(pipeline, (doc) => {
        doc.cancelled[runId] = Date.now() + seconds * 1000;
      });
    },
    async runCancelled(pipeline, runId) {
      return (await peek(pipeline)).cancelled[runId] !== undefined;
    },
  };
}
