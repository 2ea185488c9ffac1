import { defineAdapter } from '@scorebridge/core';
import { createSlateDestination } from './destination.js';
import { slateOptionsSchema } from './options.js';

export { createSlateDestination } from './destination.js';
export { hostVerifier, keysFor } from './host-key.js';
export { fileName, maskMatches, namingProblems, PART_SUFFIX } from './naming.js';
export { type SlateOptions, slateOptionsSchema } from './options.js';

/** The Slate destination: CSV or raw ScoreLink files on Slate's SFTP server. */
export const slateAdapter = defineAdapter({
  type: 'slate-sftp',
  description:
    "Files on Slate's SFTP server (CSV, or raw ScoreLink lines for Slate's TOEFL format), uploaded atomically with a pinned host key",
  optionsSchema: slateOptionsSchema,
  create: createSlateDestination,
});

/** What a pipeline that names this package (or its type) loads. */
export { slateAdapter as adapter };
