import { existsSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import {
  ConfigError,
  createToeflAccessClient,
  type DestinationLogger,
  formatEtsDate,
  parseIsoInput,
  serializeError,
  silentLogger,
  UPDATE_CLASSES,
  type UpdateClass,
} from '@scorebridge/core';
import {
  createFileStateStore,
  type DeadLetter,
  destinationContext,
  type Incident,
  openRedisStateStore,
  type Pipeline,
  pipelineJsonSchema,
  queueControl,
  type Redis,
  type RunRecord,
  type RunSummary,
  redactRedisUrl,
  redisPrefix,
  runPipeline,
  type StateStore,
  sourceClientOptions,
} from '@scorebridge/runtime';

import {
  builtInAdapters,
  type LoadedPipeline,
  loadAdapter,
  loadPipelineFile,
} from '../adapters.js';
import { DEFAULT_STATE_DIR } from '../defaults.js';
import { EXIT, type Io, write } from '../io.js';
import { createLogger, type LogLevel } from '../logging.js';
import { RunProgress } from '../progress.js';
import { printJson, runView } from './views.js';

/** Where releases before 0.2 kept state: relative to the working directory. */
const LEGACY_STATE_DIR = '.scorebridge/state';

const load = (file: string, env?: NodeJS.ProcessEnv) => loadPipelineFile(file, { env });
/** For commands that only read state: the source's secrets need not be at hand. */
export const loadForState = (file: string) => loadPipelineFile(file, { lenient: true });

/**
 * Where state is kept: `--redis` (or SCOREBRIDGE_REDIS_URL) when given; else a directory —
 * `--state-dir`, SCOREBRIDGE_STATE_DIR, the pipeline's `state:` (relative to its file), or
 * {@link DEFAULT_STATE_DIR} beside the pipeline file. Never the working directory by itself: a
 * run from cron's `$HOME` finds the same state as one from the pipeline's folder.
 */
export interface StateOptions {
  stateDir?: string;
  redis?: string;
  /** For commands that run a pipeline: the least important log lines shown. @default 'warn' */
  logLevel?: LogLevel;
}

/** The state directory of a pipeline, by the precedence of {@link StateOptions}. */
export function stateDirectory(
  pipeline: Pipeline,
  flag: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string {
  if (flag) return resolve(flag);
  if (env.SCOREBRIDGE_STATE_DIR) return resolve(env.SCOREBRIDGE_STATE_DIR);
  return resolve(dirname(pipeline.file), pipeline.config.state ?? DEFAULT_STATE_DIR);
}

/**
 * A pipeline without state here whose state an earlier release kept relative to a working
 * directory (`.scorebridge/state/<name>` in this one, or beside or above the pipeline file):
 * running on would start over and deliver everything again, so this says how to move it.
 */
function legacyState(pipeline: Pipeline, directory: string): string | undefined {
  const name = pipeline.config.name;
  if (existsSync(join(directory, name))) return undefined;
  const pipelineDir = dirname(resolve(pipeline.file));
  const candidates = [
    process.cwd(),
    pipelineDir,
    dirname(pipelineDir),
    dirname(dirname(pipelineDir)),
  ];
  for (const base of candidates) {
    const old = join(base, LEGACY_STATE_DIR, name);
    if (old !== join(directory, name) && existsSync(old)) return old;
  }
  return undefined;
}

/** Opens the state store the options name; `where` says where it is, without credentials. */
async function openStore(
  options: StateOptions,
  pipeline: Pipeline,
): Promise<{ store: StateStore; close(): Promise<void>; where: string; redis?: Redis }> {
  const url = options.redis ?? process.env.SCOREBRIDGE_REDIS_URL;
  if (url)
    return {
      ...(await openRedisStateStore(url, { prefix: redisPrefix() })),
      where: redactRedisUrl(url),
    };
  const directory = stateDirectory(pipeline, options.stateDir);
  const old = legacyState(pipeline, directory);
  if (old) {
    throw new ConfigError(
      `${pipeline.config.name}: no state in ${directory}, but an earlier release kept this pipeline's state in ${old} (relative to the working directory it ran in). Starting over would deliver everything again. Move it: mkdir -p ${directory} && mv ${old} ${join(directory, pipeline.config.name)} — or keep it where it is with --state-dir ${dirname(old)} (or state: in the pipeline, or SCOREBRIDGE_STATE_DIR).`,
    );
  }
  return { store: createFileStateStore(directory), close: async () => {}, where: directory };
}

/** Runs `fn` with the pipeline's state store, and closes it after. */
export async function withStore<T>(
  options: StateOptions,
  pipeline: Pipeline,
  fn: (store: StateStore, where: string, redis?: Redis) => Promise<T>,
): Promise<T> {
  const { store, close, where, redis } = await openStore(options, pipeline);
  try {
    return await fn(store, where, redis);
  } finally {
    await close();
  }
}

/** `scorebridge run`: one run of a pipeline, a progress display, a summary table. */
export async function runCommand(
  file: string,
  options: {
    from?: string;
    to?: string;
    dryRun?: boolean;
    /** Only problems: no progress, and the summary only when something went wrong. */
    quiet?: boolean;
    /** The summary as one JSON document on stdout ({@link runView}). */
    json?: boolean;
  } & StateOptions,
  io: Io,
  extra: {
    client?: Parameters<typeof runPipeline>[0]['client'];
    /** Where the pipeline's `${env:…}` references are read. @default process.env */
    env?: NodeJS.ProcessEnv;
  } = {},
): Promise<number> {
  const pipeline = await load(file, extra.env);
  const from = options.from ? parseIsoInput(options.from, '--from') : undefined;
  const to = options.to ? parseIsoInput(options.to, '--to') : undefined;
  const progress = new RunProgress(io, options.quiet);
  // Ctrl-C (or SIGTERM) stops the run where it stands and records it as interrupted; a second
  // one exits at once. Nothing is lost either way: unsettled batches are settled next run.
  const stop = new AbortController();
  const interrupt = () => {
    if (stop.signal.aborted) process.exit(EXIT.interrupted);
    stop.abort();
    io.stderr.write(
      '\nscorebridge: interrupted: stopping after the batch in hand (press Ctrl-C again to quit at once; nothing is lost)\n',
    );
  };
  process.on('SIGINT', interrupt);
  process.on('SIGTERM', interrupt);
  let summary: RunSummary;
  try {
    summary = await withStore(options, pipeline, (store) =>
      runPipeline({
        pipeline,
        adapters: pipeline.adapters,
        store,
        from,
        to,
        dryRun: options.dryRun,
        onEvent: (event) => progress.on(event),
        logger: createLogger(io.stderr, options.logLevel ?? 'warn'),
        client: extra.client,
        now: io.clock(),
        signal: stop.signal,
      }),
    );
  } finally {
    process.off('SIGINT', interrupt);
    process.off('SIGTERM', interrupt);
  }
  progress.done();
  const exit = runExit(summary);
  if (options.json) await printJson(io, 'run', runView(summary, exit));
  else if (!options.quiet || exit !== EXIT.ok) await write(io.stderr, summaryTable(summary));
  return exit;
}

function runExit(summary: RunSummary): number {
  if (summary.interrupted) return EXIT.interrupted;
  if (summary.sourceFailed) return EXIT.source;
  if (summary.destinations.some((d) => d.failed)) return EXIT.destinationFailed;
  if (summary.parseIssues > 0 || summary.destinations.some((d) => d.deadLettered > 0))
    return EXIT.deadLettered;
  return EXIT.ok;
}

/** `2 mybest-changed, 1 scores-changed`, or '' when a run met no re-sent report. */
export function updatesText(updates: Partial<Record<UpdateClass, number>> | undefined): string {
  return UPDATE_CLASSES.filter((c) => updates?.[c])
    .map((c) => `${updates![c]} ${c}`)
    .join(', ');
}

/** The table printed after a run. */
export function summaryTable(s: RunSummary): string {
  const lines: string[] = [];
  const head = s.window
    ? `${s.dryRun ? 'dry run (nothing delivered or written): ' : ''}${s.pipeline}: ${formatEtsDate(new Date(s.window.from))} → ${formatEtsDate(new Date(s.window.to))} UTC in ${s.slices} request${s.slices === 1 ? '' : 's'}: ${s.fetched} records fetched, ${s.parseIssues} unreadable`
    : `${s.pipeline}: nothing to fetch (every destination is up to date)`;
  lines.push(head, '');
  const rows = [
    [
      'DESTINATION',
      s.dryRun ? 'WOULD DELIVER' : 'DELIVERED',
      'UNCHANGED',
      'SUPERSEDED',
      'REFUSED',
      'FILTERED',
      'DEAD-LETTERED',
      'CURSOR',
    ],
  ];
  for (const d of s.destinations) {
    rows.push([
      `${d.id} (${d.type})`,
      String(d.delivered),
      String(d.unchanged),
      String(d.superseded),
      String(d.refused),
      String(d.filtered),
      String(d.deadLettered),
      d.cursor ? formatEtsDate(new Date(d.cursor)) : '—',
    ]);
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => r[c]!.length)));
  for (const r of rows)
    lines.push(
      r
        .map((cell, c) => (c === 0 ? cell.padEnd(widths[c]!) : cell.padStart(widths[c]!)))
        .join('  '),
    );
  const updates = updatesText(s.updates);
  if (updates)
    lines.push(
      '',
      `Re-sent reports met: ${updates}${s.updates['scores-changed'] ? " — a test's own scores changed: worth a look" : ''}`,
    );
  if (s.parseIssues > 0)
    lines.push(
      '',
      `${s.parseIssues} unreadable record(s) were filed as dead letters: scorebridge dlq list <pipeline>`,
    );
  if (s.sourceFailed)
    lines.push(
      '',
      `TOEFL Access failed: ${s.sourceFailed.message}`,
      ...(s.sourceFailed.remedy ? [`What to do: ${s.sourceFailed.remedy}`] : []),
    );
  for (const d of s.destinations) {
    if (d.failed)
      lines.push(
        '',
        `${d.id} failed (its cursor did not move): ${d.failed.message}`,
        ...(d.failed.remedy ? [`What to do: ${d.failed.remedy}`] : []),
      );
  }
  return `${lines.map((l) => (l ? `scorebridge: ${l}` : '')).join('\n')}\n`;
}

/**
 * `scorebridge check`: the source key (a small window, as ETS advises) and every destination.
 * Exit statuses as `run`'s: 3 the source failed, 4 only a destination did.
 */
export async function checkCommand(
  file: string,
  options: { json?: boolean },
  io: Io,
): Promise<number> {
  const pipeline = await load(file);
  const to = io.clock();
  const from = new Date(to.getTime() - 86_400_000);
  const checks: {
    what: string;
    type?: string;
    ok: boolean;
    records?: number;
    notes?: readonly string[];
    error?: unknown;
  }[] = [];
  try {
    const client = createToeflAccessClient({
      ...sourceClientOptions(pipeline),
      retry: { retries: 1 },
      serverErrorPauseMs: 1000,
    });
    let records = 0;
    for await (const batch of client.fetch(from, to)) records += batch.length;
    checks.push({ what: 'source', ok: true, records });
  } catch (error) {
    checks.push({ what: 'source', ok: false, error });
  }
  for (const d of pipeline.config.destinations) {
    const adapter = pipeline.adapters.find((a) => a.type === d.type)!;
    const destination = adapter.create(d.options, destinationContext(pipeline, d.id, silentLogger));
    try {
      const report = await destination.check();
      checks.push({ what: d.id, type: d.type, ok: true, notes: report?.notes ?? [] });
    } catch (error) {
      checks.push({ what: d.id, type: d.type, ok: false, error });
    } finally {
      await destination.close();
    }
  }
  const [source, ...destinations] = checks;
  const exit = !source!.ok
    ? EXIT.source
    : destinations.some((c) => !c.ok)
      ? EXIT.destinationFailed
      : EXIT.ok;
  if (options.json) {
    const view = (c: (typeof checks)[number]) => {
      const e = c.error === undefined ? undefined : serializeError(c.error);
      return {
        ok: c.ok,
        ...(e ? { error: { kind: e.kind, message: e.message, remedy: e.remedy } } : {}),
      };
    };
    await printJson(io, 'check', {
      pipeline: pipeline.config.name,
      ok: exit === EXIT.ok,
      exit,
      source: { ...view(source!), ...(source!.ok ? { records: source!.records } : {}) },
      destinations: destinations.map((c) => ({
        id: c.what,
        type: c.type,
        ...view(c),
        ...(c.ok ? { notes: c.notes } : {}),
      })),
    });
    return exit;
  }
  for (const c of checks) {
    const what = c.type ? `${c.what} (${c.type})` : c.what;
    await write(
      io.stdout,
      c.ok
        ? c.type
          ? `ok    ${what}\n${(c.notes ?? []).map((n) => `      note: ${n}\n`).join('')}`
          : `ok    source: TOEFL Access accepted the key (${c.records} records reported in the last 24 hours)\n`
        : failure(what, c.error),
    );
  }
  return exit;
}

function failure(what: string, error: unknown): string {
  const e = serializeError(error);
  return `FAIL  ${what}: ${e.message}\n${e.remedy ? `      what to do: ${e.remedy}\n` : ''}`;
}

/** `scorebridge status`: cursors, the last runs and open dead letters. */
export async function statusCommand(
  file: string,
  options: StateOptions & { json?: boolean },
  io: Io,
): Promise<number> {
  const pipeline = await loadForState(file);
  return withStore(options, pipeline, async (store, where, redis) => {
    const view = await statusView(pipeline, file, store, where, redis);
    if (options.json) await printJson(io, 'status', { ...view });
    else await write(io.stdout, statusText(view));
    return EXIT.ok;
  });
}

/** What `status` shows, as data: `--json` prints it, the text renders it. */
interface StatusView {
  pipeline: string;
  file: string;
  state: string;
  destinations: {
    id: string;
    type: string;
    cursor: string | null;
    confirmed: number;
    deadLetters: number;
  }[];
  sourceDeadLetters: number;
  incidents: ({ key: string } & Incident)[];
  runs: RunRecord[];
  queues: Awaited<ReturnType<ReturnType<typeof queueControl>['counts']>> | null;
}

async function statusView(
  pipeline: Pipeline,
  file: string,
  store: StateStore,
  where: string,
  redis?: Redis,
): Promise<StatusView> {
  const name = pipeline.config.name;
  const letters = await store.deadLetters(name);
  const destinations = [];
  for (const d of pipeline.config.destinations) {
    destinations.push({
      id: d.id,
      type: d.type,
      cursor: (await store.cursor(name, d.id))?.toISOString() ?? null,
      confirmed: (await store.ledger(name, d.id)).size,
      deadLetters: letters.filter((l) => l.destination === d.id).length,
    });
  }
  const incidents = Object.entries(await store.incidents(name)).map(([key, i]) => ({ key, ...i }));
  const queues = redis
    ? await (async () => {
        const control = queueControl(redis, redisPrefix());
        try {
          return await control.counts(
            name,
            pipeline.config.destinations.map((d) => d.id),
          );
        } finally {
          await control.close();
        }
      })()
    : null;
  return {
    pipeline: name,
    file,
    state: where,
    destinations,
    sourceDeadLetters: letters.filter((l) => l.destination === '*').length,
    incidents,
    runs: await store.runs(name, 20),
    queues,
  };
}

/**
 * One run of the history as it happened, per destination (a record delivered to two
 * destinations is two deliveries, not one record):
 * `2026-11-22T23:53:10Z ok          csv 2000 delivered · ndjson 2000 delivered; 0 unreadable`.
 */
export function runLine(r: RunRecord): string {
  const problems = r.parseIssues > 0 || r.destinations.some((d) => d.deadLettered > 0);
  const state = r.interrupted ? 'INTERRUPTED' : !r.ok ? 'FAILED' : problems ? 'ok, letters' : 'ok';
  const parts = r.destinations.map((d) => {
    const counts = [
      `${d.delivered} delivered`,
      d.unchanged ? `${d.unchanged} unchanged` : '',
      d.superseded ? `${d.superseded} superseded` : '',
      d.refused ? `${d.refused} refused before` : '',
      d.filtered ? `${d.filtered} filtered` : '',
      d.deadLettered ? `${d.deadLettered} dead-lettered` : '',
      d.resent ? `${d.resent} pending batch(es) re-sent` : '',
      d.failed ? `failed: ${d.failed}` : '',
    ].filter(Boolean);
    return `${d.id} ${counts.join(', ')}`;
  });
  const updates = updatesText(r.updates);
  return `${r.startedAt} ${state.padEnd(11)} ${parts.join(' · ')}; ${r.parseIssues} unreadable${updates ? `; updates: ${updates}` : ''}`;
}

/** `status` as text: the facts of {@link statusView}. */
function statusText(view: StatusView): string {
  const out: string[] = [`${view.pipeline} (${view.file}), state in ${view.state}`, ''];
  for (const d of view.destinations) {
    out.push(
      `${d.id} (${d.type}): cursor ${d.cursor ? `${formatEtsDate(new Date(d.cursor))} UTC` : 'none yet (the first run starts at firstRunStart)'}; ${d.confirmed} record versions confirmed; ${d.deadLetters} dead letter(s)`,
    );
  }
  if (view.sourceDeadLetters > 0)
    out.push(`source: ${view.sourceDeadLetters} unreadable record(s) as dead letters`);
  if (view.incidents.length > 0)
    out.push(
      '',
      'Open alerts:',
      ...view.incidents.map((i) => `  ${i.title} (${i.key}, since ${i.openedAt})`),
    );
  const runs = view.runs.slice(-5);
  out.push('', runs.length > 0 ? 'Last runs:' : 'No runs yet.');
  for (const r of runs) out.push(`  ${runLine(r)}`);
  if (view.queues)
    out.push(
      '',
      'Queues (worker mode; run and fetch queues are shared by all pipelines):',
      ...view.queues.map(
        (c) =>
          `  ${c.queue.padEnd(28)} ${c.waiting} waiting, ${c.active} active, ${c.delayed} delayed, ${c.failed} failed`,
      ),
    );
  return `${out.join('\n')}\n`;
}

/** `scorebridge dlq list`. */
export async function dlqListCommand(
  file: string,
  options: StateOptions & { json?: boolean },
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
  options: StateOptions & { id?: string[] },
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

/** `scorebridge schema`: the JSON Schema of pipeline files. */
export async function schemaCommand(
  options: { output?: string; adapter?: string[] },
  io: Io,
): Promise<number> {
  const adapters = await builtInAdapters();
  for (const name of options.adapter ?? []) {
    const found = await loadAdapter(name);
    if ('problem' in found) throw new ConfigError(`--adapter ${name}: ${found.problem}`);
    adapters.push(found);
  }
  const text = `${JSON.stringify(pipelineJsonSchema(adapters), null, 2)}\n`;
  if (options.output) {
    writeFileSync(options.output, text);
    await write(io.stderr, `scorebridge: wrote ${options.output}\n`);
  } else await write(io.stdout, text);
  return EXIT.ok;
}

export type { Pipeline };
