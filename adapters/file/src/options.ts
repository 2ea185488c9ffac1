import { z } from 'zod';

/** Options of the file destination. */
export const fileOptionsSchema = z
  .object({
    /** The directory files are written to (created when missing), relative to the working directory. */
    directory: z.string().min(1).describe('Directory for the files; created when missing'),
    format: z
      .enum(['ndjson', 'csv', 'scorelink'])
      .default('ndjson')
      .describe(
        '`ndjson`: canonical record JSON, one per line; `csv`: a header row and one row per record; `scorelink`: the raw fixed-length lines, as ETS sent them.',
      ),
    prefix: z
      .string()
      .regex(/^[A-Za-z0-9][A-Za-z0-9_-]*$/, 'letters, digits, - and _')
      .optional()
      .describe("File names start with this. Default: the pipeline's name."),
  })
  .strict();

/** Options of the file destination, as validated. */
export type FileOptions = z.infer<typeof fileOptionsSchema>;
