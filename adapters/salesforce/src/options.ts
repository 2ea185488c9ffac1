import { secretSchema } from '@scorebridge/core';
import { z } from 'zod';

const apiName = z
  .string()
  .regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a Salesforce API name (letters, digits, _)')
  .max(80);

/**
 * A value for a Salesforce field: a record field's id (`ibtTotal`, `testDate`, `email`, …),
 * `{ const: value }`, or one of ScoreBridge's own (`recordKey`, `contentHash`, `scale`, and
 * `update`: what a re-sent report changed — `scores-changed`, `mybest-changed`, `other-fields` —
 * or blank for the first version of a report).
 */
const valueSource = z.union([
  z.string().regex(/^[A-Za-z][A-Za-z0-9_]*$/, 'a record field id'),
  z.object({ const: z.union([z.string(), z.number(), z.boolean()]) }).strict(),
]);

const auth = z.discriminatedUnion('type', [
  z
    .object({
      /** OAuth 2.0 JWT bearer: a connected app with a certificate; the best choice for servers. */
      type: z.literal('jwt'),
      clientId: z.string().min(1),
      username: z.string().min(1),
      privateKey: secretSchema,
      /**
       * The assertion's audience (`aud`). Salesforce accepts only https://login.salesforce.com,
       * https://test.salesforce.com or an Experience Cloud site URL; set it for the last.
       * @default https://test.salesforce.com for a sandbox loginUrl (test.salesforce.com,
       * *.sandbox.my.salesforce.com), https://login.salesforce.com for any other (a My Domain too)
       */
      audience: z
        .url()
        .optional()
        .describe(
          'JWT audience: only for an Experience Cloud site URL; by default https://test.salesforce.com for a sandbox loginUrl, https://login.salesforce.com otherwise',
        ),
    })
    .strict(),
  z
    .object({
      /** OAuth 2.0 client credentials: a connected app with a run-as user. */
      type: z.literal('client-credentials'),
      clientId: z.string().min(1),
      clientSecret: secretSchema,
    })
    .strict(),
  z
    .object({
      /** OAuth 2.0 refresh token (obtained once, interactively). */
      type: z.literal('refresh-token'),
      clientId: z.string().min(1),
      clientSecret: secretSchema.optional(),
      refreshToken: secretSchema,
    })
    .strict(),
  z
    .object({
      /** Refused, with the reason: see {@link REFUSED_AUTH}. */
      type: z.enum(['password', 'soap']),
    })
    .passthrough(),
]);

/** Why username-password and SOAP login are refused, and what to use. */
export const REFUSED_AUTH =
  "username-password and SOAP login are refused: Salesforce is retiring SOAP login() and deprecating the OAuth username-password flow, and both put a user's password in a file. Use auth.type jwt (a connected app with a certificate; see docs/salesforce.md), client-credentials, or refresh-token.";

/** Options of the Salesforce destination. */
export const salesforceOptionsSchema = z
  .object({
    /** Where to log in: https://login.salesforce.com, https://test.salesforce.com (sandboxes) or your My Domain. */
    loginUrl: z.url().default('https://login.salesforce.com'),
    /** The REST API version. @default '62.0' */
    apiVersion: z
      .string()
      .regex(/^\d+\.0$/)
      .default('62.0'),
    auth: auth.refine((a) => a.type !== 'password' && a.type !== 'soap', REFUSED_AUTH),
    /** The data model: EDA, Education Cloud, or one object of your own. */
    profile: z.enum(['eda', 'education-cloud', 'custom']),
    eda: z
      .object({
        /** External ID field (Text, Unique) you add to hed__Test__c. */
        testExternalId: apiName.default('ScoreBridge_Key__c'),
        /** External ID field (Text, Unique) you add to hed__Test_Score__c. */
        scoreExternalId: apiName.default('ScoreBridge_Key__c'),
        /** hed__Test_Type__c value. */
        testType: z.string().default('TOEFL'),
        /** hed__Source__c value. */
        source: z.string().default('Official'),
        /** hed__Subject_Area__c per section: EDA's picklist lacks Listening and Speaking; add them or map elsewhere. */
        subjects: z
          .object({
            listening: z.string().default('Listening'),
            reading: z.string().default('Reading'),
            speaking: z.string().default('Speaking'),
            writing: z.string().default('Writing'),
            total: z.string().default('Overall'),
          })
          .strict()
          .prefault({}),
        /** A field of hed__Test_Score__c to hold the scale (`ibt` 0–120 or `ibt26` 1–6), when both are kept. */
        scaleField: apiName.optional(),
      })
      .strict()
      .prefault({}),
    educationCloud: z
      .object({
        /** External ID field (Text, Unique) you add to PersonExamination. */
        externalId: apiName.default('ScoreBridge_Key__c'),
        /** The Examination record id of "TOEFL iBT", when you keep one. */
        examinationId: z.string().optional(),
      })
      .strict()
      .prefault({}),
    custom: z
      .object({
        object: apiName,
        externalId: apiName,
        /** The lookup to Contact. */
        contactField: apiName.optional(),
        /** Salesforce field → record field id or { const }. */
        fields: z.record(apiName, valueSource),
      })
      .strict()
      .optional(),
    /** How a record finds its Contact: rules tried in order; a rule matches when exactly one Contact has all its values. */
    matching: z
      .object({
        rules: z
          .array(
            z
              .object({
                name: z.string().min(1).optional(),
                /** Contact field → record field id. */
                match: z.record(apiName, z.string()).refine((m) => Object.keys(m).length > 0),
              })
              .strict(),
          )
          .min(1)
          .default([
            { name: 'email', match: { Email: 'email' } },
            {
              name: 'name and birth date',
              match: { LastName: 'lastName', FirstName: 'firstName', Birthdate: 'dateOfBirth' },
            },
          ]),
        /** No match or several: `hold` as a dead letter of kind unmatched (replay once the Contact exists), or `create` a Contact. */
        onUnmatched: z.enum(['hold', 'create']).default('hold'),
        /** A text field of the score's (parent) object to hold the name of the rule that matched. */
        ruleField: apiName.optional(),
      })
      .strict()
      .prefault({}),
    /** Records of a batch above this go through Bulk API 2.0; below, sObject Collections. @default 2000 */
    bulkThreshold: z.number().int().min(1).default(2000),
    /** The most of the org's daily API allowance ScoreBridge may use (0–1). @default 1 */
    maxApiShare: z.number().positive().max(1).default(1),
    /** When the allowance is spent, how long deliveries pause before trying again. @default 3600 */
    limitPauseSeconds: z.number().int().min(1).default(3600),
    /** Seconds per HTTP call; Bulk jobs are polled for at most `bulkPollSeconds`. */
    timeoutSeconds: z.number().positive().max(600).default(60),
    bulkPollSeconds: z.number().positive().max(86_400).default(600),
  })
  .strict()
  .refine((o) => o.profile !== 'custom' || o.custom, {
    path: ['custom'],
    message: 'profile custom needs a custom: block (object, externalId, fields)',
  });

/** Options of the Salesforce destination, as validated. */
export type SalesforceOptions = z.infer<typeof salesforceOptionsSchema>;
