import { readFileSync } from 'node:fs';
import type { z } from 'zod';
import { ConfigError } from '../errors.js';
import {
  applyOverride,
  type Layout,
  LayoutProblems,
  layoutOverrideSchema,
  layoutProblems,
  layoutSchema,
  sortFields,
} from './layout.js';

import { BUILTIN_LAYOUT_NAMES, type BuiltinLayoutName } from './names.js';

export { BUILTIN_LAYOUT_NAMES, type BuiltinLayoutName } from './names.js';

const builtinCache = new Map<string, Layout>();

/** A shipped layout, read from the package's `layouts/` data folder on first use. */
export function builtinLayout(name: BuiltinLayoutName): Layout {
  let layout = builtinCache.get(name);
  if (!layout) {
    const url = new URL(`../../layouts/${name}.json`, import.meta.url);
    layout = checkedLayout(parseLayoutJson(readFileSync(url, 'utf8'), url.pathname), url.pathname);
    builtinCache.set(name, layout);
  }
  return layout;
}

/** The layouts a parser recognises by record length when no site file is given: 1600 and 900. */
export function defaultLayouts(): Layout[] {
  return BUILTIN_LAYOUT_NAMES.map(builtinLayout);
}

/**
 * The layouts to parse with, given a site's layout file: an override replaces the layout it
 * extends; a complete layout replaces the shipped one of the same record length (or is added).
 */
export function resolveLayouts(layoutFile?: string): Layout[] {
  const layouts = defaultLayouts();
  if (!layoutFile) return layouts;
  const site = loadLayoutFile(layoutFile);
  const at = layouts.findIndex((l) => l.recordLength === site.recordLength);
  if (at >= 0) layouts[at] = site;
  else layouts.unshift(site);
  return layouts;
}

/**
 * Reads a layout file — complete (`recordLength` + `fields`) or an override (`extends` +
 * `fields`/`remove`) — and returns the effective, validated layout. Every problem is reported
 * at once in a {@link ConfigError} that names the file and the field.
 */
export function loadLayoutFile(path: string): Layout {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (cause) {
    throw new ConfigError(`${path}: cannot read the layout file (${(cause as Error).message})`, {
      cause,
      where: path,
    });
  }
  return layoutFromJson(text, path);
}

/** Like {@link loadLayoutFile}, for text already in memory; `source` names it in errors. */
export function layoutFromJson(text: string, source: string): Layout {
  const json = parseLayoutJson(text, source);
  if (json && typeof json === 'object' && 'extends' in json) {
    const override = parseWith(layoutOverrideSchema, json, source);
    const baseName = override.extends;
    if (!(BUILTIN_LAYOUT_NAMES as readonly string[]).includes(baseName)) {
      throw new ConfigError(
        `${source}: extends "${baseName}", which is not a shipped layout (${BUILTIN_LAYOUT_NAMES.join(', ')})`,
        { where: source },
      );
    }
    try {
      return checkedLayout(
        applyOverride(builtinLayout(baseName as BuiltinLayoutName), override),
        source,
      );
    } catch (error) {
      if (error instanceof LayoutProblems) throw located(source, error.problems);
      throw error;
    }
  }
  return checkedLayout(json, source);
}

function checkedLayout(json: unknown, source: string): Layout {
  const layout = parseWith(layoutSchema, json, source);
  const problems = layoutProblems(layout);
  if (problems.length > 0) throw located(source, problems);
  return Object.freeze({ ...layout, fields: Object.freeze(sortFields(layout.fields)) }) as Layout;
}

function parseLayoutJson(text: string, source: string): unknown {
  try {
    return JSON.parse(text);
  } catch (cause) {
    const message = (cause as Error).message;
    const pos = /position (\d+)/.exec(message);
    const where = pos ? `${source}:${lineColumn(text, Number(pos[1]))}` : source;
    throw new ConfigError(`${where}: not valid JSON (${message})`, { cause, where });
  }
}

function parseWith<S extends z.ZodType>(schema: S, json: unknown, source: string): z.infer<S> {
  const result = schema.safeParse(json);
  if (result.success) return result.data;
  throw located(
    source,
    result.error.issues.map((issue) => `${jsonPath(issue.path, json)}: ${issue.message}`),
  );
}

function located(source: string, problems: string[]): ConfigError {
  return new ConfigError(
    problems.map((p) => `${source}: ${p}`),
    { where: source },
  );
}

/** `fields[3] (testDate).start`: the JSON path, with the field's id when there is one. */
function jsonPath(path: readonly PropertyKey[], json: unknown): string {
  let out = '';
  let node: unknown = json;
  for (const key of path) {
    node =
      node && typeof node === 'object' ? (node as Record<PropertyKey, unknown>)[key] : undefined;
    if (typeof key === 'number') {
      out += `[${key}]`;
      const id = node && typeof node === 'object' ? (node as { id?: unknown }).id : undefined;
      if (typeof id === 'string') out += ` (${id})`;
    } else out += out ? `.${String(key)}` : String(key);
  }
  return out || '(top level)';
}

function lineColumn(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  const column = offset - before.lastIndexOf('\n');
  return `${line}:${column}`;
}
