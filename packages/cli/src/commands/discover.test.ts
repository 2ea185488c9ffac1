import { mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { LayoutOverride } from '@scorebridge/core';
import { clockFrom } from '@scorebridge/runtime';
import { type Sandbox, startSandbox } from '@scorebridge/sandbox';
import { afterAll, afterEach, describe, expect, it } from 'vitest';
import { fileDestinationsYaml, pipelineYaml } from '../../../../test/harness/pipeline.js';
import { run } from '../testing/run.test-helpers.js';
import { ETS_TEST } from './discover.js';

const NOW = new Date('2026-11-01T00:00:00Z');
const dir = mkdtempSync(join(tmpdir(), 'sb-discover-'));
const sandboxes: Sandbox[] = [];
afterAll(() => Promise.all(sandboxes.map((s) => s.close())));
afterEach(() => {
  delete process.env.SB_DISCOVER_KEY;
});

async function sandbox(options: Parameters<typeof startSandbox>[0]): Promise<Sandbox> {
  const s = await startSandbox({ records: 400, seed: 4, now: NOW, ...options });
  sandboxes.push(s);
  process.env.SB_DISCOVER_KEY = s.authcode;
  return s;
}

const WINDOW = ['--from', '2025-11-01', '--to', '2026-11-01'];

async function discover(s: Sandbox, out: string, extra: string[] = []) {
  return run([
    'layout',
    'discover',
    '--base-url',
    s.scoresUrl,
    '--authcode-env',
    'SB_DISCOVER_KEY',
    ...WINDOW,
    '-o',
    out,
    ...extra,
  ]);
}

async function body(s: Sandbox, format: 'scorelink' | 'json'): Promise<string> {
  const query = `startdate=2025-11-01T00:00:00&enddate=2026-11-01T00:00:00&type=TOEFL&reportby=scorelinkbyreportdate${format === 'json' ? '&format=json' : ''}`;
  const response = await fetch(`${s.scoresUrl}?${query}`, { headers: { authcode: s.authcode } });
  return response.text();
}

/** Each record's canonical JSON without what depends on the format (hash, line, raw). */
function comparable(ndjson: string): string[] {
  return ndjson
    .trim()
    .split('\n')
    .map((l) => {
      const { contentHash: _h, line: _l, ...rest } = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(Object.entries(rest).sort(([a], [b]) => (a < b ? -1 : 1)));
    })
    .sort();
}

describe('scorebridge layout discover', () => {
  it("recovers the sandbox's hidden JSON names and iBT26 positions, and its files make JSON and ScoreLink parse alike", async () => {
    const s = await sandbox({ hiddenLayout: { seed: 4 } });
    const out = join(dir, 'hidden');
    const { code, stdout, stderr } = await discover(s, out);
    expect(code).toBe(0);
    expect(stderr).toContain(`wrote ${join(out, 'json-mapping.json')}`);
    expect(stdout).toContain('## Not placed: 0 JSON keys');
    expect(readFileSync(join(out, 'discover-report.md'), 'utf8')).toBe(stdout);

    const hidden = s.hidden!;
    const mapping = JSON.parse(readFileSync(join(out, 'json-mapping.json'), 'utf8')) as {
      fields: Record<string, string>;
    };
    const override = JSON.parse(
      readFileSync(join(out, 'layout-override.json'), 'utf8'),
    ) as LayoutOverride;
    // Every JSON name the sandbox served is placed: shipped fields by their ids, the iBT26 parts
    // as new sub-fields at exactly the hidden positions.
    const served = new Set(
      (JSON.parse(await body(s, 'json')) as { data: object[] }).data.flatMap(Object.keys),
    );
    const idOf = Object.fromEntries(Object.entries(hidden.jsonNames).map(([id, n]) => [n, id]));
    const subs = new Set(hidden.subFields.map((f) => f.id));
    expect(Object.keys(mapping.fields).sort()).toEqual([...served].sort());
    for (const name of served) {
      if (!subs.has(idOf[name]!)) expect([name, mapping.fields[name]]).toEqual([name, idOf[name]]);
    }
    const found = override.fields.filter((f) => f.certainty === 'discovered');
    const at = (f: { start?: number; end?: number; type?: string }) => [f.start, f.end, f.type];
    expect(found.map(at).sort()).toEqual(hidden.subFields.map(at).sort());
    for (const f of hidden.subFields) {
      const placed = found.find((p) => p.id === mapping.fields[hidden.jsonNames[f.id]!])!;
      expect([f.id, placed.start, placed.end]).toEqual([f.id, f.start, f.end]);
    }

    const text = join(dir, 'hidden.txt');
    const json = join(dir, 'hidden.json');
    writeFileSync(text, await body(s, 'scorelink'));
    writeFileSync(json, await body(s, 'json'));
    const layout = join(out, 'layout-override.json');
    const fromText = await run(['parse', text, '--layout', layout]);
    const fromJson = await run([
      'parse',
      json,
      '--format',
      'json',
      '--layout',
      layout,
      '--json-map',
      join(out, 'json-mapping.json'),
    ]);
    expect([fromText.code, fromJson.code]).toEqual([0, 0]);
    const a = comparable(fromText.stdout);
    const { start, end } = s.data.select(new Date('2025-11-01T00:00:00Z'), NOW);
    expect(a).toHaveLength(end - start);
    expect(comparable(fromJson.stdout)).toEqual(a);
    // The records carry the iBT26 parts under the discovered ids.
    expect(fromText.stdout).toContain(`"${found[0]!.id}":`);
  });

  it('the YAML the report prints makes a JSON pipeline deliver what the ScoreLink pipeline delivers', async () => {
    const s = await sandbox({ seed: 8, records: 300, hiddenLayout: { seed: 17 } });
    const out = join(dir, 'pipelines');
    const { code, stdout } = await discover(s, out);
    expect(code).toBe(0);
    const snippet = /```yaml\nsource:\n([\s\S]*?)```/.exec(stdout)![1]!;
    const pipelineFor = (format: 'json' | 'scorelink') => {
      const file = join(out, `${format}.yaml`);
      writeFileSync(
        file,
        pipelineYaml({
          name: `via-${format}`,
          baseUrl: s.scoresUrl,
          authcode: '${env:SB_DISCOVER_KEY}',
          format,
          firstRunStart: new Date('2025-11-01T00:00:00Z'),
          // The JSON pipeline takes the report's lines as they are; both use the override.
          source: format === 'json' ? snippet.trimEnd() : '  layout: layout-override.json',
          destinations: fileDestinationsYaml([
            { id: 'files', format: 'ndjson', directory: join(out, `out-${format}`) },
          ]),
        }),
      );
      return file;
    };
    const clock = clockFrom(new Date('2026-11-02T00:00:00Z'));
    for (const format of ['json', 'scorelink'] as const) {
      const ran = await run(
        ['run', pipelineFor(format), '--state-dir', join(out, `state-${format}`)],
        '',
        clock,
      );
      expect([format, ran.code]).toEqual([format, 0]);
    }
    const delivered = (format: string) =>
      comparable(
        readdirSync(join(out, `out-${format}`))
          .map((f) => readFileSync(join(out, `out-${format}`, f), 'utf8'))
          .join(''),
      );
    const viaText = delivered('scorelink');
    expect(viaText.length).toBeGreaterThan(100);
    expect(delivered('json')).toEqual(viaText);
  });

  it('refuses the part written at two places, says where, and leaves it out of the files', async () => {
    const s = await sandbox({ seed: 5, hiddenLayout: { seed: 9, ambiguous: true } });
    const out = join(dir, 'ambiguous');
    const { code, stdout } = await discover(s, out);
    expect(code).toBe(1);
    const copy = s.hidden!.copy!;
    const truth = s.hidden!.subFields.find((f) => f.id === copy.of)!;
    const name = s.hidden!.jsonNames[copy.of]!;
    expect(stdout).toContain(
      `- \`${name}\`: fits ${truth.start}–${truth.end} and ${copy.start}–${copy.end} alike in every paired record; discover does not choose`,
    );
    expect(stdout).toContain(`- ${copy.start}–${copy.end} (in unknown_938_1200): filled in`);
    const mapping = JSON.parse(readFileSync(join(out, 'json-mapping.json'), 'utf8'));
    expect(mapping.fields).not.toHaveProperty(name);
    const served = new Set(
      (JSON.parse(await body(s, 'json')) as { data: object[] }).data.flatMap(Object.keys),
    );
    expect(Object.keys(mapping.fields)).toHaveLength(served.size - 1);
  });

  it("--ets-test asks ETS's test endpoint for its example window with the sample key, in one request per format", async () => {
    const s = await sandbox({ authcode: ETS_TEST.authcode, hiddenLayout: { seed: 2 } });
    delete process.env.SB_DISCOVER_KEY;
    const { code, stdout } = await run([
      'layout',
      'discover',
      '--ets-test',
      '--base-url',
      s.sampleDataUrl,
      '-o',
      join(dir, 'ets'),
    ]);
    expect(code).toBeLessThanOrEqual(1);
    expect(stdout).toContain('11 reports paired by appointment number');
    expect(
      s.requests.map((r) => [r.path, r.key, r.query.startdate, r.query.enddate, r.query.format]),
    ).toEqual([
      ['/scores/sample-data', 'valid', '2024-07-25T00:00:00', '2025-07-26T23:59:59', undefined],
      ['/scores/sample-data', 'valid', '2024-07-25T00:00:00', '2025-07-26T23:59:59', 'json'],
    ]);
  });

  it('says which options are missing without --ets-test', async () => {
    const { code, stderr } = await run(['layout', 'discover', '--from', '2026-01-01']);
    expect(code).toBe(2);
    expect(stderr).toContain(
      "--base-url, --authcode-env, --to are required (or --ets-test, which fills in ETS's test environment)",
    );
  });
});
