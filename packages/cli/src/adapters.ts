import { fileAdapter } from '@scorebridge/adapter-file';
import { salesforceAdapter } from '@scorebridge/adapter-salesforce';
import { slateAdapter } from '@scorebridge/adapter-slate-sftp';
import { webhookAdapter } from '@scorebridge/adapter-webhook';
import type { DestinationAdapter } from '@scorebridge/core';

/** Every destination adapter the CLI knows; the one place that lists them. */
export const ADAPTERS: readonly DestinationAdapter[] = [
  fileAdapter,
  salesforceAdapter,
  slateAdapter,
  webhookAdapter,
];
