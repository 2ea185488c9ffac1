import { fileAdapter } from '@scorebridge/adapter-file';
import type { DestinationAdapter } from '@scorebridge/core';

/** Every destination adapter the CLI knows; the one place that lists them. */
export const ADAPTERS: readonly DestinationAdapter[] = [fileAdapter];
