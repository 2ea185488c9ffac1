import { createHmac } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import type { CheckedAddress } from './address.js';

/**
 * The Standard Webhooks signature: `v1,` + base64 HMAC-SHA256 of `{id}.{timestamp}.{body}`,
 * keyed with the base64 after `whsec_`. With several secrets (a rotation) the signatures are
 * space-separated and a receiver accepts any.
 */
export function signature(
  secrets: readonly string[],
  id: string,
  timestamp: number,
  body: string,
): string {
  return secrets
    .map((secret) => {
      const key = Buffer.from(secret.startsWith('whsec_') ? secret.slice(6) : secret, 'base64');
      return `v1,${createHmac('sha256', key).update(`${id}.${timestamp}.${body}`).digest('base64')}`;
    })
    .join(' ');
}

/** The answer to a POST: its status and Retry-After, the body drained and dropped. */
export interface Answer {
  readonly status: number;
  readonly retryAfterSeconds: number | undefined;
}

/**
 * POSTs a body to `url`, connecting to the address that was checked (never to what DNS answers
 * now), never following redirects, within `timeoutMs` for the whole exchange. TLS still checks
 * the certificate against the URL's host name.
 */
export function post(
  url: URL,
  pinned: CheckedAddress,
  headers: Record<string, string>,
  body: string,
  timeoutMs: number,
): Promise<Answer> {
  const transport = url.protocol === 'https:' ? https : http;
  return new Promise((resolve, reject) => {
    const request = transport.request(
      {
        protocol: url.protocol,
        hostname: url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname,
        port: url.port || undefined,
        path: `${url.pathname}${url.search}`,
        method: 'POST',
        headers: { ...headers, 'content-length': Buffer.byteLength(body) },
        lookup: (_host, options, callback) => {
          if ((options as { all?: boolean }).all)
            (callback as (e: null, a: { address: string; family: number }[]) => void)(null, [
              pinned,
            ]);
          else callback(null, pinned.address, pinned.family);
        },
        signal: AbortSignal.timeout(timeoutMs),
      },
      (response) => {
        response.resume(); // drain: the body is not used (it may echo data)
        response.on('end', () =>
          resolve({
            status: response.statusCode ?? 0,
            retryAfterSeconds: retryAfter(response.headers['retry-after']),
          }),
        );
        response.on('error', reject);
      },
    );
    request.on('error', reject);
    request.end(body);
  });
}

function retryAfter(value: string | undefined): number | undefined {
  if (value === undefined) return undefined;
  if (/^\d+$/.test(value.trim())) return Number(value.trim());
  const at = Date.parse(value);
  return Number.isNaN(at) ? undefined : Math.max(0, Math.round((at - Date.now()) / 1000));
}
