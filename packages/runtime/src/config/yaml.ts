import { isNode, LineCounter, parseDocument } from 'yaml';

/** Pipeline files larger than this are refused before parsing. */
export const MAX_PIPELINE_BYTES = 256 * 1024;
/** Aliases (`*name`) allowed in one file: enough for reuse, too few for an alias bomb. */
export const MAX_ALIASES = 64;

/** A parsed YAML file: its plain value, and where each path came from. */
export interface YamlFile {
  readonly value: unknown;
  /** `file:line:column` of the node at a path, or of the nearest parent that exists. */
  where(path: readonly PropertyKey[]): string;
}

/**
 * Parses YAML safely: the core schema only (no custom or language tags), duplicate keys
 * rejected, aliases capped, a size limit. Returns the value, or every problem found, each with
 * `file:line:column`.
 */
export function parseYaml(text: string, file: string): { file?: YamlFile; problems: string[] } {
  const bytes = Buffer.byteLength(text);
  if (bytes > MAX_PIPELINE_BYTES) {
    return {
      problems: [
        `${file}: the file is ${bytes} bytes; pipeline files may be at most ${MAX_PIPELINE_BYTES}`,
      ],
    };
  }
  const lines = new LineCounter();
  const doc = parseDocument(text, {
    schema: 'core',
    merge: false,
    uniqueKeys: true,
    stringKeys: true,
    prettyErrors: false,
    lineCounter: lines,
  });
  const at = (offset: number | undefined) => {
    if (offset === undefined) return file;
    const { line, col } = lines.linePos(offset);
    return `${file}:${line}:${col}`;
  };
  const problems = [...doc.errors, ...doc.warnings].map(
    (e) => `${at(e.pos?.[0])}: ${yamlMessage(e.code, e.message)}`,
  );
  if (problems.length > 0) return { problems };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (cause) {
    return { problems: [`${file}: ${(cause as Error).message} (at most ${MAX_ALIASES} aliases)`] };
  }
  return {
    problems: [],
    file: {
      value,
      where(path) {
        for (let n = path.length; n >= 0; n--) {
          const node = doc.getIn(path.slice(0, n), true);
          if (isNode(node) && node.range) return at(node.range[0]);
        }
        return file;
      },
    },
  };
}

function yamlMessage(code: string, message: string): string {
  const first = message.split('\n')[0]!.replace(/ at line \d+, column \d+:?$/, '');
  if (code === 'TAG_RESOLVE_FAILED') return `${first} (custom tags are not allowed)`;
  if (code === 'DUPLICATE_KEY') return `${first} (each key may appear once)`;
  return first;
}
