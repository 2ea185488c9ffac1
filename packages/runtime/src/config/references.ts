import { readFileSync } from 'node:fs';
import { isAbsolute, resolve } from 'node:path';
import { Secret } from '@scorebridge/core';

/**
 * Keys whose values are secrets, wherever they appear (source, destination options,
 * notifications). Their values must be references, `${env:NAME}` or `${file:PATH}`, never
 * inline text; they become {@link Secret}s, which print as `[secret]`.
 */
export const SECRET_KEYS: ReadonlySet<string> = new Set([
  'authcode',
  'password',
  'passphrase',
  'privateKey',
  'secret',
  'secrets',
  'clientSecret',
  'refreshToken',
  'token',
  'apiKey',
  'webhookUrl',
]);

const ONE_REFERENCE = /^\$\{(env|file):([^}]+)\}$/;
const REFERENCES = /\$\{(env|file):([^}]+)\}/g;

/** Where to resolve references from. */
export interface ReferenceContext {
  readonly env: NodeJS.ProcessEnv;
  /** Directory `${file:…}` paths are relative to (the pipeline file's). */
  readonly baseDir: string;
  /** `file:line:column` of a path. */
  readonly where: (path: readonly PropertyKey[]) => string;
  /**
   * For commands that only read state (status, dead letters): references that cannot be
   * resolved here are not problems; secrets become empty, URLs a placeholder.
   */
  readonly lenient?: boolean;
}

/**
 * Resolves `${env:NAME}` and `${file:PATH}` in one pass (resolved text is not scanned again).
 * Secret keys must hold exactly one reference and become Secrets; other strings may embed
 * references. Every problem is returned, each with its location and path.
 */
export function resolveReferences(
  value: unknown,
  context: ReferenceContext,
): { value: unknown; problems: string[] } {
  const problems: string[] = [];
  const walk = (node: unknown, path: PropertyKey[], secret: boolean): unknown => {
    if (Array.isArray(node)) return node.map((item, i) => walk(item, [...path, i], secret));
    if (node && typeof node === 'object') {
      return Object.fromEntries(
        Object.entries(node).map(([key, item]) => [
          key,
          walk(item, [...path, key], secret || SECRET_KEYS.has(key)),
        ]),
      );
    }
    const here = () => `${context.where(path)}: ${pathText(path)}`;
    if (secret) {
      const ref = typeof node === 'string' ? ONE_REFERENCE.exec(node) : null;
      if (!ref) {
        problems.push(
          `${here()}: this is a secret; give it by reference — \${env:NAME} or \${file:PATH} — not inline`,
        );
        return undefined;
      }
      const resolved = lookup(ref[1]!, ref[2]!);
      return resolved === undefined
        ? context.lenient
          ? new Secret('')
          : undefined
        : new Secret(resolved);
    }
    if (typeof node !== 'string' || !node.includes('${')) return node;
    const text = node.replace(
      REFERENCES,
      (_, kind: string, name: string) => lookup(kind, name) ?? '',
    );
    const key = String(path.at(-1) ?? '');
    return context.lenient && text === '' && /url$/i.test(key)
      ? 'https://unresolved.invalid/'
      : text;

    function lookup(kind: string, name: string): string | undefined {
      if (kind === 'env') {
        const v = context.env[name];
        if ((v === undefined || v === '') && !context.lenient)
          problems.push(`${here()}: the environment variable ${name} is not set`);
        return v || undefined;
      }
      const file = isAbsolute(name) ? name : resolve(context.baseDir, name);
      try {
        return readFileSync(file, 'utf8').replace(/\r?\n$/, '');
      } catch (cause) {
        if (!context.lenient)
          problems.push(
            `${here()}: cannot read ${file} (${(cause as NodeJS.ErrnoException).code ?? 'error'})`,
          );
        return undefined;
      }
    }
  };
  return { value: walk(value, [], false), problems };
}

/** `destinations[0].options.directory`. */
export function pathText(path: readonly PropertyKey[]): string {
  return (
    path.reduce<string>(
      (out, key) =>
        typeof key === 'number' ? `${out}[${key}]` : out ? `${out}.${String(key)}` : String(key),
      '',
    ) || '(top level)'
  );
}
