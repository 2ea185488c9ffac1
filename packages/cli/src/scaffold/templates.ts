/**
 * The files `scorebridge adapter new` writes: a complete adapter package that builds and passes
 * the contract suite as it is. `docs/adapters.md` walks through the same files (a test keeps the
 * two the same).
 */

/** How a name appears in the files: `crm-hub` → package, `crmHub`, `CrmHub`. */
export interface Names {
  readonly type: string;
  readonly packageName: string;
  readonly camel: string;
  readonly pascal: string;
  /** The versions of ScoreBridge's packages the adapter is made for. */
  readonly version: string;
}

export function names(type: string, scope: string | undefined, version: string): Names {
  const camel = type.replace(/-([a-z0-9])/g, (_, c: string) => c.toUpperCase());
  return {
    type,
    packageName: `${scope ? `${scope}/` : ''}scorebridge-adapter-${type}`,
    camel,
    pascal: camel[0]!.toUpperCase() + camel.slice(1),
    version,
  };
}

export function templates(n: Names): Record<string, string> {
  return {
    ...packageFiles(n),
    ...sourceFiles(n),
    ...destinationFiles(n),
    ...testAndReadme(n),
  };
}

/** package.json, the TypeScript configurations, .gitignore. */
function packageFiles(n: Names): Record<string, string> {
  return {
    'package.json': `${JSON.stringify(
      {
        name: n.packageName,
        version: '0.1.0',
        description: `A ScoreBridge destination adapter: TOEFL scores into ${n.pascal}.`,
        type: 'module',
        engines: { node: '^20.19.0 || >=22.12.0' },
        exports: { '.': { types: './dist/index.d.ts', default: './dist/index.js' } },
        files: ['dist'],
        scripts: {
          build: 'tsc -p tsconfig.build.json',
          test: 'tsc -p tsconfig.json && vitest run',
        },
        peerDependencies: { '@scorebridge/core': `^${n.version}` },
        devDependencies: {
          '@scorebridge/adapter-kit': `^${n.version}`,
          '@scorebridge/core': `^${n.version}`,
          '@types/node': '^20.19.0',
          typescript: '^5.9.3',
          vitest: '^4.1.12',
        },
      },
      null,
      2,
    )}\n`,
    'tsconfig.json': `${JSON.stringify(
      {
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          strict: true,
          noUncheckedIndexedAccess: true,
          skipLibCheck: true,
          declaration: true,
          outDir: 'dist',
          rootDir: 'src',
          noEmit: true,
        },
        include: ['src'],
      },
      null,
      2,
    )}\n`,
    'tsconfig.build.json': `${JSON.stringify(
      {
        extends: './tsconfig.json',
        compilerOptions: { noEmit: false },
        exclude: ['src/**/*.test.ts'],
      },
      null,
      2,
    )}\n`,
    '.gitignore': 'node_modules/\ndist/\n',
  };
}

/** The adapter's options and errors. */
function sourceFiles(n: Names): Record<string, string> {
  return {
    'src/options.ts': `import { secretSchema, z } from '@scorebridge/core';

/** The options a pipeline gives this destination (\`destinations[].options\`), checked at load. */
export const ${n.camel}OptionsSchema = z
  .object({
    url: z.url().describe('Where ${n.pascal} takes batches, e.g. https://crm.example.edu/scorebridge/'),
    apiKey: secretSchema.describe('The API key, by reference: \${env:${n.type.toUpperCase().replace(/-/g, '_')}_API_KEY}'),
    timeoutSeconds: z.number().positive().max(120).default(30).describe('Seconds per request'),
  })
  .strict();

export type ${n.pascal}Options = z.infer<typeof ${n.camel}OptionsSchema>;
`,
    'src/errors.ts': `import { DestinationError, type ErrorKind } from '@scorebridge/core';

/**
 * A refused request as ScoreBridge's closed error kinds, each with what to do. The runtime alone
 * decides what is retried: \`auth\` and \`rejected\` wait for a person, \`rate-limit\`,
 * \`unavailable\` and \`timeout\` are tried again (after \`retryAfterSeconds\` when given).
 */
export function refused(where: string, what: string, response: Response): DestinationError {
  const status = response.status;
  const kind: ErrorKind =
    status === 401 || status === 403
      ? 'auth'
      : status === 429
        ? 'rate-limit'
        : status >= 500
          ? 'unavailable'
          : 'rejected';
  const wait = Number(response.headers.get('retry-after'));
  return new DestinationError(kind, \`\${where} \${what} → HTTP \${status}\`, {
    remedy: {
      auth: 'check apiKey: the server refused it',
      'rate-limit': 'nothing: it is sent again after the wait the server asked for',
      unavailable: 'nothing if it passes: it is sent again; if it lasts, check the server',
      rejected: "see the server's log for why it refused the batch",
    }[kind as 'auth' | 'rate-limit' | 'unavailable' | 'rejected'],
    retryAfterSeconds: Number.isFinite(wait) && wait > 0 ? wait : undefined,
  });
}

/** No answer: the server is down, the address wrong, or it took too long. Tried again. */
export function unreachable(where: string, what: string, cause: unknown): DestinationError {
  const late = (cause as Error).name === 'TimeoutError';
  return new DestinationError(
    late ? 'timeout' : 'unavailable',
    \`\${where} \${what}: \${late ? 'no answer in time' : 'the server cannot be reached'}\`,
    { cause, remedy: 'check url and that the server is up; it is sent again by itself' },
  );
}
`,
  };
}

/** The destination and the package's entry point. */
function destinationFiles(n: Names): Record<string, string> {
  return {
    'src/destination.ts': `import type {
  DeliveryBatch,
  Destination,
  DestinationContext,
  RecordOutcome,
} from '@scorebridge/core';
import { refused, unreachable } from './errors.js';
import type { ${n.pascal}Options } from './options.js';

/**
 * Sends each batch as one JSON document, \`PUT {url}/batches/{batch.id}\`: the batch id in the
 * path makes a batch sent again replace itself, so delivery is idempotent for a batch id.
 */
export function create${n.pascal}Destination(
  options: ${n.pascal}Options,
  context: DestinationContext,
): Destination {
  const where = \`[\${context.destinationId}]\`;
  const base = options.url.endsWith('/') ? options.url : \`\${options.url}/\`;

  async function send(method: string, path: string, body?: unknown): Promise<Response> {
    const what = \`\${method} \${path}\`;
    let response: Response;
    try {
      response = await fetch(new URL(path, base), {
        method,
        headers: {
          authorization: \`Bearer \${options.apiKey.reveal()}\`,
          'content-type': 'application/json',
        },
        body: body === undefined ? undefined : JSON.stringify(body),
        signal: AbortSignal.timeout(options.timeoutSeconds * 1000),
        redirect: 'manual',
      });
    } catch (cause) {
      throw unreachable(where, what, cause);
    }
    if (!response.ok) throw refused(where, what, response);
    return response;
  }

  return {
    async check() {
      await send('GET', 'health');
    },

    async deliver(batch: DeliveryBatch): Promise<RecordOutcome[]> {
      await send('PUT', \`batches/\${encodeURIComponent(batch.id)}\`, {
        pipeline: batch.pipeline,
        records: batch.records.map((r) => ({
          recordKey: r.recordKey,
          contentHash: r.contentHash,
          // What a re-sent report changed (scores-changed, mybest-changed, other-fields).
          update: batch.updates?.[r.contentHash] ?? null,
          fields: r.fields,
        })),
      });
      return batch.records.map((r) => ({
        recordKey: r.recordKey,
        contentHash: r.contentHash,
        status: 'delivered',
      }));
    },

    async close() {},
  };
}
`,
    'src/index.ts': `import { defineAdapter } from '@scorebridge/core';
import { create${n.pascal}Destination } from './destination.js';
import { ${n.camel}OptionsSchema } from './options.js';

/** What a pipeline loads when a destination says \`type: ${n.packageName}\`. */
export const adapter = defineAdapter({
  type: '${n.packageName}',
  description: 'TOEFL scores into ${n.pascal}, one JSON document per batch',
  optionsSchema: ${n.camel}OptionsSchema,
  create: create${n.pascal}Destination,
});
`,
  };
}

/** The contract test and the README. */
function testAndReadme(n: Names): Record<string, string> {
  return {
    'src/destination.test.ts': `import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { runDestinationContract, type StoredRecord } from '@scorebridge/adapter-kit';
import { Secret } from '@scorebridge/core';
import { afterAll } from 'vitest';
import { adapter } from './index.js';

const API_KEY = 'CANARY-${n.type}-api-key';

/** A stand-in for ${n.pascal} on loopback: it keeps each batch by its id, as the real one must. */
async function start${n.pascal}() {
  const batches = new Map<string, StoredRecord[]>();
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c) => (body += c));
    req.on('end', () => {
      if (req.headers.authorization !== \`Bearer \${API_KEY}\`) return void res.writeHead(401).end();
      const batch = /^\\/batches\\/([^/]+)$/.exec(req.url ?? '');
      if (req.method === 'GET' && req.url === '/health') return void res.writeHead(200).end();
      if (req.method === 'PUT' && batch) {
        const { records } = JSON.parse(body) as { records: StoredRecord[] };
        batches.set(decodeURIComponent(batch[1]!), records.map(({ recordKey, contentHash }) => ({ recordKey, contentHash })));
        return void res.writeHead(200).end();
      }
      res.writeHead(404).end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const url = \`http://127.0.0.1:\${(server.address() as AddressInfo).port}/\`;
  return { url, batches, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

const servers = new Map<string, Awaited<ReturnType<typeof start${n.pascal}>>>();
const fresh = async () => {
  const s = await start${n.pascal}();
  servers.set(s.url, s);
  return s;
};
afterAll(async () => {
  for (const s of servers.values()) await s.close().catch(() => {});
});

type Options = { url: string; apiKey: Secret };

runDestinationContract<Options>('${n.type}', {
  adapter,
  options: async () => ({ url: (await fresh()).url, apiKey: new Secret(API_KEY) }),
  stored: async (o) => [...servers.get(o.url)!.batches.values()].flat(),
  broken: [
    {
      name: 'a wrong API key',
      kind: 'auth',
      options: async () => ({ url: (await fresh()).url, apiKey: new Secret('CANARY-wrong-key') }),
    },
    {
      name: 'a server that is down',
      kind: 'unavailable',
      options: async () => {
        const s = await fresh();
        await s.close();
        return { url: s.url, apiKey: new Secret(API_KEY) };
      },
    },
  ],
  secrets: [API_KEY, 'CANARY-wrong-key'],
});
`,
    'README.md': `# ${n.packageName}

A [ScoreBridge](https://github.com/scorebridge/scorebridge) destination adapter: TOEFL scores into
${n.pascal}, one JSON document per batch (\`PUT {url}/batches/{batch id}\`).

\`\`\`sh
npm install          # once
npm test             # type-check, then the ScoreBridge destination contract suite
npm run build        # dist/, what a pipeline loads
\`\`\`

Use it from a pipeline: install the package beside the pipeline file (\`npm install ${n.packageName}\`,
or \`npm install ../path/to/this/folder\`), then name it as the destination's type:

\`\`\`yaml
destinations:
  - id: ${n.type}
    type: ${n.packageName.startsWith('@') ? `'${n.packageName}'` : n.packageName}
    options:
      url: https://crm.example.edu/scorebridge/
      apiKey: \${env:${n.type.toUpperCase().replace(/-/g, '_')}_API_KEY}
\`\`\`

\`scorebridge schema --adapter ${n.packageName} -o pipeline.schema.json\` adds its options to the
editor schema. What an adapter must do, and what the contract suite checks:
ScoreBridge's \`docs/adapters.md\`.
`,
  };
}
