import { describe, expect, it } from 'vitest';
import { workerMetrics } from './metrics.js';

describe('worker metrics', () => {
  it("show each destination's allowance by type and quota, whatever the adapter", async () => {
    const metrics = workerMetrics({
      queueDepths: async () => [],
      cursorAges: async () => [],
      usage: () => [
        {
          pipeline: 'uni',
          destination: 'crm',
          type: 'salesforce',
          quota: 'api-requests-daily',
          used: 1234,
          limit: 100000,
        },
        {
          pipeline: 'uni',
          destination: 'hub',
          type: 'acme-hub',
          quota: 'messages',
          used: 5,
          limit: 10,
        },
      ],
    });
    const text = await metrics.registry.metrics();
    expect(text).toContain(
      'scorebridge_destination_quota_used{pipeline="uni",destination="crm",type="salesforce",quota="api-requests-daily"} 1234',
    );
    expect(text).toContain(
      'scorebridge_destination_quota_limit{pipeline="uni",destination="hub",type="acme-hub",quota="messages"} 10',
    );
  });
});
