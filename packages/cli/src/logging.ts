import { createRequire } from 'node:module';
import type { Writable } from 'node:stream';
import { type DestinationLogger, serializeError } from '@scorebridge/core';
import pino from 'pino';
import type PinoPretty from 'pino-pretty';

/** Log levels `--log-level` accepts. */
import type { LogLevel } from './defaults.js';

export type { LogLevel } from './defaults.js';

/**
 * Allow-list serialisers: an error becomes ScoreBridge's serialised error (kind, message, where,
 * remedy, status, code) — never the object itself, which for an HTTP client error holds request
 * headers and so the API key — and HTTP requests and responses only their method, host, path and
 * status (no query string, no headers, no body).
 */
export const serializers = {
  err: (e: unknown) => serializeError(e),
  error: (e: unknown) =>
    e && typeof e === 'object' && 'kind' in e && 'message' in e ? e : serializeError(e),
  req: (r: { method?: string; url?: string }) => ({ method: r?.method, url: pathOnly(r?.url) }),
  res: (r: { statusCode?: number; status?: number }) => ({ status: r?.statusCode ?? r?.status }),
};

function pathOnly(url: string | undefined): string | undefined {
  if (!url) return url;
  try {
    const u = new URL(url, 'http://local');
    return url.startsWith('/') ? u.pathname : `${u.origin}${u.pathname}`;
  } catch {
    return '(unreadable URL)';
  }
}

/**
 * Whether to colour what goes to `stream`: never with NO_COLOR set (no-color.org: any non-empty
 * value), always with FORCE_COLOR (other than `0`/`false`), else on a terminal.
 */
export function colorEnabled(
  stream: { isTTY?: boolean },
  env: NodeJS.ProcessEnv = process.env,
): boolean {
  if (env.NO_COLOR) return false;
  if (env.FORCE_COLOR !== undefined) return env.FORCE_COLOR !== '0' && env.FORCE_COLOR !== 'false';
  return !!stream.isTTY;
}

/**
 * The process's logger (pino): JSON lines by default, one per event, for log collectors; coloured
 * readable lines when the stream is a terminal. Returned as the logger adapters and the runtime use.
 */
export function createLogger(
  stream: Writable & { isTTY?: boolean },
  level: LogLevel = 'info',
): DestinationLogger & { pino: pino.Logger } {
  // pino-pretty loads only for a terminal (a run from cron writes JSON lines).
  const pinoPretty = () => createRequire(import.meta.url)('pino-pretty') as typeof PinoPretty;
  const destination = stream.isTTY
    ? pinoPretty()({
        destination: stream,
        colorize: colorEnabled(stream),
        sync: true,
        translateTime: 'SYS:HH:MM:ss',
      })
    : stream;
  const log = pino(
    { level, base: undefined, serializers, timestamp: pino.stdTimeFunctions.isoTime },
    destination,
  );
  const at =
    (method: 'debug' | 'info' | 'warn' | 'error') =>
    (message: string, fields?: Record<string, unknown>) =>
      fields ? log[method](fields, message) : log[method](message);
  return { pino: log, debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') };
}
