import { secretSchema } from '@scorebridge/core';
import { z } from 'zod';
import { forbiddenRange } from './address.js';

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
    /**
     * Signing secrets (`whsec_` + base64), by reference. During a rotation give two: every
     * message is signed with each, and the receiver accepts either.
     */
    secrets: z.array(secretSchema).min(1).max(5),
    /** `batch`: one message per batch (`toefl.scores`); `record`: one per record (`toefl.score`). @default 'batch' */
    mode: z.enum(['batch', 'record']).default('batch'),
    /** Batches are split so that no message body is larger than this. @default 1000000 */
    maxPayloadBytes: z.number().int().min(4096).max(50_000_000).default(1_000_000),
    /** Extra headers sent with every message (not webhook-* or content-type). */
    headers: z
      .record(z.string().regex(/^[A-Za-z0-9-]+$/), z.string())
      .refine(
        (h) =>
          !Object.keys(h).some((k) => /^(webhook-|content-type$|content-length$|host$)/i.test(k)),
        {
          message: 'webhook-*, content-type, content-length and host are set by ScoreBridge',
        },
      )
      .optional(),
    /** Seconds for a whole request. @default 20 */
    timeoutSeconds: z.number().positive().max(120).default(20),
    /** Allow receivers on loopback, private, link-local and other internal addresses. @default false */
    allowPrivateNetwork: z.boolean().default(false),
    /** Allow plain http:// URLs. @default false */
    allowHttp: z.boolean().default(false),
  })
  .strict()
  .superRefine(
    (o, ctx) => {
      // Checked with the other options' problems (`when`), so the input may be partly invalid.
      if (typeof o.url !== 'string' || !URL.canParse(o.url)) return;
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
