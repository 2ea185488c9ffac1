import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileAdapter } from '@scorebridge/adapter-file';
import { salesforceAdapter } from '@scorebridge/adapter-salesforce';
import { webhookAdapter } from '@scorebridge/adapter-webhook';
import {
  createFileStateStore,
  loadPipeline,
  type RunOptions,
  type RunSummary,
  runPipeline,
} from '@scorebridge/runtime';
import { type Sandbox, type SandboxOptions, startSandbox } from '@scorebridge/sandbox';

export const ADAPTERS = [fileAdapter, webhookAdapter, salesforceAdapter];
/** The sandbox's clock: report dates spread over the `days` before this. */
export const SANDBOX_NOW = new Date('2026-11-01T00:00:00Z');
/** Fast retries for tests. */
export const FAST_CLIENT = {
  retry: { baseDelayMs: 5, maxDelayMs: 20 },
  serverErrorPauseMs: 5,
  idleTimeoutMs: 2000,
};

/** A sandbox, a pipeline file pointing at it with file destinations, and a state directory. */
export interface Setup {
  readonly sandbox: Sandbox;
  readonly dir: string;
  readonly pipelineFile: string;
  readonly stateDir: string;
  /** Output directories by destination id. */
  readonly out: Record<string, string>;
  readonly env: NodeJS.ProcessEnv;
  run(options?: Partial<RunOptions>): Promise<RunSummary>;
  close(): Promise<void>;
}

export async function setup(
  options: {
    sandbox?: SandboxOptions;
    destinations?: { id: string; format: 'ndjson' | 'csv' | 'scorelink'; batchSize?: number }[];
    source?: string;
    extra?: string;
    /** A destinations block of your own (YAML, indented as a list under `destinations:`). */
    destinationsYaml?: string;
    env?: Record<string, string>;
  } = {},
): Promise<Setup> {
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
    `name: test
source:
  baseUrl: \${env:SB_URL}
  authcode: \${env:SB_KEY}
  firstRunStart: 2026-06-01
  layout: ${join(process.cwd(), 'packages/sandbox/layouts/ibt26-sandbox.json')}
${options.source ?? ''}
destinations:
${
  options.destinationsYaml ??
  destinations
    .map(
      (d) => `  - id: ${d.id}
    type: file
    batchSize: ${d.batchSize ?? 100}
    options:
      directory: ${out[d.id]}
      format: ${d.format}`,
    )
    .join('\n')
}
${options.extra ?? ''}
`,
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
        ...overrides,
      }),
    close: () => sandbox.close(),
  };
}

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

/** What the sandbox holds in [from, to] as key#hash, computed the way the parser does. */
export async function groundTruth(sandbox: Sandbox, from: Date, to: Date): Promise<Set<string>> {
  const { formatRecord, parseAll } = await import('@scorebridge/core');
  const { sandboxLayout1600 } = await import('@scorebridge/sandbox');
  const layout = sandboxLayout1600();
  const { start, end } = sandbox.data.select(from, to);
  const lines: string[] = [];
  for (let i = start; i < end; i++) lines.push(formatRecord(sandbox.data.record(i).fields, layout));
  const entries = await parseAll(lines.join('\n'), { layouts: [layout] });
  return new Set(entries.map((e) => `${e.record!.recordKey}#${e.record!.contentHash}`));
}
