import { readFileSync, statSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import {
  ConfigError,
  type DestinationAdapter,
  type DestinationContext,
  type DestinationLogger,
  type Layout,
  resolveLayouts,
} from '@scorebridge/core';
import { pathText, resolveReferences } from './references.js';
import { type PipelineConfig, pipelineJsonSchema, pipelineSchema } from './schema.js';
import { closestKey } from './suggest.js';
import { decodeUtf8, MAX_PIPELINE_BYTES, parseYaml } from './yaml.js';

/** A loaded, validated, frozen pipeline. */
export interface Pipeline {
  /** The file it came from. */
  readonly file: string;
  readonly config: PipelineConfig;
  /** The layouts its source is parsed with (its layout file applied). */
  readonly layouts: readonly Layout[];
}

/** What a destination of the pipeline is created with; relative paths in its options are relative to the pipeline file. */
export function destinationContext(
  pipeline: Pipeline,
  destinationId: string,
  logger: DestinationLogger,
): DestinationContext {
  return {
    pipeline: pipeline.config.name,
    destinationId,
    logger,
    baseDir: dirname(resolve(pipeline.file)),
  };
}

/** Options of {@link loadPipeline}. */
export interface LoadOptions {
  /** The adapters destinations may name. */
  readonly adapters: readonly DestinationAdapter[];
  /** Where `${env:…}` is read. @default process.env */
  readonly env?: NodeJS.ProcessEnv;
  /** Do not require references to resolve (for commands that only read state). @default false */
  readonly lenient?: boolean;
  /** Why a destination type could not be loaded, by type: reported where the type is written. */
  readonly adapterProblems?: ReadonlyMap<string, string>;
}

/** Finds the adapter a pipeline names by `type`, or says why it cannot. */
export type AdapterResolver = (type: string) => Promise<DestinationAdapter | { problem: string }>;

/**
 * Reads a pipeline file, loads the adapters its destinations name through `resolveAdapter`
 * (each type once), then validates it with them. A type that cannot be loaded is reported at
 * its line and column with the resolver's reason, with every other problem of the file.
 */
export async function loadPipelineResolving(
  file: string,
  options: Omit<LoadOptions, 'adapters' | 'adapterProblems'> & {
    readonly resolveAdapter: AdapterResolver;
  },
): Promise<{ pipeline: Pipeline; adapters: DestinationAdapter[] }> {
  const parsed = parseYaml(readPipelineText(file), file);
  const destinations = (parsed.file?.value as { destinations?: unknown } | undefined)?.destinations;
  const types = new Set(
    (Array.isArray(destinations) ? destinations : []).flatMap((d) =>
      typeof (d as { type?: unknown })?.type === 'string' ? [(d as { type: string }).type] : [],
    ),
  );
  const adapters: DestinationAdapter[] = [];
  const adapterProblems = new Map<string, string>();
  for (const type of types) {
    const found = await options.resolveAdapter(type);
    if ('problem' in found) adapterProblems.set(type, found.problem);
    else adapters.push(found);
  }
  return {
    pipeline: pipelineFromParsed(parsed, file, { ...options, adapters, adapterProblems }),
    adapters,
  };
}

/**
 * Reads and validates a pipeline file. Every problem in it is reported at once in a
 * {@link ConfigError}, each as `file:line:column: path: what is wrong`.
 */
export function loadPipeline(file: string, options: LoadOptions): Pipeline {
  return pipelineFromYaml(readPipelineText(file), file, options);
}

/** A pipeline file's text, within the size a pipeline may be, as UTF-8. */
function readPipelineText(file: string): string {
  let text: string;
  try {
    if (statSync(file).size > MAX_PIPELINE_BYTES) {
      throw new ConfigError(
        `${file}: the file is larger than ${MAX_PIPELINE_BYTES} bytes, the most a pipeline file may be`,
        { where: file },
      );
    }
    const decoded = decodeUtf8(readFileSync(file), file);
    if (decoded.text === undefined) throw new ConfigError(decoded.problems, { where: file });
    text = decoded.text;
  } catch (cause) {
    if (cause instanceof ConfigError) throw cause;
    throw new ConfigError(
      `${file}: cannot read the pipeline file (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
      { where: file, cause },
    );
  }
  return text;
}

/** Like {@link loadPipeline}, for text in memory; `file` names it and anchors relative paths. */
export function pipelineFromYaml(text: string, file: string, options: LoadOptions): Pipeline {
  return pipelineFromParsed(parseYaml(text, file), file, options);
}

/** A pipeline from its parsed YAML (parsed once, whoever read its destination types first). */
function pipelineFromParsed(
  parsed: ReturnType<typeof parseYaml>,
  file: string,
  options: LoadOptions,
): Pipeline {
  if (!parsed.file) throw new ConfigError(parsed.problems, { where: file });
  const { where } = parsed.file;
  const baseDir = dirname(resolve(file));
  const resolved = resolveReferences(parsed.file.value, {
    env: options.env ?? process.env,
    baseDir,
    where,
    lenient: options.lenient,
  });
  const result = pipelineSchema(options.adapters).safeParse(resolved.value);
  const problems = [...resolved.problems];
  let jsonSchema: Record<string, unknown> | undefined;
  if (!result.success) {
    for (const issue of result.error.issues) {
      // A problem already reported while resolving references is not reported twice.
      if (problems.some((p) => p.includes(`: ${pathText(issue.path)}: `))) continue;
      const destination = issue.path[0] === 'destinations' ? issue.path[1] : undefined;
      const type =
        typeof destination === 'number'
          ? (resolved.value as { destinations?: { type?: unknown }[] }).destinations?.[destination]
              ?.type
          : undefined;
      if (typeof destination === 'number' && !options.adapters.some((a) => a.type === type)) {
        // One clear message for an unknown type instead of every option it does not fit.
        const path = ['destinations', destination, 'type'];
        const why = typeof type === 'string' ? options.adapterProblems?.get(type) : undefined;
        const message = why
          ? `${where(path)}: ${pathText(path)}: ${why}`
          : `${where(path)}: ${pathText(path)}: unknown destination type ${JSON.stringify(type)} (known: ${options.adapters.map((a) => a.type).join(', ')})`;
        if (!problems.includes(message)) problems.push(message);
        continue;
      }
      if (issue.code === 'unrecognized_keys') {
        jsonSchema ??= pipelineJsonSchema(options.adapters);
        for (const key of issue.keys) {
          const near = closestKey(jsonSchema, issue.path, key);
          problems.push(
            `${where([...issue.path, key])}: ${pathText([...issue.path, key])}: unknown key (${near ? `did you mean ${near}?` : 'check the spelling; see scorebridge schema'})`,
          );
        }
      } else problems.push(`${where(issue.path)}: ${pathText(issue.path)}: ${issue.message}`);
    }
  }
  if (problems.length > 0 || !result.success) throw new ConfigError(problems, { where: file });
  const config = result.data as PipelineConfig;
  const layouts = resolveLayouts(
    config.source.layout ? resolve(baseDir, config.source.layout) : undefined,
  );
  return deepFreeze({ file, config, layouts });
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object' && !Object.isFrozen(value)) {
    Object.freeze(value);
    for (const item of Object.values(value)) deepFreeze(item);
  }
  return value;
}
