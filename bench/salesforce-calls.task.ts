// API calls per 10,000 records on each Salesforce write path, against the emulator (driven by
// unmodified jsforce): sObject Collections (bulkThreshold above the batch) and Bulk API 2.0.
// Writes its figures as JSON to $SB_BENCH_OUT; bench/run.mjs prints them.
import { writeFileSync } from 'node:fs';
import { sampleRecords } from '@scorebridge/adapter-kit';
import { salesforceAdapter, salesforceOptionsSchema } from '@scorebridge/adapter-salesforce';
import { Secret } from '@scorebridge/core';
import { expect, it } from 'vitest';
import { startSalesforceEmulator } from '../test/salesforce/emulator.js';

const RECORDS = 10_000;
const silent = { debug() {}, info() {}, warn() {}, error() {} };

it('counts Salesforce API calls per 10,000 records on each path', async () => {
  const records = await sampleRecords(RECORDS, 31);
  const figures: Record<string, unknown> = {};
  for (const [path, bulkThreshold] of [
    ['collections', Number.MAX_SAFE_INTEGER],
    ['bulk', 2000],
  ] as const) {
    const org = await startSalesforceEmulator({ clientId: 'bench', clientSecret: 'bench' });
    const seen = new Set<string>();
    for (const r of records) {
      const email = String(r.fields.email).toLowerCase();
      if (seen.has(email)) continue;
      seen.add(email);
      org.insert('Contact', { LastName: r.fields.lastName, Email: r.fields.email });
    }
    const destination = salesforceAdapter.create(
      salesforceOptionsSchema.parse({
        loginUrl: org.url,
        auth: { type: 'client-credentials', clientId: 'bench', clientSecret: new Secret('bench') },
        profile: 'eda',
        matching: { rules: [{ name: 'email', match: { Email: 'email' } }] },
        bulkThreshold,
      }),
      { pipeline: 'bench', destinationId: 'crm', logger: silent },
    );
    const started = performance.now();
    const outcomes = await destination.deliver({ id: `bench-${path}`, pipeline: 'bench', records });
    const seconds = (performance.now() - started) / 1000;
    expect(outcomes.filter((o) => o.status !== 'delivered')).toEqual([]);
    figures[path] = {
      delivered: outcomes.filter((o) => o.status === 'delivered').length,
      calls: { ...org.calls },
      writeCalls: (org.calls.collections ?? 0) + (org.calls.bulk ?? 0),
      matchingQueries: org.calls.query ?? 0,
      seconds,
    };
    await org.close();
  }
  writeFileSync(process.env.SB_BENCH_OUT ?? '/dev/stdout', JSON.stringify(figures));
});
