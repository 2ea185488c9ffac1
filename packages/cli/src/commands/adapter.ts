import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { ConfigError } from '@scorebridge/core';
import { type Io, write } from '../io.js';
import { names, templates } from '../scaffold/templates.js';
import type { AdapterNewOptions } from './adapter.command.js';

/** ScoreBridge's own version: the scaffold's packages are made for it. */
function ownVersion(): string {
  const file = join(import.meta.dirname, '..', '..', 'package.json');
  return (JSON.parse(readFileSync(file, 'utf8')) as { version: string }).version;
}

/**
 * `scorebridge adapter new <name>`: writes a complete adapter package — options, destination,
 * errors, the adapter export, a contract test against a loopback stand-in, a README — that
 * builds and passes the contract suite on its first `npm test`.
 */
export async function adapterNewCommand(
  type: string,
  options: Partial<AdapterNewOptions>,
  io: Io,
): Promise<number> {
  if (!/^[a-z][a-z0-9]*(-[a-z0-9]+)*$/.test(type))
    throw new ConfigError(
      `adapter name ${JSON.stringify(type)}: use lower-case letters, digits and single dashes, starting with a letter (e.g. crm, student-hub)`,
    );
  if (options.scope !== undefined && !/^@[a-z0-9][a-z0-9._~-]*$/.test(options.scope))
    throw new ConfigError(`--scope ${options.scope}: an npm scope looks like @your-org`);
  const n = names(type, options.scope, ownVersion());
  const target = resolve(options.dir ?? '.', `scorebridge-adapter-${type}`);
  if (existsSync(target) && readdirSync(target).length > 0)
    throw new ConfigError(`${target} already exists and is not empty: choose another --dir`);
  for (const [file, text] of Object.entries(templates(n))) {
    const path = join(target, file);
    mkdirSync(dirname(path), { recursive: true });
    writeFileSync(path, text);
  }
  const near = relative(process.cwd(), target);
  const shown = near === '' ? '.' : near.startsWith('..') ? target : near;
  await write(
    io.stdout,
    `Wrote ${n.packageName} in ${shown}/
Next:
  cd ${shown}
  npm install     # ScoreBridge's core and contract kit, TypeScript, vitest
  npm test        # type-check and the destination contract suite
  npm run build
Then install it beside a pipeline and name it: type: ${n.packageName.startsWith('@') ? `'${n.packageName}'` : n.packageName}
`,
  );
  return 0;
}
