import { hash, randomBytes } from 'node:crypto';
import {
  type DeliveryBatch,
  type Destination,
  type DestinationContext,
  type RecordOutcome,
  type ScoreRecord,
  toCanonicalJson,
} from '@scorebridge/core';
import { type CheckedAddress, checkedAddress } from './address.js';
import { transportFailure, webhookError } from './errors.js';
import type { WebhookOptions } from './options.js';
import { post, signature } from './send.js';

interface Message {
  readonly id: string;
  readonly records: readonly ScoreRecord[];
  readonly data: (timestamp: string) => string;
}

/**
 * Delivers records as Standard Webhooks messages. A message's `webhook-id` is derived from its
 * records (pipeline, destination, keys and content hashes), so every retry — and the replay of a
 * dead letter — carries the same id, and receivers can deduplicate on it.
 */
export function createWebhookDestination(
  options: WebhookOptions,
  context: DestinationContext,
): Destination {
  const url = new URL(options.url);
  const timeoutMs = options.timeoutSeconds * 1000;
  let disabled = false;
  const fail = (
    kind: Parameters<typeof webhookError>[0],
    what: string,
    remedy: string,
    retryAfter?: number,
  ) => webhookError(kind, what, url, context.destinationId, remedy, retryAfter);

  async function resolve(): Promise<CheckedAddress> {
    try {
      return await checkedAddress(url, options.allowPrivateNetwork);
    } catch (cause) {
      const ssrf = (cause as NodeJS.ErrnoException).code === 'SSRF';
      throw fail(
        'config',
        ssrf
          ? `refused: ${(cause as Error).message}`
          : `cannot resolve the host (${(cause as NodeJS.ErrnoException).code ?? (cause as Error).message})`,
        ssrf
          ? 'Webhooks may not reach internal addresses. For a receiver on a private network, set allowPrivateNetwork: true.'
          : 'Check the host name in the URL and the DNS.',
      );
    }
  }

  function messages(batch: DeliveryBatch): { messages: Message[]; tooLarge: ScoreRecord[] } {
    const idFor = (records: readonly ScoreRecord[]) =>
      `msg_${hash('sha256', [batch.pipeline, context.destinationId, ...records.map((r) => `${r.recordKey} ${r.contentHash}`)].join('\n'), 'base64url').slice(0, 27)}`;
    // A re-sent report says what it changed (`update`); the first version of a key has none.
    const json = batch.records.map((r) => {
      const update = batch.updates?.[r.contentHash];
      return JSON.stringify(update ? { ...toCanonicalJson(r), update } : toCanonicalJson(r));
    });
    const overhead = envelope(
      'toefl.scores',
      `{"pipeline":${JSON.stringify(batch.pipeline)},"batchId":"${batch.id}","records":[]}`,
      new Date().toISOString(),
    ).length;
    const out: Message[] = [];
    const tooLarge: ScoreRecord[] = [];
    if (options.mode === 'record') {
      batch.records.forEach((record, i) => {
        const data = `{"pipeline":${JSON.stringify(batch.pipeline)},"record":${json[i]}}`;
        if (data.length + overhead > options.maxPayloadBytes) tooLarge.push(record);
        else
          out.push({
            id: idFor([record]),
            records: [record],
            data: (ts) => envelope('toefl.score', data, ts),
          });
      });
      return { messages: out, tooLarge };
    }
    let part: number[] = [];
    let size = overhead;
    const flush = () => {
      if (part.length === 0) return;
      const records = part.map((i) => batch.records[i]!);
      const body = `{"pipeline":${JSON.stringify(batch.pipeline)},"batchId":"${batch.id}","records":[${part.map((i) => json[i]).join(',')}]}`;
      out.push({ id: idFor(records), records, data: (ts) => envelope('toefl.scores', body, ts) });
      part = [];
      size = overhead;
    };
    batch.records.forEach((record, i) => {
      const length = Buffer.byteLength(json[i]!) + 1;
      if (overhead + length > options.maxPayloadBytes) {
        tooLarge.push(record);
        return;
      }
      if (size + length > options.maxPayloadBytes) flush();
      part.push(i);
      size += length;
    });
    flush();
    return { messages: out, tooLarge };
  }

  /** Signs and POSTs one message; the transport's failures become the error family. */
  async function send(pinned: CheckedAddress, id: string, data: (timestamp: string) => string) {
    const timestamp = Math.floor(Date.now() / 1000);
    const body = data(new Date(timestamp * 1000).toISOString());
    const headers = {
      ...options.headers,
      'content-type': 'application/json',
      'user-agent': 'ScoreBridge',
      'webhook-id': id,
      'webhook-timestamp': String(timestamp),
      'webhook-signature': signature(
        options.secrets.map((s) => s.reveal()),
        id,
        timestamp,
        body,
      ),
    };
    try {
      return await post(url, pinned, headers, body, timeoutMs);
    } catch (error) {
      throw transportFailure(error, url, context.destinationId);
    }
  }

  return {
    /**
     * Resolves and checks the address, then sends a signed `scorebridge.check` event (receivers
     * answer 2xx and ignore it): a connection, the TLS handshake and the receiver's answer prove
     * more than resolving the name would.
     */
    async check() {
      const pinned = await resolve();
      const id = `msg_check_${randomBytes(12).toString('base64url')}`;
      const { status, retryAfterSeconds } = await send(pinned, id, (ts) =>
        envelope(
          'scorebridge.check',
          JSON.stringify({ pipeline: context.pipeline, destination: context.destinationId }),
          ts,
        ),
      );
      if (status >= 200 && status < 300) return;
      if (status === 401 || status === 403)
        throw fail(
          'auth',
          `answered ${status} to a signed check event`,
          'The receiver refused the signature or the request: check that it verifies with the same secrets (and any headers it requires).',
        );
      if (status === 404 || status === 405)
        throw fail(
          'config',
          `answered ${status}: no receiver at this URL`,
          'Check the path of the URL.',
        );
      throw (
        answerError(status, retryAfterSeconds) ??
        fail(
          'rejected',
          `answered ${status} to a signed check event`,
          'Receivers should answer 2xx to a scorebridge.check event (and to any type they do not handle); see docs/webhooks.md.',
        )
      );
    },

    async deliver(batch) {
      if (disabled) throw gone();
      const pinned = await resolve();
      const { messages: list, tooLarge } = messages(batch);
      const outcome = new Map<ScoreRecord, RecordOutcome>();
      for (const record of tooLarge) {
        outcome.set(
          record,
          rejected(
            record,
            'PAYLOAD_TOO_LARGE',
            `the record alone is larger than maxPayloadBytes (${options.maxPayloadBytes})`,
          ),
        );
      }
      for (const message of list) {
        const { status, retryAfterSeconds } = await send(pinned, message.id, message.data);
        if (status >= 200 && status < 300) {
          for (const r of message.records)
            outcome.set(r, {
              recordKey: r.recordKey,
              contentHash: r.contentHash,
              status: 'delivered',
            });
          continue;
        }
        const error = answerError(status, retryAfterSeconds);
        if (error) throw error;
        for (const r of message.records)
          outcome.set(
            r,
            rejected(r, `HTTP_${status}`, `the receiver refused the message (HTTP ${status})`),
          );
      }
      return batch.records.map((r) => outcome.get(r)!);
    },

    async close() {},
  };

  /** The whole-message failure an answer means (redirect, 410, 429, 5xx); other 4xx refuse the records. */
  function answerError(status: number, retryAfter: number | undefined) {
    if (status >= 300 && status < 400)
      return fail(
        'config',
        `answered ${status} (a redirect), not followed`,
        'ScoreBridge does not follow redirects: set the URL the receiver redirects to.',
      );
    if (status === 410) {
      disabled = true;
      return gone();
    }
    if (status === 429)
      return fail(
        'rate-limit',
        'answered 429 (too many requests)',
        'The receiver asked to slow down; ScoreBridge retries after the time it asked for.',
        retryAfter,
      );
    if (status >= 500)
      return fail(
        'unavailable',
        `answered ${status}`,
        'The receiver failed; ScoreBridge retries with backoff. If it persists, check the receiver.',
        retryAfter,
      );
    return undefined;
  }

  function gone() {
    return fail(
      'disabled',
      'answered 410 (gone): the receiver asked never to be called again',
      'Remove this destination, or fix the receiver and run again; nothing is sent to it until then.',
    );
  }
}

/** A Standard Webhooks message body: its type, when it was sent, and its data (JSON text). */
function envelope(type: string, data: string, timestamp: string): string {
  return `{"type":"${type}","timestamp":"${timestamp}","data":${data}}`;
}

function rejected(record: ScoreRecord, code: string, reason: string): RecordOutcome {
  return {
    recordKey: record.recordKey,
    contentHash: record.contentHash,
    status: 'rejected',
    kind: 'rejected',
    code,
    reason,
  };
}
