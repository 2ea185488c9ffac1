import { defineAdapter } from '@scorebridge/core';
import { createFileDestination } from './destination.js';
import { fileOptionsSchema } from './options.js';

export { createFileDestination } from './destination.js';
export { type FileOptions, fileOptionsSchema } from './options.js';

/** The file destination: CSV, NDJSON or raw ScoreLink files in a local directory. */
export const fileAdapter = defineAdapter({
  type: 'file',
  description:
    'Files in a local directory: NDJSON, CSV or raw ScoreLink lines, one file per batch, written atomically',
  optionsSchema: fileOptionsSchema,
  create: createFileDestination,
});

/** What a pipeline that names this package (or its type) loads. */
export { fileAdapter as adapter };
