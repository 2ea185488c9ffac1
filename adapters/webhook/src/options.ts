import { secretSchema } from '@scorebridge/core';
import { z } from 'zod';
import { forbiddenRange } from './address.js';

/** RFC 9110 §5.6.2 token: a header name. */
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
/** RFC 9110 §5.5 field-value: visible characters and obs-text, inner SP/HTAB; may be empty. */
const FIELD_VALUE = /^(?:[\x21-\x7E\x80-\xFF](?:[\x21-\x7E\x80-\xFF\t ]*[\x21-\x7E\x80-\xFF])?)?$/;
/**
 * Headers ScoreBridge sets (the signature, the body's type and length), and the framing and
 * hop-by-hop headers of RFC 9110 §7.6.1 and §6.6 that would make a malformed request.
 */
const RESERVED_HEADER =
  /^(webhook-.*|content-type|content-length|content-encoding|transfer-encoding|host|connection|keep-alive|te|trailer|upgrade|expect|proxy-.*|user-agent)$/i;

/** The URL's host when it is an address literal (the URL parser has canonicalised odd notations). */
const literalAddress = (url: string): string | undefined => {
  const host = new URL(url).hostname;
  const bare = host.startsWith('[') ? host.slice(1, -1) : host;
  return /^[\d.]+$|:/.test(bare) ? bare : undefined;
};

/** Options of the webhook destination. */
export const webhookOptionsSchema = z
  .object({
    /** The receiver's URL: https unless `allowHttp`. */
    url: z.url().describe('The receiver: https://…'),
    secrets: z
      .array(secretSchema)
      .min(1)
      .max(5)
      .describe(
        'Signing secrets (`whsec_` + base64), by reference. During a rotation give two: every message is signed with each, and the receiver accepts either.',
      ),
    mode: z
      .enum(['batch', 'record'])
      .default('batch')
      .describe(
        '`batch`: one message per batch (`toefl.scores`); `record`: one per record (`toefl.score`).',
      ),
    maxPayloadBytes: z
      .number()
      .int()
      .min(4096)
      .max(50_000_000)
      .default(1_000_000)
      .describe('Batches are split so that no message body is larger than this.'),
    headers: z
      .record(z.string(), z.string())
      .superRefine((headers, ctx) => {
        for (const [name, value] of Object.entries(headers)) {
          const problem = !TOKEN.test(name)
            ? "a header name is letters, digits and !#$%&'*+-.^_`|~ (an RFC 9110 token)"
            : RESERVED_HEADER.test(name)
              ? 'set by ScoreBridge or by HTTP itself (webhook-*, content-type, content-length, transfer-encoding, host, connection, keep-alive, te, trailer, upgrade, expect, proxy-*, user-agent): remove it'
              : !FIELD_VALUE.test(value)
                ? 'a header value is visible characters with inner spaces or tabs (RFC 9110): no line breaks, NUL or characters above U+00FF, no leading or trailing space'
                : undefined;
          if (problem) ctx.addIssue({ code: 'custom', path: [name], message: problem });
        }
      })
      .optional()
      .describe(
        'Extra headers sent with every message (an API key the receiver wants, say). Names are RFC 9110 tokens; the signature, framing and connection headers ScoreBridge sets are refused.',
      ),
    timeoutSeconds: z
      .number()
      .positive()
      .max(120)
      .default(20)
      .describe('Seconds for a whole request.'),
    allowPrivateNetwork: z
      .boolean()
      .default(false)
      .describe('Allow receivers on loopback, private, link-local and other internal addresses.'),
    allowHttp: z.boolean().default(false).describe('Allow plain http:// URLs.'),
  })
  .strict()
  .superRefine(
    (o, ctx) => {
      // Checked with the other options' problems (`when`), so the input may be partly invalid,
      // or not an object at all (`options:` left empty is null).
      if (!o || typeof o.url !== 'string' || !URL.canParse(o.url)) return;
      if (o.allowHttp !== true && new URL(o.url).protocol !== 'https:')
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message:
            'must be https:// (plain http:// sends scores unencrypted; set allowHttp: true for a local receiver)',
        });
      // Host names are checked when they resolve (check, every delivery); a literal address now.
      const address = literalAddress(o.url);
      const refused = address && !o.allowPrivateNetwork ? forbiddenRange(address) : undefined;
      if (refused)
        ctx.addIssue({
          code: 'custom',
          path: ['url'],
          message: `${address} is ${refused}: webhooks may not reach internal addresses (set allowPrivateNetwork: true for a receiver on your own network)`,
        });
    },
    { when: () => true },
  );

/** Options of the webhook destination, as validated. */
export type WebhookOptions = z.infer<typeof webhookOptionsSchema>;
