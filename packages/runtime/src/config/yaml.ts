import { CST, isNode, Lexer, LineCounter, parseDocument, visit } from 'yaml';

/** Pipeline files larger than this are refused before parsing. */
export const MAX_PIPELINE_BYTES = 256 * 1024;
/** Aliases (`*name`) allowed in one file: enough for reuse, too few for an alias bomb. */
export const MAX_ALIASES = 64;
/** Nesting deeper than this is refused (a pipeline needs about six levels). */
export const MAX_DEPTH = 32;

/**
 * Characters YAML does not allow in a document (YAML 1.2 §5.1): C0 controls but tab, line feed
 * and carriage return; DEL; C1 controls but NEL; U+FFFE and U+FFFF. NUL among them.
 */
const NOT_PRINTABLE = /[\x00-\x08\x0B\x0C\x0E-\x1F\x7F\x80-\x84\x86-\x9F\uFFFE\uFFFF]/g;

/** `line:column` (1-based) of a character offset in a text. */
function position(text: string, offset: number): string {
  const before = text.slice(0, offset);
  const line = before.split('\n').length;
  return `${line}:${offset - before.lastIndexOf('\n')}`;
}

/**
 * Decodes a pipeline file's bytes as UTF-8, refusing invalid bytes with where the first is
 * (a replacement character would silently change a path or a value).
 */
export function decodeUtf8(bytes: Uint8Array, file: string): { text?: string; problems: string[] } {
  try {
    return { text: new TextDecoder('utf-8', { fatal: true }).decode(bytes), problems: [] };
  } catch {
    const text = new TextDecoder('utf-8').decode(bytes);
    // The first U+FFFD that was not written as one (EF BF BD) marks the first invalid byte.
    let i = text.indexOf('\uFFFD');
    let at = Buffer.byteLength(text.slice(0, i));
    while (bytes[at] === 0xef && bytes[at + 1] === 0xbf && bytes[at + 2] === 0xbd) {
      i = text.indexOf('\uFFFD', i + 1);
      at = Buffer.byteLength(text.slice(0, i));
    }
    const byte = bytes[at]!.toString(16).padStart(2, '0');
    return {
      problems: [
        `${file}:${position(text, i)}: not valid UTF-8 (byte 0x${byte}); save the file as UTF-8`,
      ],
    };
  }
}

/** Tokens of yaml's lexer that mark structure but are not characters of the source. */
const MARKERS = new Set([CST.DOCUMENT, CST.FLOW_END, CST.SCALAR]);

/**
 * Where flow collections (`[`, `{`) nest deeper than `max`, read with yaml's own lexer (which
 * does not recurse, and knows quotes and plain scalars): found before parsing, since the parser
 * recursing into a hundred thousand levels exhausts the process.
 */
function tooDeepFlow(text: string, max: number): number | undefined {
  let depth = 0;
  let offset = 0;
  for (const token of new Lexer().lex(text)) {
    if (token === '[' || token === '{') {
      if (++depth > max) return offset;
    } else if (token === ']' || token === '}') depth = Math.max(0, depth - 1);
    if (!MARKERS.has(token)) offset += token.length;
  }
  return undefined;
}

/** The path to the first place a value nests deeper than `max`, if it does. */
function tooDeepValue(
  value: unknown,
  max: number,
  path: PropertyKey[] = [],
): PropertyKey[] | undefined {
  if (path.length > max) return path;
  if (value && typeof value === 'object')
    for (const [key, item] of Object.entries(value)) {
      const found = tooDeepValue(item, max, [...path, Array.isArray(value) ? Number(key) : key]);
      if (found) return found;
    }
  return undefined;
}

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
  const problems: string[] = [];
  for (const m of text.matchAll(NOT_PRINTABLE)) {
    if (problems.length === 10) break;
    const code = m[0].codePointAt(0)!.toString(16).toUpperCase().padStart(4, '0');
    problems.push(
      `${file}:${position(text, m.index)}: a control character (U+${code}${code === '0000' ? ', NUL' : ''}) is not allowed in a pipeline file; write it as an escape in a double-quoted string if it is meant`,
    );
  }
  const deep = tooDeepFlow(text, MAX_DEPTH);
  if (deep !== undefined)
    return {
      problems: [
        ...problems,
        `${file}:${position(text, deep)}: nested more than ${MAX_DEPTH} levels deep; a pipeline needs a few`,
      ],
    };
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
  problems.push(
    ...[...doc.errors, ...doc.warnings].map(
      (e) => `${at(e.pos?.[0])}: ${yamlMessage(e.code, e.message)}`,
    ),
  );
  if (problems.length > 0) return { problems };
  let value: unknown;
  try {
    value = doc.toJS({ maxAliasCount: MAX_ALIASES });
  } catch (cause) {
    if (cause instanceof RangeError)
      return { problems: [`${file}: nested too deeply to read (${cause.message})`] };
    // The alias bomb: point at its first alias.
    let first: number | undefined;
    visit(doc, {
      Alias(_, node) {
        first = node.range?.[0];
        return visit.BREAK;
      },
    });
    return {
      problems: [
        `${at(first)}: aliases expand into too much data (${(cause as Error).message}; at most ${MAX_ALIASES} aliases)`,
      ],
    };
  }
  const deepPath = tooDeepValue(value, MAX_DEPTH);
  if (deepPath) {
    const node = doc.getIn(deepPath, true);
    return {
      problems: [
        `${isNode(node) && node.range ? at(node.range[0]) : file}: nested more than ${MAX_DEPTH} levels deep; a pipeline needs a few`,
      ],
    };
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
