import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFileStateStore, loadPipeline } from '@scorebridge/runtime';
import { describe, expect, it } from 'vitest';
import { builtInAdapters } from './adapters.js';
import { overviewPage } from './dashboard-page.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-page-'));
const file = join(dir, 'uni.yaml');
writeFileSync(
  file,
  `name: uni
source:
  baseUrl: https://toeflaccess-api.ets.org/scores
  authcode: \${env:NOT_NEEDED}
destinations:
  - id: files
    type: file
    options:
      directory: out
      format: csv
`,
);
const pipeline = loadPipeline(file, { adapters: await builtInAdapters(), lenient: true });
const NOW = new Date('2026-11-20T12:00:00Z');
const run = (day: string, delivered: number, ok = true) => ({
  startedAt: `${day}T06:00:00.000Z`,
  finishedAt: `${day}T06:01:00.000Z`,
  ok,
  window: null,
  parseIssues: 0,
  destinations: [{ id: 'files', delivered, unchanged: 0, filtered: 0, deadLettered: 0 }],
});

describe('the dashboard page', () => {
  it('says how each pipeline is doing: a badge in words, cursor ages, deliveries per day', async () => {
    const store = createFileStateStore(join(dir, 'state'));
    const empty = await overviewPage(store, [pipeline], NOW);
    expect(empty).toMatch(
      /data-health="attention">Needs attention<\/span> <span class="muted">no run yet/,
    );
    await store.setCursor('uni', 'files', new Date('2026-11-20T09:00:00Z'));
    await store.recordRun('uni', run('2026-11-18', 40));
    await store.recordRun('uni', run('2026-11-19', 15));
    await store.recordRun('uni', run('2026-11-19', 5));
    const html = await overviewPage(store, [pipeline], NOW);
    expect(html).toMatch(/data-health="ok">Healthy<\/span>/);
    expect(html).toContain('2026-11-20T09:00:00.000Z <span class="muted">(3 h ago)</span>');
    // One bar per day, as high as the day's deliveries; the same numbers as a table.
    expect(html.match(/<rect /g)).toHaveLength(2);
    expect(html).toContain('<title>2026-11-18: 40</title>');
    expect(html).toContain('<title>2026-11-19: 20</title>');
    expect(html).toContain('<meta http-equiv="refresh" content="15">');
    await store.recordRun('uni', run('2026-11-20', 0, false));
    expect(await overviewPage(store, [pipeline], NOW)).toMatch(
      /data-health="failing">Failing<\/span> <span class="muted">the last run failed/,
    );
    // Nothing a page shows comes unescaped from state.
    await store.setIncident('uni', 'source:', {
      title: '<script>alert(1)</script>',
      openedAt: NOW.toISOString(),
      notifiedAt: NOW.toISOString(),
    });
    const escaped = await overviewPage(store, [pipeline], NOW);
    expect(escaped).not.toContain('<script>');
    expect(escaped).toContain('&#60;script&#62;');
  });
});
