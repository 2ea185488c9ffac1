import type { Readable } from 'node:stream';
import type { AxiosInstance, AxiosResponse } from 'axios';
import {
  ConfigError,
  ParseError,
  ScoreBridgeError,
  type SerializedError,
  SourceError,
  serializeError,
} from '../errors.js';
import type { Layout } from '../layout/layout.js';
import type { SourceEncoding } from '../parse/input.js';
import type { ParsedEntry } from '../parse/issues.js';
import type { JsonMapping } from '../parse/json.js';
import { parseRecords, type ResponseFormat } from '../parse/parse.js';
import {
  backoffDelay,
  DEFAULT_RETRY_POLICY,
  isRetryable,
  pause,
  type RetryPolicy,
} from '../retry.js';
import { formatEtsDate } from './dates.js';
import { sourceErrorFor } from './source-errors.js';
import { planSlices, type Slice, SlicePacer } from './windows.js';

/** Options of {@link createToeflAccessClient}. */
export interface ToeflAccessClientOptions {
  /** The scores endpoint, e.g. `https://toeflaccess-api.ets.org/scores`. */
  baseUrl: string;
  /** The API key, sent in the `authcode` header (never in the URL, a log or an error). */
  authcode: string;
  /** The `type` parameter ("type/program"). @default 'TOEFL' */
  type?: string;
  /** The `reportby` parameter. @default 'scorelinkbyreportdate' */
  reportBy?: string;
  /** The response format; `json` adds `format=json`. @default 'scorelink' */
  format?: ResponseFormat;
  /** The longest window of one request, in days (ETS asks for 30 or less). @default 30 */
  maxWindowDays?: number;
  /** Layouts for ScoreLink bodies. @default the shipped layouts */
  layouts?: readonly Layout[];
  /** JSON key names, for `format: 'json'`. */
  jsonMapping?: JsonMapping;
  /** The body's text encoding. @default 'utf-8' */
  encoding?: SourceEncoding;
  /** Connecting, waiting for the response, or a stall mid-body longer than this aborts the attempt. @default 60000 */
  idleTimeoutMs?: number;
  /** The whole response, body included, must arrive within this. @default 900000 */
  deadlineMs?: number;
  /** Retries of network errors, timeouts, 429 and 5xx (never 400, 401, 403). */
  retry?: Partial<RetryPolicy>;
  /** After an HTTP 500 the client waits between this and twice this (ETS: wait 5–10 minutes). @default 300000 */
  serverErrorPauseMs?: number;
  /** A slice that keeps failing with HTTP 500 is split in two down to this many days (ETS: "try a smaller window"). @default 1 */
  minSplitDays?: number;
  /** Called on every request, response, retry and finished slice: for logs and metrics. */
  onEvent?: (event: SourceEvent) => void;
  /** An axios instance to use (tests pass one pointed at a local server). @default a new instance */
  http?: AxiosInstance;
  /** Aborts everything (shutdown). */
  signal?: AbortSignal;
}

/** What the client reports as it works; nothing in it is secret or personal. */
export type SourceEvent =
  | { type: 'request'; slice: Slice; attempt: number; request: string }
  | {
      type: 'response';
      slice: Slice;
      attempt: number;
      status: number;
      durationMs: number;
      consecutiveServerErrors: number;
    }
  | {
      type: 'retry';
      slice: Slice;
      /** The attempt that failed (1-based); the next is `attempt + 1` of `attempts`. */
      attempt: number;
      /** Attempts the retry policy allows in all. */
      attempts: number;
      delayMs: number;
      error: SerializedError;
    }
  | { type: 'split'; slice: Slice; into: readonly Slice[] }
  | { type: 'slice'; slice: Slice; records: number; issues: number; durationMs: number };

/** Counters since the client was made. */
export interface SourceStats {
  requests: number;
  retries: number;
  /** HTTP 5xx answers in a row, reset by a success: ETS asks sites to alert on runs of them. */
  consecutiveServerErrors: number;
  /** Time to response headers of the last request. */
  lastResponseMs: number | undefined;
}

/** A TOEFL Access client. */
export interface ToeflAccessClient {
  /** Every slice of [from, to], in order, each slice's records deduplicated against the slice before. */
  fetch(from: Date, to: Date): AsyncGenerator<ParsedEntry[]>;
  /** One slice, as it streams; retried and, on repeated HTTP 500s, split. */
  fetchSlice(slice: Slice, seen?: Set<string>): AsyncGenerator<ParsedEntry[]>;
  /** The slices [from, to] is fetched in. */
  plan(from: Date, to: Date): Slice[];
  /** The slices of [from, to] newest first, each sized from the one before ({@link SlicePacer}). */
  pace(from: Date, to: Date): SlicePacer;
  readonly stats: Readonly<SourceStats>;
}

const ERROR_BODY_LIMIT = 4096;

/**
 * Makes a client for ETS's TOEFL Access score API. Construction does no I/O. Requests are
 * `GET {baseUrl}?startdate&enddate&type&reportby[&format=json]` with the key in the `authcode`
 * header; redirects are refused (the key must never reach another host); bodies stream into the
 * parser.
 */
export function createToeflAccessClient(options: ToeflAccessClientOptions): ToeflAccessClient {
  const base = parseBaseUrl(options.baseUrl);
  if (!options.authcode) throw new ConfigError('the TOEFL Access API key is empty');
  const policy: RetryPolicy = { ...DEFAULT_RETRY_POLICY, ...options.retry };
  const idleTimeoutMs = options.idleTimeoutMs ?? 60_000;
  const deadlineMs = options.deadlineMs ?? 15 * 60_000;
  const serverErrorPauseMs = options.serverErrorPauseMs ?? 5 * 60_000;
  const minSplitMs = (options.minSplitDays ?? 1) * 86_400_000;
  // axios is loaded at the first request: a command that never fetches never pays for it.
  let http: Promise<AxiosInstance> | undefined;
  const httpClient = () =>
    (http ??= options.http
      ? Promise.resolve(options.http)
      : import('axios').then((m) => m.default.create()));
  const stats: SourceStats = {
    requests: 0,
    retries: 0,
    consecutiveServerErrors: 0,
    lastResponseMs: undefined,
  };
  const emit = (event: SourceEvent) => options.onEvent?.(event);
  const secret = options.authcode;

  function urlFor(slice: Slice): string {
    const url = new URL(base);
    url.searchParams.set('startdate', formatEtsDate(slice.from));
    url.searchParams.set('enddate', formatEtsDate(slice.to));
    url.searchParams.set('type', options.type ?? 'TOEFL');
    url.searchParams.set('reportby', options.reportBy ?? 'scorelinkbyreportdate');
    if (options.format === 'json') url.searchParams.set('format', 'json');
    return url.toString();
  }

  /** One attempt: request, check the status, stream the body through the parser. */
  async function* attempt(slice: Slice, n: number): AsyncGenerator<ParsedEntry[]> {
    const url = urlFor(slice);
    const request = `GET ${url}`;
    const deadline = new AbortController();
    const timer = setTimeout(() => deadline.abort(), deadlineMs);
    const outer = options.signal;
    const stopOnOuter = () => deadline.abort();
    outer?.addEventListener('abort', stopOnOuter, { once: true });
    stats.requests++;
    emit({ type: 'request', slice, attempt: n, request });
    const started = performance.now();
    let response: AxiosResponse<Readable> | undefined;
    try {
      try {
        response = await (await httpClient()).request<Readable>({
          method: 'GET',
          url,
          headers: {
            authcode: secret,
            accept: options.format === 'json' ? 'application/json' : 'text/plain, */*',
            'user-agent': 'ScoreBridge',
          },
          responseType: 'stream',
          maxRedirects: 0,
          validateStatus: () => true,
          timeout: idleTimeoutMs,
          signal: deadline.signal,
        });
      } catch (error) {
        throw transportError(error, request, deadline.signal.aborted && !outer?.aborted, secret);
      }
      const durationMs = Math.round(performance.now() - started);
      stats.lastResponseMs = durationMs;
      const { status } = response;
      if (status >= 500) stats.consecutiveServerErrors++;
      else if (status < 300) stats.consecutiveServerErrors = 0;
      emit({
        type: 'response',
        slice,
        attempt: n,
        status,
        durationMs,
        consecutiveServerErrors: stats.consecutiveServerErrors,
      });
      if (status >= 300 && status < 400) {
        response.data.destroy();
        const location = response.headers.location;
        const to = typeof location === 'string' ? safeHost(location, url) : 'another address';
        throw new SourceError(
          'config',
          `[toefl-access] ${request} → ${status} redirect to ${to}, not followed`,
          {
            status,
            code: 'redirect',
            where: request,
            remedy:
              'ScoreBridge never follows a redirect with the API key. Check the base URL: use the address ETS documents (https://toeflaccess-api.ets.org/scores).',
          },
        );
      }
      if (status !== 200) {
        const body = await readSome(response.data, ERROR_BODY_LIMIT);
        throw sourceErrorFor(
          request,
          status,
          body.split(secret).join('[key]'),
          retryAfter(response.headers['retry-after']),
        );
      }
      const body = guardIdle(response.data, idleTimeoutMs, deadline.signal);
      try {
        yield* parseRecords(body, {
          format: options.format,
          layouts: options.layouts,
          jsonMapping: options.jsonMapping,
          encoding: options.encoding,
        });
      } catch (error) {
        if (error instanceof ParseError && !error.truncated) {
          throw new SourceError('parse', `[toefl-access] ${request}: ${error.message}`, {
            code: 'bad-body',
            where: request,
            remedy:
              'TOEFL Access answered 200 with something that is not scores in the asked format: check the base URL (ETS documents https://toeflaccess-api.ets.org/scores) and source.format; if it lasts, contact ETS support with the time (UTC) and the window, never the key.',
          });
        }
        throw transportError(error, request, deadline.signal.aborted && !outer?.aborted, secret);
      }
    } finally {
      clearTimeout(timer);
      outer?.removeEventListener('abort', stopOnOuter);
      response?.data.destroy();
    }
  }

  async function* fetchSlice(
    slice: Slice,
    seen = new Set<string>(),
    budgetEnds = Date.now() + policy.budgetMs,
  ): AsyncGenerator<ParsedEntry[]> {
    const started = performance.now();
    let records = 0;
    let issues = 0;
    let issueLinesYielded = 0;
    let serverErrors = 0;
    for (let n = 1; ; n++) {
      let issueLinesThisAttempt = 0;
      try {
        for await (const batch of attempt(slice, n)) {
          // A retried slice (or the second shared by two slices) repeats records: yield each once.
          const fresh = batch.filter((entry) => {
            if (!entry.record) return ++issueLinesThisAttempt > issueLinesYielded;
            // The hash covers the key fields too, and is a string of its own (see detached()).
            const id = entry.record.contentHash;
            if (seen.has(id)) return false;
            seen.add(id);
            return true;
          });
          issueLinesYielded = Math.max(issueLinesYielded, issueLinesThisAttempt);
          for (const e of fresh) e.issues.length > 0 ? issues++ : records++;
          if (fresh.length > 0) yield fresh;
        }
        emit({
          type: 'slice',
          slice,
          records,
          issues,
          durationMs: Math.round(performance.now() - started),
        });
        return;
      } catch (error) {
        const failure =
          error instanceof SourceError
            ? error
            : transportError(error, `GET ${urlFor(slice)}`, false, secret);
        if (!isRetryable(failure.kind) || options.signal?.aborted) throw failure;
        if (failure.code === 'server-error') serverErrors++;
        const span = slice.to.getTime() - slice.from.getTime();
        if (serverErrors >= 2 && span / 2 >= minSplitMs) {
          const middle = new Date(slice.from.getTime() + Math.floor(span / 2 / 1000) * 1000);
          const halves = [
            { from: slice.from, to: middle },
            { from: new Date(middle.getTime() - 1000), to: slice.to },
          ];
          emit({ type: 'split', slice, into: halves });
          for (const half of halves) yield* fetchSlice(half, seen, budgetEnds);
          return;
        }
        // ETS: after a 500 wait 5–10 minutes. A Retry-After is honoured as asked. Else: backoff.
        const delayMs =
          failure.code === 'server-error'
            ? Math.round(serverErrorPauseMs * (1 + Math.random()))
            : failure.retryAfterSeconds !== undefined
              ? failure.retryAfterSeconds * 1000 + Math.round(Math.random() * 1000)
              : backoffDelay(n, policy);
        if (n > policy.retries || Date.now() + delayMs > budgetEnds) throw failure;
        stats.retries++;
        emit({
          type: 'retry',
          slice,
          attempt: n,
          attempts: policy.retries + 1,
          delayMs,
          error: serializeError(failure),
        });
        try {
          await pause(delayMs, options.signal);
        } catch {
          throw failure;
        }
      }
    }
  }

  const plan = (from: Date, to: Date) => planSlices(from, to, options.maxWindowDays ?? 30);

  return {
    plan,
    pace: (from, to) => new SlicePacer(from, to, options.maxWindowDays ?? 30),
    fetchSlice: (slice, seen) => fetchSlice(slice, seen),
    async *fetch(from, to) {
      let previous = new Set<string>();
      for (const slice of plan(from, to)) {
        // Records in the second two slices share are deduplicated against the slice before.
        const current = new Set<string>(previous);
        yield* fetchSlice(slice, current);
        previous = new Set([...current].filter((id) => !previous.has(id)));
      }
    },
    get stats() {
      return stats;
    },
  };
}

function parseBaseUrl(text: string): URL {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new ConfigError(
      `baseUrl: "${text}" is not a URL (e.g. https://toeflaccess-api.ets.org/scores)`,
    );
  }
  if (url.protocol !== 'https:' && url.protocol !== 'http:') {
    throw new ConfigError(`baseUrl: ${url.protocol} is not supported; use https://`);
  }
  if (url.username || url.password) {
    throw new ConfigError(
      'baseUrl: must not hold a user name or password; the key goes in the authcode header',
    );
  }
  return url;
}

/** A network failure, timeout or cut-off body as a SourceError, through an allow-list. */
function transportError(
  error: unknown,
  request: string,
  deadlinePassed: boolean,
  secret: string,
): SourceError {
  if (error instanceof SourceError) return error;
  if (error instanceof ScoreBridgeError && error.kind !== 'parse')
    return new SourceError(error.kind, error.message, { where: request });
  const code = (error as { code?: string })?.code;
  const truncated = error instanceof ParseError && error.truncated;
  const raw = error instanceof Error ? error.message : String(error);
  const said = raw.split(secret).join('[key]');
  if (deadlinePassed || code === 'ERR_CANCELED') {
    return new SourceError(
      'timeout',
      `[toefl-access] ${request}: no complete response within the deadline`,
      {
        code: 'timeout',
        where: request,
        remedy:
          'ETS is slow or a large window is streaming slowly: ScoreBridge retries. Smaller windows (maxWindowDays) help.',
      },
    );
  }
  if (code === 'ECONNABORTED' || code === 'ETIMEDOUT' || code === 'IDLE_TIMEOUT') {
    return new SourceError(
      'timeout',
      `[toefl-access] ${request}: no answer for too long (${said})`,
      {
        code: 'timeout',
        where: request,
        remedy: 'ETS did not answer in time; ScoreBridge retries.',
      },
    );
  }
  if (
    truncated ||
    code === 'ECONNRESET' ||
    code === 'ERR_STREAM_PREMATURE_CLOSE' ||
    /aborted|premature/i.test(said)
  ) {
    return new SourceError(
      'unavailable',
      `[toefl-access] ${request}: the response was cut off (${said})`,
      {
        code: 'truncated',
        where: request,
        remedy:
          'The connection broke mid-response; ScoreBridge fetches the window again (records already read are not repeated).',
      },
    );
  }
  return new SourceError(
    'unavailable',
    `[toefl-access] ${request}: ${code ? `${code} ` : ''}${said}`,
    {
      code: 'network',
      where: request,
      remedy:
        code === 'ENOTFOUND'
          ? 'The host name does not resolve: check the base URL and the network.'
          : 'ETS could not be reached; ScoreBridge retries. If it persists, check the network and the base URL.',
    },
  );
}

/** Destroys the body with an IDLE_TIMEOUT error when no data arrives for `idleMs`. */
async function* guardIdle(
  stream: Readable,
  idleMs: number,
  signal: AbortSignal,
): AsyncGenerator<Uint8Array | string> {
  let timer: NodeJS.Timeout | undefined;
  const idle = () =>
    stream.destroy(Object.assign(new Error(`no data for ${idleMs} ms`), { code: 'IDLE_TIMEOUT' }));
  const abort = () =>
    stream.destroy(Object.assign(new Error('deadline passed'), { code: 'ERR_CANCELED' }));
  signal.addEventListener('abort', abort, { once: true });
  try {
    timer = setTimeout(idle, idleMs);
    for await (const chunk of stream) {
      timer.refresh();
      yield chunk as Uint8Array;
    }
  } finally {
    clearTimeout(timer);
    signal.removeEventListener('abort', abort);
  }
}

async function readSome(stream: Readable, limit: number): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  try {
    for await (const chunk of stream) {
      chunks.push(chunk as Buffer);
      size += (chunk as Buffer).length;
      if (size >= limit) break;
    }
  } catch {
    // An error body that breaks off still says what it said so far.
  }
  return Buffer.concat(chunks).toString('utf8').slice(0, limit);
}

function retryAfter(value: unknown): number | undefined {
  if (typeof value !== 'string') return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : Math.max(0, Math.round((date - Date.now()) / 1000));
}

/** The scheme and host a redirect points at, never its path or query (which could carry anything). */
function safeHost(location: string, base: string): string {
  try {
    const url = new URL(location, base);
    return `${url.protocol}//${url.host}`;
  } catch {
    return 'an unreadable address';
  }
}
