import { secretSchema } from '@scorebridge/core';
import { z } from 'zod';
import { namingProblems } from './naming.js';

/** Options of the Slate (SFTP) destination. */
export const slateOptionsSchema = z
  .object({
    host: z.string().min(1).describe('The SFTP server, e.g. `ft.technolutions.net`.'),
    /** @default 22 */
    port: z.number().int().min(1).max(65535).default(22).describe("The SFTP server's port."),
    username: z.string().min(1).describe('The SFTP user Slate gave you.'),
    privateKey: secretSchema
      .optional()
      .describe(
        "The user's private key (OpenSSH or PEM), by reference: `${file:/etc/scorebridge/slate_key}`.",
      ),
    passphrase: secretSchema.optional().describe("The private key's passphrase, if it has one."),
    password: secretSchema
      .optional()
      .describe('A password, when the server does not take keys (keys are better).'),
    hostKey: z
      .object({
        fingerprint: z
          .string()
          .regex(
            /^SHA256:[A-Za-z0-9+/]{43}=?$/,
            'an OpenSSH fingerprint: SHA256: followed by 43 base64 characters',
          )
          .optional()
          .describe('The host key fingerprint, as ssh-keygen -lf prints it: SHA256:…'),
        knownHosts: z
          .string()
          .min(1)
          .optional()
          .describe('A known_hosts file holding the server, relative to the pipeline file.'),
      })
      .strict()
      .refine(
        (k) => k.fingerprint !== undefined || k.knownHosts !== undefined,
        'give fingerprint or knownHosts',
      )
      .describe(
        "The server's host key, pinned: its `SHA256:…` fingerprint, or a known_hosts file.",
      ),
    remoteDirectory: z.string().min(1).default('/incoming/').describe('Where files go.'),
    format: z
      .enum(['csv', 'scorelink'])
      .default('csv')
      .describe(
        "`csv`: columns you map in Slate; `scorelink`: the raw fixed-length lines, for Slate's prebuilt TOEFL format.",
      ),
    fileName: z
      .string()
      .min(1)
      .default('{pipeline}_{date}_{batch}.{ext}')
      .describe(
        'File names: `{pipeline}`, `{destination}`, `{date}` (batch window end, YYYYMMDD), `{batch}`, `{ext}`.',
      ),
    mask: z
      .string()
      .min(1)
      .optional()
      .describe("Your Slate source format's Import Path/Mask; file names are checked against it."),
    columns: z
      .record(z.string(), z.string())
      .optional()
      .describe('CSV columns, record field → header, in order (default: every canonical field).'),
    dateFormat: z
      .enum(['YYYY-MM-DD', 'MM/DD/YYYY', 'YYYYMMDD'])
      .default('YYYY-MM-DD')
      .describe('How dates are written in CSV.'),
    timeoutSeconds: z
      .number()
      .positive()
      .max(600)
      .default(30)
      .describe('Every SFTP call (connecting, uploading, closing) ends within this.'),
    /**
     * Permissions of the uploaded files, octal, quoted: the owner reads and writes, its group
     * reads, nobody else (scores are personal data). @default '0640'
     */
    fileMode: z
      .string({ error: "give the mode as a quoted octal string, e.g. '0640'" })
      .regex(/^0?[0-7]{3}$/, "an octal mode such as '0640'")
      .refine((m) => (Number.parseInt(m, 8) & 0o002) === 0, 'must not be writable by others')
      .default('0640')
      .describe("Permissions of uploaded files, octal and quoted, e.g. '0640' (the default)"),
  })
  .strict()
  .refine((o) => o.privateKey !== undefined || o.password !== undefined, {
    message: 'give privateKey (or password)',
    path: ['privateKey'],
  })
  .superRefine((o, ctx) => {
    for (const message of namingProblems(o.fileName, o.mask, o.format === 'csv' ? 'csv' : 'txt')) {
      ctx.addIssue({
        code: 'custom',
        path: [message.startsWith('mask') || message.startsWith('the mask') ? 'mask' : 'fileName'],
        message,
      });
    }
  });

/** Options of the Slate destination, as validated. */
export type SlateOptions = z.infer<typeof slateOptionsSchema>;
