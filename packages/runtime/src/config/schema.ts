import { type DestinationAdapter, secretSchema } from '@scorebridge/core';
import { z } from 'zod';

export { secretSchema };

/** What a secret looks like in the file, for the JSON Schema. */
const SECRET_JSON = {
  type: 'string',
  pattern: '^\\$\\{(env|file):[^}]+\\}$',
  description: 'A secret, by reference: ${env:NAME} or ${file:PATH}',
} as const;

const isoDate = z
  .string()
  .regex(
    /^\d{4}-\d{2}-\d{2}(T\d{2}:\d{2}(:\d{2})?(Z|[+-]\d{2}:?\d{2})?)?$/,
    'must be an ISO 8601 date or date-time',
  );
const duration = z.string().regex(/^\d+(s|m|h|d)$/, 'must be a duration like 30m, 6h or 1d');

/** The TOEFL Access source of a pipeline. */
export const sourceSchema = z
  .object({
    /** The scores endpoint. */
    baseUrl: z
      .url({ protocol: /^https?$/ })
      .describe('The TOEFL Access scores endpoint, e.g. https://toeflaccess-api.ets.org/scores'),
    authcode: secretSchema.describe('The API key.'),
    /** @default 'scorelink' */
    format: z
      .enum(['scorelink', 'json'])
      .default('scorelink')
      .describe('ScoreLink (fixed-length) or JSON'),
    type: z.string().min(1).default('TOEFL').describe('The `type` query parameter ETS expects.'),
    reportBy: z
      .string()
      .min(1)
      .default('scorelinkbyreportdate')
      .describe('The `reportBy` query parameter: which date windows select reports by.'),
    /** A site layout or override file, relative to the pipeline file. */
    layout: z
      .string()
      .min(1)
      .optional()
      .describe('A layout or override file (see docs/layouts.md), relative to this file'),
    jsonMapping: z
      .record(z.string(), z.string())
      .optional()
      .describe('JSON key → layout id, for format json.'),
    encoding: z
      .enum(['utf-8', 'latin1'])
      .default('utf-8')
      .describe("The response's character encoding."),
    /** Where a destination's first run starts. @default two years back (scores are valid for two years) */
    firstRunStart: isoDate.optional().describe('Where a first run starts; default two years back'),
    /** When the API key in use was issued: a Slack reminder comes when it is older than the rotation period. */
    keyIssuedOn: isoDate.optional().describe('The date the TOEFL Access key was generated'),
    /**
     * ETS asks for 30 days or less per request; its own test example asks for 366 at once, so
     * this is guidance, not a published limit. @default 30
     */
    maxWindowDays: z
      .number()
      .int()
      .min(1)
      .max(366)
      .default(30)
      .describe('Longest window of one request in days (ETS asks for 30 or less)'),
    overlapHours: z
      .number()
      .min(0)
      .max(24 * 30)
      .default(48)
      .describe('Each run re-reads this much before the cursor, so late reports are not missed.'),
    idleTimeoutSeconds: z
      .number()
      .positive()
      .default(60)
      .describe('A response that sends nothing for this long is abandoned and retried.'),
    deadlineSeconds: z
      .number()
      .positive()
      .default(900)
      .describe('The most one request may take, however slowly data keeps coming.'),
  })
  .strict();

/** Which records a pipeline keeps. */
export const filtersSchema = z
  .object({
    departmentCodes: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Keep only these department codes.'),
    testTypes: z
      .array(z.string().min(1))
      .min(1)
      .optional()
      .describe('Keep only these test types (as received, e.g. I).'),
    scales: z
      .array(z.enum(['ibt', 'ibt26', 'essentials', 'unknown']))
      .min(1)
      .optional()
      .describe('Keep only these score scales.'),
  })
  .strict();

const destinationBase = z.object({
  id: z
    .string()
    .regex(/^[a-z0-9][a-z0-9_-]*$/i, 'letters, digits, - and _')
    .max(64)
    .describe(
      "The destination's name in this pipeline (cursors, ledgers and dead letters are kept per id).",
    ),
  batchSize: z.number().int().min(1).max(10_000).default(500).describe('Records per delivery.'),
  rateLimit: z
    .object({
      max: z.number().int().min(1).describe('Deliveries at most…'),
      perSeconds: z.number().positive().describe('…per this many seconds.'),
    })
    .strict()
    .optional()
    .describe('At most `max` deliveries per `perSeconds` (worker mode).'),
});

const notificationsSchema = z
  .object({
    slack: z
      .object({
        webhookUrl: secretSchema,
        mention: z
          .string()
          .optional()
          .describe('Added to every alert, e.g. <!subteam^S0123> or <@U0123>.'),
        cooldownMinutes: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe('An open incident is not repeated before this many minutes.'),
        consecutive500s: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe('HTTP 500s in a row from TOEFL Access that make an alert.'),
        cursorStaleHours: z
          .number()
          .positive()
          .optional()
          .describe("Alert when a destination's cursor is older than this."),
        keyRotationDays: z
          .number()
          .int()
          .min(1)
          .optional()
          .describe('Remind when source.keyIssuedOn is older than this (ETS advises quarterly).'),
      })
      .strict()
      .optional()
      .describe('Alerts to a Slack channel through an incoming webhook (docs/operations.md).'),
  })
  .strict()
  .optional()
  .describe('Who is told when something needs a person.');

const queueSchema = z
  .object({
    concurrency: z
      .number()
      .int()
      .min(1)
      .max(64)
      .optional()
      .describe('Deliveries at once per destination in each worker process.'),
    attempts: z
      .number()
      .int()
      .min(1)
      .max(50)
      .optional()
      .describe('Tries of each job before it is given up (dead letters).'),
    backoffSeconds: z
      .number()
      .positive()
      .max(3600)
      .optional()
      .describe("The first retry's delay; each next one doubles it."),
  })
  .strict()
  .optional()
  .describe('Worker mode: how jobs of this pipeline are run and retried.');

/** The pipeline schema for a set of adapters: destinations are typed by their adapter. */
export function pipelineSchema(adapters: readonly DestinationAdapter[]) {
  const destinations = adapters.map((adapter) =>
    destinationBase
      .extend({
        type: z.literal(adapter.type).describe(adapter.description),
        options: adapter.optionsSchema.describe(`Options of the ${adapter.type} destination.`),
      })
      .strict(),
  );
  const destination =
    destinations.length === 1
      ? destinations[0]!
      : z.discriminatedUnion('type', destinations as unknown as [z.ZodObject, z.ZodObject]);
  return z
    .object({
      name: z
        .string()
        .regex(/^[a-z0-9][a-z0-9_-]*$/, 'lower-case letters, digits, - and _')
        .max(64)
        .describe(
          "The pipeline's name: lower-case letters, digits, - and _ (state and queues are kept by it).",
        ),
      description: z.string().optional().describe('What the pipeline is for, for people.'),
      /**
       * Where the pipeline's state (cursors, ledgers, dead letters) is kept without Redis: a
       * directory, relative to this file. --state-dir and SCOREBRIDGE_STATE_DIR override it.
       * @default .scorebridge-state beside this file
       */
      state: z
        .string()
        .min(1)
        .optional()
        .describe(
          'Directory for the state (cursors, ledgers, dead letters) without Redis, relative to this file; default .scorebridge-state beside it',
        ),
      source: sourceSchema.describe('TOEFL Access: where scores come from.'),
      schedule: z
        .object({
          every: duration.optional().describe('Run this often, e.g. 1h or 30m.'),
          cron: z.string().min(1).optional().describe('Run at these times (cron, UTC).'),
        })
        .strict()
        .refine((s) => (s.every ? 1 : 0) + (s.cron ? 1 : 0) === 1, 'give either every or cron')
        .optional()
        .describe('When worker mode runs the pipeline: every or cron.'),
      filters: filtersSchema.optional().describe('Which records the pipeline keeps.'),
      destinations: z
        .array(destination)
        .min(1)
        .superRefine(
          (list, ctx) => {
            // Runs even when the rest failed (see `when`): the list may be missing or no list.
            if (!Array.isArray(list)) return;
            const seen = new Set<unknown>();
            list.forEach((d, i) => {
              const id = (d as { id?: unknown } | undefined)?.id;
              if (typeof id !== 'string') return;
              if (seen.has(id))
                ctx.addIssue({
                  code: 'custom',
                  path: [i, 'id'],
                  message: `${id} is the id of another destination too; ids must be unique`,
                });
              seen.add(id);
            });
          },
          // Reported with the destinations' other problems, not after they are fixed.
          { when: () => true },
        )
        .describe('Where the scores go; each destination keeps its own cursor.'),
      notifications: notificationsSchema,
      queue: queueSchema,
    })
    .strict();
}

/** A validated destination; `options` were validated by its adapter's schema. */
export interface DestinationConfig {
  readonly id: string;
  readonly type: string;
  readonly batchSize: number;
  readonly rateLimit?: { readonly max: number; readonly perSeconds: number };
  readonly options: unknown;
}

/** A validated pipeline. */
export type PipelineConfig = Omit<z.infer<ReturnType<typeof pipelineSchema>>, 'destinations'> & {
  readonly destinations: readonly DestinationConfig[];
};

/** The JSON Schema of pipeline files, for editors (`scorebridge schema`). */
export function pipelineJsonSchema(
  adapters: readonly DestinationAdapter[],
): Record<string, unknown> {
  const schema = z.toJSONSchema(pipelineSchema(adapters), {
    io: 'input',
    unrepresentable: 'any',
    override: (ctx) => {
      if (ctx.zodSchema === secretSchema) Object.assign(ctx.jsonSchema, SECRET_JSON);
    },
  });
  const { $schema, ...rest } = schema;
  return { $schema, title: 'ScoreBridge pipeline', ...rest };
}
