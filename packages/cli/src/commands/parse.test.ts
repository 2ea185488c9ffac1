import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { builtinLayout, formatRecord } from '@scorebridge/core';
import { parse as parseCsv } from 'csv-parse/sync';
import { describe, expect, it } from 'vitest';
import { run } from '../testing/run.test-helpers.js';

const L1600 = builtinLayout('scorelink-1600');
const L900 = builtinLayout('scorelink-legacy-900');
const base = {
  institutionCode: '1234',
  departmentCode: '02',
  testDate: '2025-05-03',
  testType: 'I',
  ibtTotal: 99,
};
const line = (appointmentNumber: string, extra: Record<string, string | number | null> = {}) =>
  formatRecord(
    { ...base, appointmentNumber, lastName: 'Łukasiewicz', firstName: 'Zoë', ...extra },
    L1600,
  );

const dir = mkdtempSync(join(tmpdir(), 'sb-cli-'));
function file(name: string, content: string | Buffer): string {
  const path = join(dir, name);
  writeFileSync(path, content);
  return path;
}

describe('scorebridge parse', () => {
  it('prints canonical records as NDJSON with line numbers, summary on stderr', async () => {
    const path = file(
      'two.txt',
      `${line('1')}\r\n${line('2', { lastName: '李', firstName: 'Ana-María' })}`,
    );
    const { code, stdout, stderr } = await run(['parse', path]);
    expect(code).toBe(0);
    const records = stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(records.map((r) => [r.line, r.appointmentNumber, r.lastName, r.firstName])).toEqual([
      [1, '1', 'Łukasiewicz', 'Zoë'],
      [2, '2', '李', 'Ana-María'],
    ]);
    expect(records[0]).toMatchObject({
      recordKey: '1234|02|1|2025-05-03|I',
      scale: 'ibt',
      ibtTotal: 99,
    });
    expect(stderr).toBe(`scorebridge: ${path}: 2 records: 2 good, 0 with issues\n`);
  });

  it('handles a file mixing good and bad lines, both layouts and no separators', async () => {
    const legacy = formatRecord({ ...base, appointmentNumber: '9' }, L900);
    const bad = line('3').slice(0, 529) + '2001XX01' + line('3').slice(537);
    const path = file(
      'mixed.txt',
      [line('1'), bad, 'not a record', legacy].join('\n') + `\n${line('5')}${line('6')}`,
    );
    const { code, stdout, stderr } = await run(['parse', path]);
    expect(code).toBe(1);
    expect(
      stdout
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).appointmentNumber),
    ).toEqual(['1', '9', '5', '6']);
    expect(stderr).toContain(
      `${path}: line 2, field dateOfBirth (530–537): not a valid YYYYMMDD date`,
    );
    expect(stderr).toContain(
      `${path}: line 3: record is 12 characters; expected 1600 (scorelink-1600) or 900 (scorelink-legacy-900)`,
    );
    // Line 5 holds two records without a separator between them: both are read.
    expect(stderr).toMatch(/6 records: 4 good, 2 with issues\n$/);
  });

  it('writes CSV that parses back into the same records', async () => {
    const path = file(
      'csv.txt',
      `${line('1', { lastName: 'O"Brien, Jr.' })}\n${line('2', { lastName: 'Ñúñez' })}\n`,
    );
    const { code, stdout } = await run(['parse', path, '--out', 'csv']);
    expect(code).toBe(0);
    const rows = parseCsv(stdout, { columns: true }) as Record<string, string>[];
    expect(rows.map((r) => [r.line, r.lastName, r.ibtTotal, r.dateOfBirth])).toEqual([
      ['1', 'O"Brien, Jr.', '99', ''],
      ['2', 'Ñúñez', '99', ''],
    ]);
  });

  it('writes one JSON array with --out json, and reads JSON responses and stdin', async () => {
    const body = JSON.stringify({
      data: [
        {
          institution_code: '1234',
          appointment_number: '77',
          test_date: '20250503',
          last_name: 'Øster',
        },
      ],
    });
    const { code, stdout } = await run(['parse', '-', '--format', 'json', '--out', 'json'], body);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toEqual([
      expect.objectContaining({
        line: 1,
        appointmentNumber: '77',
        lastName: 'Øster',
        testDate: '2025-05-03',
      }),
    ]);
  });

  it('applies a site layout override', async () => {
    const override = file(
      'o.json',
      JSON.stringify({
        extends: 'scorelink-1600',
        fields: [{ id: 'ibt26Total', start: 832, end: 834, name: 'iBT26 Total', type: 'score' }],
      }),
    );
    const withBlock = line('1', { testDate: '2026-02-01' });
    const path = file('ibt26.txt', `${withBlock.slice(0, 831)}4.5${withBlock.slice(834)}\n`);
    const { code, stdout } = await run(['parse', path, '--layout', override]);
    expect(code).toBe(0);
    expect(JSON.parse(stdout)).toMatchObject({ ibt26Total: 4.5, scale: 'ibt26' });
  });

  it('explains usage and configuration errors with exit status 2', async () => {
    expect((await run(['parse', join(dir, 'missing.txt')])).stderr).toBe(
      `scorebridge: error: cannot read ${join(dir, 'missing.txt')}: no such file\n`,
    );
    expect((await run(['parse', join(dir, 'missing.txt')])).code).toBe(2);
    // Nothing on stdout before the error: no CSV header, no empty array that reads as "no records".
    for (const out of ['csv', 'json'])
      expect((await run(['parse', join(dir, 'missing.txt'), '--out', out])).stdout).toBe('');
    const bad = await run(['parse', 'x', '--out', 'xml']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(
      /^scorebridge: error: option '--out <format>' argument 'xml' is invalid. Allowed choices are ndjson, json, csv/,
    );
    expect((await run(['prase'])).stderr).toBe(
      "scorebridge: error: unknown command 'prase'\nscorebridge: (Did you mean parse?)\nscorebridge: run it with --help for usage\n",
    );
    const layout = await run([
      'parse',
      'x',
      '--layout',
      file(
        'bad-layout.json',
        '{"extends": "scorelink-1600", "fields": [{"id": "x", "start": 40, "end": 50, "name": "X"}]}',
      ),
    ]);
    expect(layout.code).toBe(2);
    expect(layout.stderr).toMatch(
      /bad-layout\.json: fields appointmentNumber \(27–42\) and x \(40–50\) overlap/,
    );
  });

  it('says which --format reads a body of the other format, instead of an error per field', async () => {
    const json = file('scores.json', '{"data": [{"appointment_number": "1"}]}');
    const asText = await run(['parse', json, '--out', 'csv']);
    expect(asText.code).toBe(1);
    expect(asText.stdout).toBe('');
    expect(asText.stderr).toBe(
      'scorebridge: error: the body is not ScoreLink: it is JSON\nscorebridge: what to do: it looks like JSON: did you mean --format json?\n',
    );
    const asJson = await run(['parse', file('scores.txt', `${line('1')}\n`), '--format', 'json']);
    expect(asJson.code).toBe(1);
    expect(asJson.stderr).toMatch(/it looks like ScoreLink: did you mean --format scorelink\?\n$/);
    // A body that is neither (a page) gets no wrong hint.
    const page = await run(['parse', file('page.html', '<html>oops</html>'), '--format', 'json']);
    expect(page.code).toBe(1);
    expect(page.stderr).not.toMatch(/did you mean/);
  });

  it('prints help that explains the command', async () => {
    const { code, stdout } = await run(['parse', '--help']);
    expect(code).toBe(0);
    expect(stdout).toMatch(/Exit status: 0 all records good, 1 some records had problems, 2 usage/);
    expect(stdout).toMatch(/--layout <file>/);
  });
});
