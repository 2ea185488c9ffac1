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
  z
    .object({
      const: z
        .union([z.string(), z.number(), z.boolean()])
        .describe('The same value for every record.'),
    })
    .strict(),
]);

const auth = z.discriminatedUnion('type', [
  z
    .object({
      type: z
        .literal('jwt')
        .describe(
          'OAuth 2.0 JWT bearer: a connected app with a certificate; the best choice for servers.',
        ),
      clientId: z.string().min(1).describe("The connected app's consumer key."),
      username: z.string().min(1).describe('The integration user, pre-authorised for the app.'),
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
      type: z
        .literal('client-credentials')
        .describe('OAuth 2.0 client credentials: a connected app with a run-as user.'),
      clientId: z.string().min(1).describe("The connected app's consumer key."),
      clientSecret: secretSchema,
    })
    .strict(),
  z
    .object({
      type: z
        .literal('refresh-token')
        .describe('OAuth 2.0 refresh token (obtained once, interactively).'),
      clientId: z.string().min(1).describe("The connected app's consumer key."),
      clientSecret: secretSchema.optional(),
      refreshToken: secretSchema,
    })
    .strict(),
  z
    .object({
      type: z.enum(['password', 'soap']).describe('Refused, with the reason: see REFUSED_AUTH.'),
    })
    .passthrough(),
]);

/** Why username-password and SOAP login are refused, and what to use. */
export const REFUSED_AUTH =
  "username-password and SOAP login are refused: Salesforce is retiring SOAP login() and deprecating the OAuth username-password flow, and both put a user's password in a file. Use auth.type jwt (a connected app with a certificate; see docs/salesforce.md), client-credentials, or refresh-token.";

/** Options of the Salesforce destination. */
export const salesforceOptionsSchema = z
  .object({
    loginUrl: z
      .url()
      .default('https://login.salesforce.com')
      .describe(
        'Where to log in: https://login.salesforce.com, https://test.salesforce.com (sandboxes) or your My Domain.',
      ),
    apiVersion: z
      .string()
      .regex(/^\d+\.0$/)
      .default('62.0')
      .describe('The REST API version.'),
    auth: auth
      .refine((a) => a.type !== 'password' && a.type !== 'soap', REFUSED_AUTH)
      .describe('How to log in: jwt (recommended), client-credentials or refresh-token.'),
    profile: z
      .enum(['eda', 'education-cloud', 'custom'])
      .describe('The data model: EDA, Education Cloud, or one object of your own.'),
    eda: z
      .object({
        testExternalId: apiName
          .default('ScoreBridge_Key__c')
          .describe('External ID field (Text, Unique) you add to hed__Test__c.'),
        scoreExternalId: apiName
          .default('ScoreBridge_Key__c')
          .describe('External ID field (Text, Unique) you add to hed__Test_Score__c.'),
        testType: z.string().default('TOEFL').describe('hed__Test_Type__c value.'),
        source: z.string().default('Official').describe('hed__Source__c value.'),
        subjects: z
          .object({
            listening: z.string().default('Listening').describe('The value for Listening.'),
            reading: z.string().default('Reading').describe('The value for Reading.'),
            speaking: z.string().default('Speaking').describe('The value for Speaking.'),
            writing: z.string().default('Writing').describe('The value for Writing.'),
            total: z.string().default('Overall').describe('The value for the total.'),
          })
          .strict()
          .prefault({})
          .describe(
            "hed__Subject_Area__c per section: EDA's picklist lacks Listening and Speaking; add them or map elsewhere.",
          ),
        scaleField: apiName
          .optional()
          .describe(
            'A field of hed__Test_Score__c to hold the scale (`ibt` 0–120 or `ibt26` 1–6), when both are kept.',
          ),
      })
      .strict()
      .prefault({})
      .describe('profile eda: hed__Test__c and hed__Test_Score__c (docs/salesforce.md).'),
    educationCloud: z
      .object({
        externalId: apiName
          .default('ScoreBridge_Key__c')
          .describe('External ID field (Text, Unique) you add to PersonExamination.'),
        examinationId: z
          .string()
          .optional()
          .describe('The Examination record id of "TOEFL iBT", when you keep one.'),
      })
      .strict()
      .prefault({})
      .describe('profile education-cloud: PersonExamination (docs/salesforce.md).'),
    custom: z
      .object({
        object: apiName.describe('The object, e.g. TOEFL_Score__c.'),
        externalId: apiName.describe('Its External ID field (Text, Unique): the record key.'),
        contactField: apiName.optional().describe('The lookup to Contact.'),
        fields: z
          .record(apiName, valueSource)
          .describe('Salesforce field → record field id or { const }.'),
      })
      .strict()
      .optional()
      .describe('profile custom: one object of your own, field by field.'),
    matching: z
      .object({
        rules: z
          .array(
            z
              .object({
                name: z
                  .string()
                  .min(1)
                  .optional()
                  .describe('What the rule is called (in dead letters and ruleField).'),
                match: z
                  .record(apiName, z.string())
                  .refine((m) => Object.keys(m).length > 0)
                  .describe('Contact field → record field id.'),
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
          ])
          .describe(
            'Rules tried in order; a rule matches when exactly one Contact has all its values.',
          ),
        onUnmatched: z
          .enum(['hold', 'create'])
          .default('hold')
          .describe(
            'No match or several: `hold` as a dead letter of kind unmatched (replay once the Contact exists), or `create` a Contact.',
          ),
        ruleField: apiName
          .optional()
          .describe(
            "A text field of the score's (parent) object to hold the name of the rule that matched.",
          ),
      })
      .strict()
      .prefault({})
      .describe(
        'How a record finds its Contact: rules in order, and what to do when none matches.',
      ),
    bulkThreshold: z
      .number()
      .int()
      .min(1)
      .default(2000)
      .describe(
        'Records of a batch above this go through Bulk API 2.0; below, sObject Collections.',
      ),
    maxApiShare: z
      .number()
      .positive()
      .max(1)
      .default(1)
      .describe("The most of the org's daily API allowance ScoreBridge may use (0–1)."),
    limitPauseSeconds: z
      .number()
      .int()
      .min(1)
      .default(3600)
      .describe('When the allowance is spent, how long deliveries pause before trying again.'),
    timeoutSeconds: z
      .number()
      .positive()
      .max(600)
      .default(60)
      .describe('Seconds per HTTP call; Bulk jobs are polled for at most `bulkPollSeconds`.'),
    bulkPollSeconds: z
      .number()
      .positive()
      .max(86_400)
      .default(600)
      .describe('How long one attempt waits for a Bulk job.'),
  })
  .strict()
  .refine((o) => o.profile !== 'custom' || o.custom, {
    path: ['custom'],
    message: 'profile custom needs a custom: block (object, externalId, fields)',
  });

/** Options of the Salesforce destination.describe("How a record finds its Contact: rules tried in order; a rule matches when exactly one Contact has all its values."), as validated. */
export type SalesforceOptions = z.infer<typeof salesforceOptionsSchema>;
