import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';

/** A message the receiver took. */
export interface SlackPost {
  readonly at: number;
  readonly body: string;
  readonly text: string;
  readonly blocks: { type: string; text?: { text: string }; elements?: { text: string }[] }[];
}

/**
 * A Slack incoming-webhook receiver for tests that enforces what Slack does: JSON with `text` or
 * `blocks`; at most 50 blocks, 3,000 characters in a section, 150 in a header (400
 * `invalid_blocks` otherwise); about one message a second (429 with `Retry-After` when faster).
 * `script` answers the next requests first (e.g. a 429).
 */
export async function startSlackReceiver(options: { minIntervalMs?: number } = {}) {
  const minInterval = options.minIntervalMs ?? 950;
  const posts: SlackPost[] = [];
  const refused: { status: number; body: string }[] = [];
  const script: { status: number; retryAfter?: number }[] = [];
  let last = 0;
  const server = createServer((req, res) => {
    let body = '';
    req.on('data', (c: Buffer) => {
      body += c.toString();
    });
    req.on('end', () => {
      const refuse = (status: number, text: string, retryAfter?: number) => {
        refused.push({ status, body });
        res.writeHead(status, retryAfter ? { 'retry-after': String(retryAfter) } : {}).end(text);
      };
      const scripted = script.shift();
      if (scripted) return refuse(scripted.status, 'scripted', scripted.retryAfter);
      if (req.method !== 'POST') return refuse(405, 'invalid_method');
      const now = Date.now();
      if (now - last < minInterval) return refuse(429, 'rate_limited', 1);
      let message: SlackPost['blocks'] extends infer B ? { text?: string; blocks?: B } : never;
      try {
        message = JSON.parse(body);
      } catch {
        return refuse(400, 'invalid_payload');
      }
      const blocks = message.blocks ?? [];
      if (!message.text && blocks.length === 0) return refuse(400, 'no_text');
      if (blocks.length > 50) return refuse(400, 'invalid_blocks');
      for (const b of blocks) {
        if (b.type === 'section' && (b.text?.text.length ?? 0) > 3000)
          return refuse(400, 'invalid_blocks');
        if (b.type === 'header' && (b.text?.text.length ?? 0) > 150)
          return refuse(400, 'invalid_blocks');
        if (b.type === 'context' && (b.elements ?? []).some((e) => e.text.length > 3000))
          return refuse(400, 'invalid_blocks');
      }
      last = now;
      posts.push({ at: now, body, text: message.text ?? '', blocks });
      res.writeHead(200, { 'content-type': 'text/plain' }).end('ok');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/services/T000/B000/CANARY-SLACK-PATH`,
    posts,
    refused,
    script,
    /** Every message's text and blocks as one string, for searching. */
    all: () => posts.map((p) => p.body).join('\n'),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
