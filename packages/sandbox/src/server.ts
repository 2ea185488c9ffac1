import { randomBytes } from 'node:crypto';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { type FieldValue, formatRecord, type Layout, layoutFromJson } from '@scorebridge/core';
import { SandboxData, type SandboxDataOptions, type SandboxRecord } from './data.js';
import { type Fault, FaultQueue, type FaultSpec } from './faults.js';
import {
  type HiddenLayout,
  type HiddenLayoutOptions,
  hiddenLayout,
  hiddenLineFields,
} from './hidden.js';

/** Options of {@link startSandbox}. */
export interface SandboxOptions extends SandboxDataOptions {
  /** Port to listen on; 0 picks a free one. @default 0 */
  port?: number;
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** The key(s) the sandbox accepts; the first is reported as `authcode`. @default a new key in ETS's format (Base64 of `id:secret`) */
  authcode?: string | readonly string[];
  /** Faults for the first requests. */
  faults?: FaultSpec[];
  /** Error bodies as plain text (ETS's sample texts) or as JSON `{status, message}`; ETS does not say which. @default 'text' */
  errorFormat?: 'text' | 'json';
  /** Between ScoreLink records. @default '\r\n' */
  separator?: '\r\n' | '\n' | '';
  /**
   * Damage every `every`-th report (by dataset index), alternately with an impossible date of
   * birth and a record cut short, to exercise parse issues and dead letters. @default none
   */
  corrupt?: { every: number };
  /** Refuse windows longer than this many days with a 400 (ETS asks for 30 or less; its limit is not published). @default no limit */
  maxWindowDays?: number;
  /**
   * Serve a layout the caller does not know: JSON under names of its own and the iBT26 parts at
   * positions of its own (see {@link HiddenLayout}; the sandbox's `hidden` tells the truth).
   * @default the sandbox's own layout (layouts/ibt26-sandbox.json, snake_case JSON names)
   */
  hiddenLayout?: HiddenLayoutOptions;
}

/** What the sandbox remembers of a request: never the key itself. */
export interface SandboxRequest {
  readonly time: string;
  readonly method: string;
  readonly path: string;
  readonly query: Readonly<Record<string, string>>;
  /** How the key was judged: `valid`, `missing`, `malformed`, `pending`, `expired`, `not-authenticated`, `unknown`. */
  readonly key: string;
  readonly fault: string | undefined;
  readonly status: number;
  readonly records: number;
}

/** A running sandbox. */
export interface Sandbox {
  /** `http://host:port`. */
  readonly url: string;
  /** The scores endpoint (`…/scores`), the client's base URL. */
  readonly scoresUrl: string;
  /** ETS's test endpoint (`…/scores/sample-data`): 11 fixed score sets. */
  readonly sampleDataUrl: string;
  /** The (first) key it accepts. */
  readonly authcode: string;
  readonly data: SandboxData;
  readonly faults: FaultQueue;
  /** Every request so far, oldest first. */
  readonly requests: SandboxRequest[];
  /** The layout it serves when started with `hiddenLayout`. */
  readonly hidden: HiddenLayout | undefined;
  close(): Promise<void>;
}

const b64 = (text: string) => Buffer.from(text).toString('base64');

/** A well-formed key that gets "Authcode validation failed due to an error" (an account pending its two business days). */
export const PENDING_ACCOUNT_KEY = b64('pending-account:sandbox');
/** A well-formed key that gets "Authcode validation failed" (expired). */
export const EXPIRED_KEY = b64('expired-key:sandbox');
/** A well-formed key that gets "User is not authenticated". */
export const UNAUTHENTICATED_KEY = b64('not-authenticated:sandbox');

/** The sandbox's own iBT26 sub-layout (see layouts/ibt26-sandbox.json). */
export const SANDBOX_LAYOUT_URL = new URL('../layouts/ibt26-sandbox.json', import.meta.url);

let sandboxLayout: Layout | undefined;
/** The 1600 layout with the sandbox's iBT26 sub-fields: what it writes, and what reads it back. */
export function sandboxLayout1600(): Layout {
  sandboxLayout ??= layoutFromJson(
    readFileSync(SANDBOX_LAYOUT_URL, 'utf8'),
    SANDBOX_LAYOUT_URL.pathname,
  );
  return sandboxLayout;
}

/** A key in ETS's format: Base64 of `clientId:clientSecret`. */
export function newSandboxKey(): string {
  return b64(`sandbox-${randomBytes(4).toString('hex')}:${randomBytes(18).toString('hex')}`);
}

const TEXTS = {
  startdate: 'startdate is required',
  enddate: 'enddate is required',
  type: 'type/program is required',
  reportby: 'reportby is required',
  format: 'Invalid credentials format',
  missing: 'authcode is required',
  expired: 'Authcode validation failed',
  pending: 'Authcode validation failed due to an error',
  unauthenticated: 'User is not authenticated',
  forbidden: 'Forbidden',
  server: 'Internal Server Error',
} as const;

const ETS_DATE = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}$/;

/**
 * Starts a TOEFL Access emulator: `GET /scores` and `GET /scores/sample-data` with ETS's
 * parameters, status codes and error texts, in ScoreLink or JSON; faults on demand; and a small
 * admin API under `/_sandbox/` (`GET|DELETE requests`, `POST|DELETE faults`).
 */
export async function startSandbox(options: SandboxOptions = {}): Promise<Sandbox> {
  const data = new SandboxData(options);
  const samples = sampleData();
  const keys =
    typeof options.authcode === 'string'
      ? [options.authcode]
      : options.authcode?.length
        ? [...options.authcode]
        : [newSandboxKey()];
  const authcode = keys[0]!;
  const faults = new FaultQueue();
  faults.add(...(options.faults ?? []));
  const requests: SandboxRequest[] = [];
  const hidden = options.hiddenLayout ? hiddenLayout(options.hiddenLayout) : undefined;
  const layout = hidden?.layout ?? sandboxLayout1600();
  const lineFields = (fields: Record<string, FieldValue>) =>
    hidden ? hiddenLineFields(hidden, fields) : fields;
  const jsonOf = (fields: Record<string, FieldValue>) =>
    hidden ? hiddenJsonRecord(fields, hidden) : jsonRecord(fields);
  const separator = options.separator ?? '\r\n';

  const server = createServer((req, res) => {
    handle(req, res).catch(() => res.destroy());
  });

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://sandbox');
    if (url.pathname.startsWith('/_sandbox/')) return admin(req, res, url);
    const query = Object.fromEntries(
      ['startdate', 'enddate', 'type', 'reportby', 'format'].flatMap((k) =>
        url.searchParams.has(k) ? [[k, url.searchParams.get(k)!]] : [],
      ),
    );
    const log = (key: string, status: number, records = 0, fault?: Fault) =>
      requests.push({
        time: new Date().toISOString(),
        method: req.method ?? '',
        path: url.pathname,
        query,
        key,
        fault: fault?.kind,
        status,
        records,
      });
    const sample = url.pathname === '/scores/sample-data';
    if ((url.pathname !== '/scores' && !sample) || req.method !== 'GET') {
      log('unknown', 404);
      return text(res, 404, 'Not Found');
    }
    const key = judgeKey(req.headers.authcode, keys);
    const fault = faults.next();
    if (fault?.kind === 'hang') {
      log(key, 0, 0, fault);
      return; // never answered; closed when the sandbox closes
    }
    if (fault?.kind === 'body') {
      log(key, 200, 0, fault);
      res
        .writeHead(200, { 'content-type': fault.contentType ?? 'text/plain; charset=utf-8' })
        .end(fault.body);
      return;
    }
    if (fault?.kind === 'redirect') {
      log(key, 302, 0, fault);
      res.writeHead(302, { location: fault.location }).end();
      return;
    }
    if (fault?.kind === 'status') {
      log(key, fault.status, 0, fault);
      const headers: Record<string, string> =
        fault.retryAfter !== undefined ? { 'retry-after': String(fault.retryAfter) } : {};
      const words =
        fault.status === 403
          ? TEXTS.forbidden
          : fault.status >= 500
            ? TEXTS.server
            : `HTTP ${fault.status}`;
      return error(res, fault.status, words, headers);
    }
    const keyError = {
      missing: [401, TEXTS.missing],
      malformed: [400, TEXTS.format],
      pending: [401, TEXTS.pending],
      expired: [401, TEXTS.expired],
      unknown: [401, TEXTS.expired],
      'not-authenticated': [401, TEXTS.unauthenticated],
    }[key as string] as [number, string] | undefined;
    if (keyError) {
      log(key, keyError[0]);
      return error(res, keyError[0], keyError[1]);
    }
    const problem = parameterProblem(url.searchParams, options.maxWindowDays);
    if (problem) {
      log(key, 400);
      return error(res, 400, problem);
    }
    const json = url.searchParams.get('format')?.toLowerCase() === 'json';
    let selected: Iterable<Record<string, FieldValue>>;
    let count: number;
    if (sample) {
      selected = samples.map((r) => r.fields);
      count = samples.length;
    } else {
      const { start, end } = data.select(
        new Date(`${query.startdate}Z`),
        new Date(`${query.enddate}Z`),
      );
      count = end - start;
      selected = (function* () {
        for (let i = start; i < end; i++)
          yield corrupted(data.record(i).fields, i, options.corrupt);
      })();
    }
    log(key, 200, count, fault);
    res.writeHead(200, {
      'content-type': json ? 'application/json; charset=utf-8' : 'text/plain; charset=utf-8',
    });
    await stream(res, selected, json, fault);
  }

  function error(
    res: ServerResponse,
    status: number,
    words: string,
    headers: Record<string, string> = {},
  ): void {
    if (options.errorFormat === 'json') {
      res
        .writeHead(status, { 'content-type': 'application/json', ...headers })
        .end(JSON.stringify({ status, message: words }));
    } else text(res, status, words, headers);
  }

  async function stream(
    res: ServerResponse,
    records: Iterable<Record<string, FieldValue>>,
    json: boolean,
    fault: Fault | undefined,
  ): Promise<void> {
    const limit = fault?.kind === 'truncate' ? fault.afterBytes : Number.POSITIVE_INFINITY;
    const pieceSize = fault?.kind === 'slow' ? 16 * 1024 : 64 * 1024;
    let sent = 0;
    let piece = json ? '{"data":[' : '';
    let first = true;
    const flush = async (final: boolean) => {
      let bytes = Buffer.from(piece);
      piece = '';
      if (sent + bytes.length > limit) bytes = bytes.subarray(0, limit - sent);
      sent += bytes.length;
      if (bytes.length > 0 && !res.write(bytes)) await once(res, 'drain');
      if (sent >= limit) {
        res.destroy(); // the connection breaks mid-body
        return false;
      }
      if (fault?.kind === 'slow' && !final) await sleep(fault.delayMs);
      return true;
    };
    for (const fields of records) {
      if (res.destroyed) return;
      const line = json ? '' : formatRecord(lineFields(fields), layout);
      piece += json
        ? `${first ? '' : ','}${JSON.stringify(jsonOf(fields))}`
        : `${first ? '' : separator}${fields[CUT] ? line.slice(0, 1590) : line}`;
      first = false;
      if (piece.length >= pieceSize && !(await flush(false))) return;
    }
    piece += json ? ']}' : first ? '' : separator;
    if (await flush(true)) res.end();
  }

  function admin(req: IncomingMessage, res: ServerResponse, url: URL): Promise<void> | void {
    const route = `${req.method} ${url.pathname}`;
    if (route === 'GET /_sandbox/requests') return json(res, 200, requests);
    if (route === 'DELETE /_sandbox/requests') {
      requests.length = 0;
      return json(res, 200, { cleared: true });
    }
    if (route === 'DELETE /_sandbox/faults') {
      faults.clear();
      return json(res, 200, { cleared: true });
    }
    if (route === 'POST /_sandbox/faults') {
      return readBody(req).then((body) => {
        try {
          const specs = (JSON.parse(body) as { faults?: FaultSpec[] }).faults;
          if (!Array.isArray(specs)) throw new Error('expected {"faults": [...]}');
          faults.add(...specs);
          json(res, 200, { pending: faults.pending });
        } catch (cause) {
          json(res, 400, { error: (cause as Error).message });
        }
      });
    }
    return json(res, 404, { error: `no admin route ${route}` });
  }

  server.listen(options.port ?? 0, options.host ?? '127.0.0.1');
  await once(server, 'listening');
  const { port, address } = server.address() as AddressInfo;
  const host = address.includes(':') ? `[${address}]` : address;
  const base = `http://${host}:${port}`;
  return {
    url: base,
    scoresUrl: `${base}/scores`,
    sampleDataUrl: `${base}/scores/sample-data`,
    authcode,
    data,
    faults,
    requests,
    hidden,
    async close() {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}

const CUT = '__sandboxCut';

/** Every `every`-th report damaged: an impossible date of birth, or (the next time) cut short. */
function corrupted(
  fields: Record<string, FieldValue>,
  index: number,
  corrupt: { every: number } | undefined,
): Record<string, FieldValue> {
  if (!corrupt || (index + 1) % corrupt.every !== 0) return fields;
  return ((index + 1) / corrupt.every) % 2 === 1
    ? { ...fields, dateOfBirth: '20011341' }
    : { ...fields, [CUT]: 'yes' };
}

/** How a key is judged: the key itself is never kept. */
function judgeKey(header: string | string[] | undefined, valid: readonly string[]): string {
  if (header === undefined || header === '') return 'missing';
  const key = Array.isArray(header) ? header[0]! : header;
  if (valid.includes(key)) return 'valid';
  if (key === PENDING_ACCOUNT_KEY) return 'pending';
  if (key === EXPIRED_KEY) return 'expired';
  if (key === UNAUTHENTICATED_KEY) return 'not-authenticated';
  // ETS keys are Base64 of "clientId:clientSecret"; anything else is malformed.
  const decoded = /^[A-Za-z0-9+/]+={0,2}$/.test(key)
    ? Buffer.from(key, 'base64').toString('utf8')
    : '';
  return /^[^:\s]+:[^:\s]+$/.test(decoded) ? 'unknown' : 'malformed';
}

/** ETS's parameter rules: each missing parameter by name, ISO dates in UTC, start before end. */
function parameterProblem(
  params: URLSearchParams,
  maxWindowDays: number | undefined,
): string | undefined {
  for (const name of ['startdate', 'enddate', 'type', 'reportby'] as const) {
    if (!params.get(name)) return TEXTS[name];
  }
  const start = params.get('startdate')!;
  const end = params.get('enddate')!;
  for (const [name, value] of [
    ['startdate', start],
    ['enddate', end],
  ] as const) {
    if (!ETS_DATE.test(value) || Number.isNaN(Date.parse(`${value}Z`))) {
      return `${name} must be an ISO 8601 date-time in UTC (YYYY-MM-DDTHH:mm:ss)`;
    }
  }
  if (Date.parse(`${end}Z`) <= Date.parse(`${start}Z`)) return 'enddate must be after startdate';
  if (
    maxWindowDays !== undefined &&
    Date.parse(`${end}Z`) - Date.parse(`${start}Z`) > maxWindowDays * 86_400_000
  ) {
    return `the window must be ${maxWindowDays} days or less`;
  }
  if (params.get('type')!.toUpperCase() !== 'TOEFL') return 'type/program is not supported';
  if (params.get('reportby')!.toLowerCase() !== 'scorelinkbyreportdate')
    return 'reportby is not supported';
  const format = params.get('format');
  if (format !== null && !['json', 'text'].includes(format.toLowerCase()))
    return 'format is not supported';
  return undefined;
}

/** JSON records: ETS's JSON names are not published, so the sandbox uses snake_case layout ids. */
function jsonRecord(fields: Record<string, FieldValue>): Record<string, FieldValue> {
  return Object.fromEntries(
    Object.entries(fields)
      .filter(([, v]) => v !== null)
      .map(([k, v]) => [k.replace(/([a-z0-9])([A-Z])/g, '$1_$2').toLowerCase(), v]),
  );
}

/** JSON records under the hidden layout's names. */
function hiddenJsonRecord(
  fields: Record<string, FieldValue>,
  hidden: HiddenLayout,
): Record<string, FieldValue> {
  return Object.fromEntries(
    Object.entries(fields).flatMap(([k, v]) =>
      v === null || hidden.jsonNames[k] === undefined ? [] : [[hidden.jsonNames[k], v]],
    ),
  );
}

/** ETS's test environment: 11 score sets, 1–9 on the 0–120 scale, 10–11 on the iBT26 1–6 scale. */
function sampleData(): SandboxRecord[] {
  const pool = new SandboxData({
    seed: 11,
    records: 400,
    days: 400,
    now: new Date('2026-06-01T00:00:00Z'),
  });
  const all = Array.from({ length: pool.size }, (_, i) => pool.record(i)).filter((r) => !r.resent);
  const legacy = all.filter((r) => r.fields.ibtTotal != null).slice(0, 9);
  const bands = all.filter((r) => r.fields.ibt26Total != null).slice(0, 2);
  return [...legacy, ...bands];
}

function text(
  res: ServerResponse,
  status: number,
  body: string,
  headers: Record<string, string> = {},
): void {
  res.writeHead(status, { 'content-type': 'text/plain; charset=utf-8', ...headers }).end(body);
}

function json(res: ServerResponse, status: number, body: unknown): void {
  res.writeHead(status, { 'content-type': 'application/json' }).end(JSON.stringify(body));
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
