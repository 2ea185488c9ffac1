import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileAdapter } from '@scorebridge/adapter-file';
import { salesforceAdapter } from '@scorebridge/adapter-salesforce';
import { webhookAdapter } from '@scorebridge/adapter-webhook';
import {
  clockFrom,
  createFileStateStore,
  loadPipeline,
  type RunOptions,
  type RunSummary,
  runPipeline,
} from '@scorebridge/runtime';
import { type Sandbox, type SandboxOptions, startSandbox } from '@scorebridge/sandbox';

/**
 * The pipeline harness: a sandbox with data on fixed dates, a pipeline file pointing at it, and
 * runs whose "now" is the tests' clock ({@link NOW}), so that no test depends on the day it runs.
 */

export const ADAPTERS = [fileAdapter, webhookAdapter, salesforceAdapter];
/** The sandbox's clock: report dates spread over the `days` before this. */
export const SANDBOX_NOW = new Date('2026-11-01T00:00:00Z');
/** The tests' "now": every run the harness starts plans its window up to here (then real time moves it on). */
export const NOW = new Date('2026-11-02T00:00:00Z');
/** The pipeline's `firstRunStart`: a first run fetches from here. */
export const FIRST_RUN = new Date('2026-06-01T00:00:00Z');
/** Fast retries for tests. */
export const FAST_CLIENT = {
  retry: { baseDelayMs: 5, maxDelayMs: 20 },
  serverErrorPauseMs: 5,
  idleTimeoutMs: 2000,
};

/** A file destination of the harness's pipelines. */
export interface FileDestination {
  readonly id: string;
  readonly format: 'ndjson' | 'csv' | 'scorelink';
  readonly batchSize?: number;
  /** The output directory (YAML text: a path or an `${env:…}` reference). */
  readonly directory: string;
}

/** A pipeline file's text; `source`, `destinations` and `extra` are YAML blocks, indented as they stand. */
export function pipelineYaml(options: {
  name?: string;
  baseUrl: string;
  authcode: string;
  format?: 'scorelink' | 'json';
  firstRunStart?: Date;
  layout?: string;
  source?: string;
  destinations: string;
  extra?: string;
}): string {
  const line = (key: string, value: string | undefined) =>
    value === undefined ? '' : `  ${key}: ${value}\n`;
  return `name: ${options.name ?? 'test'}
source:
${line('baseUrl', options.baseUrl)}${line('authcode', options.authcode)}${line('format', options.format)}${line('firstRunStart', (options.firstRunStart ?? FIRST_RUN).toISOString().slice(0, 10))}${line('layout', options.layout)}${options.source ?? ''}
destinations:
${options.destinations}
${options.extra ?? ''}
`;
}

/** File destinations as a `destinations:` list. */
export function fileDestinationsYaml(destinations: readonly FileDestination[]): string {
  return destinations
    .map(
      (d) => `  - id: ${d.id}
    type: file${d.batchSize ? `\n    batchSize: ${d.batchSize}` : ''}
    options:
      directory: ${d.directory}
      format: ${d.format}`,
    )
    .join('\n');
}

/** A webhook destination `hook` as a `destinations:` list; its secret is `${env:SB_WHSEC}`. */
export function webhookDestinationYaml(url: string, batchSize: number): string {
  return `  - id: hook
    type: webhook
    batchSize: ${batchSize}
    options:
      url: ${url}
      secrets: ['\${env:SB_WHSEC}']
      allowHttp: true
      allowPrivateNetwork: true`;
}

/** A sandbox, a pipeline file pointing at it with file destinations, and a state directory. */
export interface Setup {
  readonly sandbox: Sandbox;
  readonly dir: string;
  readonly pipelineFile: string;
  readonly stateDir: string;
  /** Output directories by destination id. */
  readonly out: Record<string, string>;
  readonly env: NodeJS.ProcessEnv;
  /** An inline run, at {@link NOW} unless `now` is given. */
  run(options?: Partial<RunOptions>): Promise<RunSummary>;
  close(): Promise<void>;
}

/** Options of {@link setup}. */
export interface SetupOptions {
  sandbox?: SandboxOptions;
  destinations?: { id: string; format: 'ndjson' | 'csv' | 'scorelink'; batchSize?: number }[];
  /** More `source:` lines (YAML, indented by two). */
  source?: string;
  /** More top-level YAML. */
  extra?: string;
  /** A destinations block of your own (YAML, indented as a list under `destinations:`). */
  destinationsYaml?: string;
  env?: Record<string, string>;
}

export async function setup(options: SetupOptions = {}): Promise<Setup> {
  const sandbox = await startSandbox({
    seed: 6,
    records: 600,
    days: 120,
    now: SANDBOX_NOW,
    ...options.sandbox,
  });
  const dir = mkdtempSync(join(tmpdir(), 'sb-pipeline-'));
  const destinations = options.destinations ?? [{ id: 'files', format: 'ndjson' }];
  const out = Object.fromEntries(destinations.map((d) => [d.id, join(dir, 'out', d.id)]));
  const pipelineFile = join(dir, 'test.yaml');
  writeFileSync(
    pipelineFile,
    pipelineYaml({
      baseUrl: '${env:SB_URL}',
      authcode: '${env:SB_KEY}',
      layout: join(process.cwd(), 'packages/sandbox/layouts/ibt26-sandbox.json'),
      source: options.source ? `${options.source}\n` : '',
      destinations:
        options.destinationsYaml ??
        fileDestinationsYaml(
          destinations.map((d) => ({ batchSize: 100, ...d, directory: out[d.id]! })),
        ),
      extra: options.extra,
    }),
  );
  const env = {
    ...process.env,
    ...options.env,
    SB_URL: sandbox.scoresUrl,
    SB_KEY: sandbox.authcode,
  };
  const stateDir = join(dir, 'state');
  return {
    sandbox,
    dir,
    pipelineFile,
    stateDir,
    out,
    env,
    run: (overrides = {}) =>
      runPipeline({
        pipeline: loadPipeline(pipelineFile, { adapters: ADAPTERS, env }),
        adapters: ADAPTERS,
        store: createFileStateStore(stateDir),
        client: FAST_CLIENT,
        deliveryRetries: 0,
        now: NOW,
        ...overrides,
      }),
    close: () => sandbox.close(),
  };
}

/** A clock that starts at {@link NOW} and moves on in real time. */
export const testClock = () => clockFrom(NOW);

/** Every record version (key#hash) in a directory of NDJSON files, with repeats. */
export function storedVersions(directory: string): string[] {
  let files: string[];
  try {
    files = readdirSync(directory).filter((f) => f.endsWith('.ndjson'));
  } catch {
    return [];
  }
  return files.flatMap((f) =>
    readFileSync(join(directory, f), 'utf8')
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const r = JSON.parse(line) as { recordKey: string; contentHash: string };
        return `${r.recordKey}#${r.contentHash}`;
      }),
  );
}

/**
 * What a destination holds after runs over [from, to] as key#hash, computed the way the parser
 * does and independently of the runtime: the newest version of each key (the last in report
 * order: the sandbox serves report order), since a run delivers one version per key.
 */
export async function groundTruth(
  sandbox: Sandbox,
  from: Date = FIRST_RUN,
  to: Date = NOW,
): Promise<Set<string>> {
  const newest = new Map<string, string>();
  for (const version of await everyVersion(sandbox, from, to))
    newest.set(version.slice(0, version.indexOf('#')), version);
  return new Set(newest.values());
}

/** Every record version the sandbox holds in [from, to] as key#hash, in report order. */
export async function everyVersion(
  sandbox: Sandbox,
  from: Date = FIRST_RUN,
  to: Date = NOW,
): Promise<string[]> {
  const { formatRecord, parseAll } = await import('@scorebridge/core');
  const { sandboxLayout1600 } = await import('@scorebridge/sandbox');
  const layout = sandboxLayout1600();
  const { start, end } = sandbox.data.select(from, to);
  const lines: string[] = [];
  for (let i = start; i < end; i++) lines.push(formatRecord(sandbox.data.record(i).fields, layout));
  const entries = await parseAll(lines.join('\n'), { layouts: [layout] });
  return entries.map((e) => `${e.record!.recordKey}#${e.record!.contentHash}`);
}
