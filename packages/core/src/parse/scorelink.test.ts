import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  fieldsArbitrary,
  LAYOUT_900,
  LAYOUT_1600,
  sampleLine,
  splice,
} from '../testing/records.test-helpers.js';
import { blanksFor, compileFixedReader } from './fixed-reader.js';
import { formatRecord } from './format.js';
import type { ParsedEntry } from './issues.js';
import { parseAll, parseRecords } from './parse.js';
import { ScoreLinkParser } from './scorelink.js';

const good = (entries: ParsedEntry[]) => entries.filter((e) => e.issues.length === 0);
const messages = (entries: ParsedEntry[]) => entries.flatMap((e) => e.issues.map((i) => i.message));

/** Yields `bytes` in pieces of `size` bytes: multi-byte characters get cut. */
async function* pieces(bytes: Uint8Array, size: number) {
  for (let i = 0; i < bytes.length; i += size) yield bytes.subarray(i, i + size);
}

describe('ScoreLink parser', () => {
  const a = sampleLine({ appointmentNumber: '1000000000000001' });
  const b = sampleLine({
    appointmentNumber: '1000000000000002',
    lastName: 'Nguyễn Thị',
    firstName: 'Ánh',
  });

  it('types every field: trimmed text, ISO dates, numeric scores, codes as received', async () => {
    const [entry] = await parseAll(a);
    expect(entry!.issues).toEqual([]);
    const r = entry!.record!;
    expect(r.fields).toMatchObject({
      institutionCode: '1234',
      departmentCode: '02',
      lastName: 'Łukasiewicz',
      middleName: 'Ana María',
      dateOfBirth: '2001-02-28',
      gender: '2',
      testType: 'I',
      ibtReading: 28,
      ibtTotal: 99,
      addressLine2: null,
      ibt26Block: null,
    });
    expect(Object.keys(r.fields)).not.toContain('filler_5_9');
    expect(r.recordKey).toBe('1234|02|1000000000000001|2025-05-03|I');
    expect(r.scale).toBe('ibt');
    expect(r.raw).toBe(a);
    expect(r.contentHash).toMatch(/^[0-9a-f]{64}$/);
    expect(r.layout).toBe('scorelink-1600');
  });

  it.each([
    ['\\n', `${a}\n${b}\n`],
    ['\\r\\n', `${a}\r\n${b}\r\n`],
    ['no final newline', `${a}\n${b}`],
    ['no separators at all', `${a}${b}`],
    ['blank lines around', `\n${a}\n\n${b}\n\n`],
    ['nothing, on one line of a separated body', `${a}${b}\n`],
  ])('reads records separated by %s', async (_, body) => {
    const entries = await parseAll(body);
    expect(messages(entries)).toEqual([]);
    expect(good(entries).map((e) => e.record!.fields.appointmentNumber)).toEqual([
      '1000000000000001',
      '1000000000000002',
    ]);
  });

  it('decodes UTF-8 correctly whatever the chunk boundaries', async () => {
    const bytes = Buffer.from(`${a}\r\n${b}\r\n`);
    for (const size of [1, 2, 3, 7, 1601, 4096]) {
      const entries = await parseAll(pieces(bytes, size));
      expect(messages(entries)).toEqual([]);
      expect(entries.map((e) => e.record!.fields.lastName)).toEqual(['Łukasiewicz', 'Nguyễn Thị']);
    }
  });

  it('recognises 1600- and 900-character records line by line', async () => {
    const legacy = formatRecord(
      {
        institutionCode: '9876',
        appointmentNumber: '7654321',
        testDate: '2016-03-05',
        reportDate: '2016-03-20',
        ibtTotal: 88,
      },
      LAYOUT_900,
    );
    const entries = await parseAll(`${a}\n${legacy}\n${b}\n`);
    expect(messages(entries)).toEqual([]);
    expect(entries.map((e) => e.record!.layout)).toEqual([
      'scorelink-1600',
      'scorelink-legacy-900',
      'scorelink-1600',
    ]);
    expect(entries[1]!.record!.fields).toMatchObject({ reportDate: '2016-03-20', ibtTotal: 88 });
  });

  it('reports each bad line by line and field, and still yields every good record', async () => {
    const body = [
      a,
      splice(a, 530, 537, '20010231'), // 31 February
      splice(a, 561, 562, 'x7'), // non-numeric score
      'garbage',
      a.slice(0, 1598),
      splice(a, 1, 4, '    '), // no institution code
      splice(a, 539, 546, 'soon'), // garbage date
      b,
    ].join('\n');
    const entries = await parseAll(body);
    expect(good(entries).map((e) => e.line)).toEqual([1, 8]);
    expect(messages(entries)).toEqual([
      'line 2, field dateOfBirth (530–537): not a valid YYYYMMDD date',
      'line 3, field ibtReading (561–562): not a whole or half number',
      'line 4: record is 7 characters; expected 1600 (scorelink-1600) or 900 (scorelink-legacy-900)',
      'line 5: record is 1598 characters; expected 1600 (scorelink-1600) or 900 (scorelink-legacy-900)',
      'line 6, field institutionCode (1–4): is blank, so the record cannot be identified',
      'line 7, field testDate (539–546): not a valid YYYYMMDD date',
    ]);
    // A record with a field issue keeps the raw characters of that field.
    expect(entries[1]!.record!.fields.dateOfBirth).toBe('20010231');
  });

  it('never puts a field value into an issue message', async () => {
    const canary = 'CANARY9';
    const line = splice(splice(a, 530, 537, canary), 561, 562, 'C9');
    const entries = await parseAll(`${line}\n${canary}\n`);
    expect(messages(entries).length).toBeGreaterThan(0);
    expect(messages(entries).join('\n')).not.toMatch(/CANARY|C9/);
  });

  it('hints when a line counts 1600 bytes but not 1600 characters', async () => {
    const bytesNotChars = `${a.slice(0, 1598)}`; // 'Łukasiewicz' and 'Długa' each carry a 2-byte letter
    expect(Buffer.byteLength(bytesNotChars)).toBeGreaterThan(1598);
    const shortBy = Buffer.byteLength(bytesNotChars) - 1600;
    const line = shortBy === 0 ? bytesNotChars : bytesNotChars.slice(0, 1598 - shortBy);
    const [entry] = await parseAll(line);
    expect(entry!.issues[0]!.message).toMatch(
      /its UTF-8 bytes number 1600: the source may count bytes, not characters/,
    );
  });

  it('flags text that was not valid UTF-8, and reads latin1 when told', async () => {
    const latin1 = Buffer.from(sampleLine({ lastName: 'Müller' }), 'latin1');
    const [asUtf8] = await parseAll(latin1);
    expect(asUtf8!.issues.map((i) => i.code)).toContain('encoding');
    const [asLatin1] = await parseAll(latin1, { encoding: 'latin1' });
    expect(asLatin1!.issues).toEqual([]);
    expect(asLatin1!.record!.fields.lastName).toBe('Müller');
  });

  it('skips an endless line in constant memory and carries on after it', () => {
    const parser = new ScoreLinkParser({ maxLineLength: 10_000 });
    const out: ParsedEntry[] = [...parser.push(`${a}\n`)];
    for (let i = 0; i < 100; i++) out.push(...parser.push('x'.repeat(5000)));
    out.push(...parser.push(`\n${b}\n`), ...parser.end());
    expect(messages(out)).toEqual([
      'line 2: longer than 10000 characters without a line break; skipped',
    ]);
    expect(good(out).map((e) => e.line)).toEqual([1, 3]);
  });

  it('hands a large in-memory body over in bounded batches, as a stream would', async () => {
    const body = Buffer.from(
      `${Array.from({ length: 300 }, (_, i) => sampleLine({ appointmentNumber: String(i + 1) })).join('\n')}\n`,
    );
    const sizes: number[] = [];
    for await (const batch of parseRecords(body)) sizes.push(batch.length);
    expect(sizes.reduce((a, b) => a + b, 0)).toBe(300);
    expect(Math.max(...sizes)).toBeLessThan(100);
  });

  it('reads zeros and blanks in dates as no date, half scores as numbers', async () => {
    const line = splice(splice(a, 530, 537, '00000000'), 1209, 1212, '10.5');
    const [entry] = await parseAll(line);
    expect(entry!.issues).toEqual([]);
    expect(entry!.record!.fields).toMatchObject({ dateOfBirth: null, essTotal: 10.5 });
    expect(entry!.record!.scale).toBe('essentials');
  });

  it('round-trips: parse(format(fields)) gives the fields back, for any record', async () => {
    await fc.assert(
      fc.asyncProperty(fieldsArbitrary(), async (fields) => {
        const [entry] = await parseAll(formatRecord(fields, LAYOUT_1600));
        expect(entry!.issues).toEqual([]);
        expect(entry!.record!.fields).toEqual(fields);
      }),
      { numRuns: 200 },
    );
  });

  it('reads a record the same in a text stored one byte a character or two', async () => {
    // V8 stores a string holding a letter beyond Latin-1 two bytes a character, and the reader
    // compares blank runs stored the same way (blanksFor): both tables hold exactly n spaces.
    for (const text of ['ascii', 'Ж']) {
      const runs = blanksFor(text);
      expect(runs.every((run, n) => run === ' '.repeat(n))).toBe(true);
      expect(runs.length).toBeGreaterThan(1600);
    }
    // A layout longer than the tables widens them.
    const far = {
      id: 'far',
      name: 'Far',
      start: 2990,
      end: 3000,
      type: 'text',
      certainty: 'site',
    } as const;
    const read = compileFixedReader([far]);
    const text = `${' '.repeat(2989)}end${' '.repeat(8)}`;
    expect(read(text, 0, () => '', blanksFor(text))).toEqual({ far: 'end' });
    expect(blanksFor('Ж')[3000]).toBe(' '.repeat(3000));
    const wide = sampleLine({ appointmentNumber: '9', lastName: 'Жуков' });
    await fc.assert(
      fc.asyncProperty(fieldsArbitrary(), async (fields) => {
        const line = formatRecord(fields, LAYOUT_1600);
        const [alone] = await parseAll(line);
        const [beside] = await parseAll(`${line}\n${wide}\n`);
        expect(beside!.record!.fields).toEqual(alone!.record!.fields);
        expect(alone!.record!.fields).toEqual(fields);
      }),
      { numRuns: 200 },
    );
  });

  it('yields the same records however the body is cut into chunks', async () => {
    const lines = [a, b, sampleLine({ appointmentNumber: '3' }), 'bad line'];
    const body = Buffer.from(`${lines.join('\r\n')}\r\n`);
    const expected = (await parseAll(body)).map((e) => [
      e.line,
      e.record?.recordKey,
      e.issues.length,
    ]);
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 5000 }), async (size) => {
        const entries = await parseAll(pieces(body, size));
        expect(entries.map((e) => [e.line, e.record?.recordKey, e.issues.length])).toEqual(
          expected,
        );
      }),
      { numRuns: 50 },
    );
  });
});
