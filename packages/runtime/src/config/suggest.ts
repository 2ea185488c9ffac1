/**
 * "Did you mean …?" for an unknown key: the closest key the JSON Schema allows at the same
 * place (a typo of one or two characters, or a different case), or nothing.
 */
export function closestKey(
  schema: unknown,
  path: readonly PropertyKey[],
  key: string,
): string | undefined {
  let best: { key: string; distance: number } | undefined;
  for (const known of keysAt(schema, path, (schema as { $defs?: object }).$defs ?? {})) {
    const distance = editDistance(key.toLowerCase(), known.toLowerCase());
    if (
      distance <= Math.max(1, Math.min(2, Math.floor(known.length / 4))) &&
      distance < (best?.distance ?? Infinity)
    )
      best = { key: known, distance };
  }
  return best?.key;
}

/** Property names a JSON Schema allows at a path (through arrays, unions and references). */
function keysAt(node: unknown, path: readonly PropertyKey[], defs: object): string[] {
  if (!node || typeof node !== 'object') return [];
  const n = node as Record<string, unknown>;
  if (typeof n.$ref === 'string') {
    const name = n.$ref.split('/').at(-1)!;
    return keysAt((defs as Record<string, unknown>)[name], path, defs);
  }
  const branches = [
    ...((n.anyOf as unknown[]) ?? []),
    ...((n.oneOf as unknown[]) ?? []),
    ...((n.allOf as unknown[]) ?? []),
  ];
  if (branches.length > 0) return [...new Set(branches.flatMap((b) => keysAt(b, path, defs)))];
  if (path.length === 0) return Object.keys((n.properties as object) ?? {});
  const [head, ...rest] = path;
  if (typeof head === 'number') return keysAt(n.items, rest, defs);
  return keysAt((n.properties as Record<string, unknown> | undefined)?.[String(head)], rest, defs);
}

/** Levenshtein distance. */
function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, j) => j);
  for (let i = 1; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++)
      row[j] = Math.min(
        previous[j]! + 1,
        row[j - 1]! + 1,
        previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    previous = row;
  }
  return previous[b.length]!;
}
