import { defineAdapter } from '@scorebridge/core';
import { createWebhookDestination } from './destination.js';
import { webhookOptionsSchema } from './options.js';

export { type CheckedAddress, checkedAddress, forbiddenRange } from './address.js';
export { createWebhookDestination } from './destination.js';
export { type WebhookOptions, webhookOptionsSchema } from './options.js';
export { signature } from './send.js';

/** The webhook destination: signed HTTP POSTs in the Standard Webhooks format. */
export const webhookAdapter = defineAdapter({
  type: 'webhook',
  description:
    'Signed HTTP POSTs (Standard Webhooks) to any receiver, with safe retries and SSRF protection',
  optionsSchema: webhookOptionsSchema,
  create: createWebhookDestination,
});

/** What a pipeline that names this package (or its type) loads. */
export { webhookAdapter as adapter };
