import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { adapterProblems, type DestinationAdapter } from '@scorebridge/core';
import {
  type LoadOptions,
  loadPipelineResolving,
  type Pipeline,
} from '@scorebridge/runtime/config';

/**
 * The adapters that ship with ScoreBridge, by the short type a pipeline names them by. They load
 * as any adapter package does (below); only the name is shorter.
 */
export const BUILT_IN_ADAPTERS: Readonly<Record<string, string>> = {
  file: '@scorebridge/adapter-file',
  salesforce: '@scorebridge/adapter-salesforce',
  'slate-sftp': '@scorebridge/adapter-slate-sftp',
  webhook: '@scorebridge/adapter-webhook',
};

/** An npm package name (`crm-adapter`, `@acme/scorebridge-adapter-crm`). */
const PACKAGE_NAME = /^(@[a-z0-9][a-z0-9._~-]*\/)?[a-z0-9][a-z0-9._~-]*$/;

/** A pipeline with the adapters its destinations name. */
export type LoadedPipeline = Pipeline & { readonly adapters: readonly DestinationAdapter[] };

const loaded = new Map<string, Promise<DestinationAdapter | { problem: string }>>();

/**
 * The adapter a pipeline names by `type`: a built-in short name (loaded from beside ScoreBridge
 * itself), or the name of an installed package, looked for beside the pipeline file, then in the
 * working directory. The package's `adapter` export (or its default export) must be an adapter of
 * this ScoreBridge's contract; the pipeline names it by what it wrote. Each is loaded once.
 */
export function loadAdapter(
  type: string,
  pipelineFile?: string,
): Promise<DestinationAdapter | { problem: string }> {
  const key = BUILT_IN_ADAPTERS[type] ? type : `${type}\0${pipelineFile ?? ''}`;
  let found = loaded.get(key);
  if (!found) {
    found = importAdapter(type, pipelineFile);
    loaded.set(key, found);
  }
  return found;
}

async function importAdapter(
  type: string,
  pipelineFile?: string,
): Promise<DestinationAdapter | { problem: string }> {
  const builtIn = BUILT_IN_ADAPTERS[type];
  const name = builtIn ?? type;
  if (!builtIn && !PACKAGE_NAME.test(type))
    return {
      problem: `unknown destination type ${JSON.stringify(type)}: neither a built-in type (${Object.keys(BUILT_IN_ADAPTERS).join(', ')}) nor the name of an adapter package`,
    };
  let module: Record<string, unknown>;
  try {
    module = builtIn
      ? // Shipped with ScoreBridge: the copy beside it, whatever else is installed.
        ((await import(builtIn)) as Record<string, unknown>)
      : await importPackage(name, pipelineFile);
  } catch (cause) {
    const code = (cause as NodeJS.ErrnoException).code;
    const missing =
      (code === 'MODULE_NOT_FOUND' || code === 'ERR_MODULE_NOT_FOUND') &&
      (cause as Error).message.includes(`'${name}'`);
    return {
      problem: missing
        ? builtIn
          ? `the built-in adapter ${name} is not installed beside ScoreBridge: reinstall ScoreBridge`
          : `unknown destination type ${JSON.stringify(type)}: not a built-in type (${Object.keys(BUILT_IN_ADAPTERS).join(', ')}), and no package ${name} is installed beside the pipeline or in the working directory: npm install ${name}`
        : `the adapter package ${name} failed to load: ${(cause as Error).message}`,
    };
  }
  const adapter = module.adapter ?? module.default;
  const problems = adapterProblems(adapter);
  if (problems.length > 0)
    return {
      problem: `the package ${name} is not a ScoreBridge adapter: ${problems.join('; ')} (export it as \`adapter\` or as the default export)`,
    };
  const a = adapter as DestinationAdapter;
  return a.type === type ? a : { ...a, type };
}

/**
 * Imports an installed package, looked for beside the pipeline file, then in the working
 * directory (Node's resolution from each: its `exports` needs a `default` or `require` entry).
 */
async function importPackage(
  name: string,
  pipelineFile?: string,
): Promise<Record<string, unknown>> {
  let last: unknown;
  for (const from of [
    ...(pipelineFile ? [resolve(pipelineFile)] : []),
    join(process.cwd(), 'package.json'),
  ]) {
    let path: string;
    try {
      path = createRequire(from).resolve(name);
    } catch (cause) {
      last = cause;
      continue;
    }
    return (await import(pathToFileURL(path).href)) as Record<string, unknown>;
  }
  throw last;
}

/** Every built-in adapter, for the schema and help. */
export async function builtInAdapters(): Promise<DestinationAdapter[]> {
  const out: DestinationAdapter[] = [];
  for (const type of Object.keys(BUILT_IN_ADAPTERS)) {
    const found = await loadAdapter(type);
    if ('problem' in found) throw new Error(found.problem);
    out.push(found);
  }
  return out;
}

/** Reads and validates a pipeline file with the adapters it names, loaded as above. */
export async function loadPipelineFile(
  file: string,
  options: Omit<LoadOptions, 'adapters' | 'adapterProblems'> = {},
): Promise<LoadedPipeline> {
  const { pipeline, adapters } = await loadPipelineResolving(file, {
    ...options,
    resolveAdapter: (type) => loadAdapter(type, file),
  });
  return { ...pipeline, adapters };
}
