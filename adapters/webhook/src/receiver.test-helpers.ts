import { once } from 'node:events';
import { createServer, type IncomingHttpHeaders } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Webhook } from 'standardwebhooks';

/** A scripted answer: a status (and headers), or a delay longer than the client waits. */
export type Script = { status: number; headers?: Record<string, string> } | { hang: number };

/** What the receiver saw of one request. */
export interface Seen {
  readonly id: string;
  readonly timestamp: string;
  readonly verified: boolean;
  readonly status: number;
  readonly body: string;
  readonly headers: IncomingHttpHeaders;
}

/** Options of {@link startReceiver}. */
export interface ReceiverOptions {
  /**
   * Holds each message this long before answering (a slow receiver). A message is kept when it
   * is received, as a receiver that processes it before answering does: if the sender dies
   * meanwhile, the message is still held.
   */
  readonly holdMs?: number | ((n: number) => number);
  /** Told when a message's headers arrive (`headers`) and when all of it did (`body`); n from 1. */
  readonly onMessage?: (stage: 'headers' | 'body', n: number) => void;
}

/**
 * A webhook receiver on loopback that verifies every message with the standardwebhooks package,
 * keeps each message once by webhook-id (as receivers should), and answers from a script.
 */
export async function startReceiver(
  secrets: readonly string[],
  rule?: (body: string) => number | undefined,
  options: ReceiverOptions = {},
) {
  let messages = 0;
  const verifiers = secrets.map((s) => new Webhook(s));
  const script: Script[] = [];
  const seen: Seen[] = [];
  const checks: { verified: boolean; headers: IncomingHttpHeaders }[] = [];
  const stored = new Map<
    string,
    { type: string; data: { records?: unknown[]; record?: unknown } }
  >();
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    const n = ++messages;
    options.onMessage?.('headers', n);
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      const headers = req.headers as IncomingHttpHeaders & Record<string, string>;
      const verified = verifiers.every((v) => {
        try {
          v.verify(body, {
            'webhook-id': headers['webhook-id']!,
            'webhook-timestamp': headers['webhook-timestamp']!,
            'webhook-signature': headers['webhook-signature']!,
          });
          return true;
        } catch {
          return false;
        }
      });
      // A check event is answered (2xx once verified) and not kept, as receivers are told to.
      if (/^\{"type":"scorebridge\.check"/.test(body)) {
        checks.push({ verified, headers });
        res.writeHead(verified ? 204 : 401).end();
        return;
      }
      const next = script.shift();
      if (next && 'hang' in next) {
        setTimeout(() => res.destroy(), next.hang);
        seen.push({
          id: headers['webhook-id']!,
          timestamp: headers['webhook-timestamp']!,
          verified,
          status: 0,
          body,
          headers,
        });
        return;
      }
      const status = next?.status ?? rule?.(body) ?? (verified ? 204 : 401);
      seen.push({
        id: headers['webhook-id']!,
        timestamp: headers['webhook-timestamp']!,
        verified,
        status,
        body,
        headers,
      });
      if (status >= 200 && status < 300 && verified)
        stored.set(headers['webhook-id']!, JSON.parse(body));
      options.onMessage?.('body', n);
      const hold = typeof options.holdMs === 'function' ? options.holdMs(n) : options.holdMs;
      const answer = () => {
        if (!res.destroyed)
          res.writeHead(status, next && 'headers' in next ? next.headers : {}).end();
      };
      if (hold) setTimeout(answer, hold);
      else answer();
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/hooks/toefl`,
    port,
    script,
    seen,
    /** The `scorebridge.check` events received (not in `seen`, not stored). */
    checks,
    /** Records held, one entry per record version in accepted messages. */
    records(): { recordKey: string; contentHash: string }[] {
      return [...stored.values()].flatMap(
        (m) => (m.data.records ?? [m.data.record]) as { recordKey: string; contentHash: string }[],
      );
    },
    close: async () => {
      server.closeAllConnections();
      server.close();
      await once(server, 'close');
    },
  };
}
