import { defineAdapter } from '@scorebridge/core';
import { createSalesforceDestination } from './destination.js';
import { salesforceOptionsSchema } from './options.js';

export {
  type ApiUsage,
  createSalesforceDestination,
  type SalesforceDestination,
} from './destination.js';
export { REFUSED_AUTH, type SalesforceOptions, salesforceOptionsSchema } from './options.js';

/** The Salesforce destination: EDA, Education Cloud or a custom object, through jsforce. */
export const salesforceAdapter = defineAdapter({
  type: 'salesforce',
  description:
    'Salesforce (EDA, Education Cloud or a custom object): OAuth 2.0, Contact matching, upserts by external id through sObject Collections or Bulk API 2.0.',
  optionsSchema: salesforceOptionsSchema,
  create: (options, context) => createSalesforceDestination(options, context),
});

/** What a pipeline that names this package (or its type) loads. */
export { salesforceAdapter as adapter };
