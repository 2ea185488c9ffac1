import { IBT26_START_DATE } from '@scorebridge/core';
import { describe, expect, it } from 'vitest';
import { cefrForBand, halfBandTotal, SandboxData } from './data.js';

const NOW = new Date('2026-11-01T00:00:00Z');
const all = (d: SandboxData) => Array.from({ length: d.size }, (_, i) => d.record(i));

describe('sandbox data', () => {
  const data = new SandboxData({ seed: 9, records: 2000, days: 200, now: NOW });
  const records = all(data);

  it('is the same for the same seed, and differs for another', () => {
    expect(all(new SandboxData({ seed: 9, records: 2000, days: 200, now: NOW }))).toEqual(records);
    expect(all(new SandboxData({ seed: 10, records: 2000, days: 200, now: NOW }))[0]).not.toEqual(
      records[0],
    );
  });

  it('spreads report dates over the window, in order, some sharing a second', () => {
    expect(records).toHaveLength(2000);
    const times = records.map((r) => r.reportedAt.getTime());
    expect(Math.min(...times)).toBeGreaterThanOrEqual(NOW.getTime() - 200 * 86_400_000);
    expect(Math.max(...times)).toBeLessThanOrEqual(NOW.getTime());
    expect(times.every((t, i) => i === 0 || t >= times[i - 1]!)).toBe(true);
    expect(times.filter((t, i) => i > 0 && t === times[i - 1]).length).toBeGreaterThanOrEqual(40);
    const { start, end } = data.select(new Date(times[100]!), new Date(times[200]!));
    expect(start).toBeLessThanOrEqual(100);
    expect(end).toBeGreaterThan(200);
    expect(
      records
        .slice(start, end)
        .every(
          (r) => r.reportedAt.getTime() >= times[100]! && r.reportedAt.getTime() <= times[200]!,
        ),
    ).toBe(true);
  });

  it('uses the 0–120 scale before 21 January 2026 and 1–6 bands from then, consistently', () => {
    for (const { fields: f } of records) {
      if (f.ibtTotal != null) {
        expect(f.testDate! < IBT26_START_DATE).toBe(true);
        expect(f.ibtTotal).toBe(
          Number(f.ibtListening) +
            Number(f.ibtReading) +
            Number(f.ibtSpeaking) +
            Number(f.ibtWriting),
        );
      } else if (f.ibt26Total != null) {
        expect(f.testDate! >= IBT26_START_DATE).toBe(true);
        const sections = [
          f.ibt26Listening,
          f.ibt26Reading,
          f.ibt26Speaking,
          f.ibt26Writing,
        ] as number[];
        expect(f.ibt26Total).toBe(halfBandTotal(sections));
        expect(f.ibt26CefrTotal).toBe(cefrForBand(f.ibt26Total as number));
      } else expect(f.essTotal).toEqual(expect.any(Number));
    }
    const scales = new Set(
      records.map((r) =>
        r.fields.ibtTotal != null ? 'ibt' : r.fields.ibt26Total != null ? 'ibt26' : 'ess',
      ),
    );
    expect(scales).toEqual(new Set(['ibt', 'ibt26', 'ess']));
  });

  it('rounds iBT26 totals to the nearest half band and maps CEFR as ETS does', () => {
    expect(halfBandTotal([5, 5, 5, 5.5])).toBe(5); // 5.125
    expect(halfBandTotal([5, 5, 5.5, 5.5])).toBe(5.5); // 5.25
    expect([6, 5.5, 5, 4.5, 4, 3.5, 3, 2.5, 2, 1.5, 1].map(cefrForBand)).toEqual([
      'C2',
      'C1',
      'C1',
      'B2',
      'B2',
      'B1',
      'B1',
      'A2',
      'A2',
      'A1',
      'A1',
    ]);
  });

  it("keeps MyBest consistent with the person's own tests", () => {
    // A re-sent report carries the MyBest of a later test: its own is checked below.
    const withBest = records.filter((r) => r.fields.myBestTotal != null && !r.resent);
    expect(withBest.length).toBeGreaterThan(0);
    let improvedByEarlierTest = 0;
    for (const { fields: f } of withBest) {
      for (const section of ['Listening', 'Reading', 'Speaking', 'Writing']) {
        expect(f[`myBest${section}`]).toBeGreaterThanOrEqual(f[`ibt${section}`] as number);
        expect(f[`myBest${section}Date`]! <= f.testDate!).toBe(true);
        if (f[`myBest${section}Date`] !== f.testDate) improvedByEarlierTest++;
      }
      expect(f.myBestAsOfDate).toBe(f.testDate);
    }
    expect(improvedByEarlierTest).toBeGreaterThan(0);
  });

  it('re-sends some reports later with the same key and a changed score', () => {
    const resent = records.filter((r) => r.resent);
    expect(resent.length).toBeGreaterThan(0);
    for (const r of resent) {
      const original = records.find(
        (o) => !o.resent && o.fields.appointmentNumber === r.fields.appointmentNumber,
      )!;
      expect(original.reportedAt.getTime()).toBeLessThan(r.reportedAt.getTime());
      expect(r.fields.testDate).toBe(original.fields.testDate);
      expect(r.fields).not.toEqual(original.fields);
      const changed = Object.keys(r.fields).filter((k) => r.fields[k] !== original.fields[k]);
      if (r.resendKind === 'mybest') {
        expect(changed.length).toBeGreaterThan(0);
        expect(changed.every((k) => /mybest/i.test(k))).toBe(true);
        const asOf = r.fields.myBestAsOfDate ?? r.fields.ibt26MyBestDate;
        expect(asOf! > r.fields.testDate!).toBe(true);
      } else if (r.resendKind === 'scores')
        expect(changed.filter((k) => !k.startsWith('myBest')).sort()).toEqual(
          expect.arrayContaining([expect.stringMatching(/Speaking$/)]),
        );
      else expect(changed).toEqual(['email']);
    }
    // Most re-sends change only MyBest, as at ETS; every kind occurs.
    expect(new Set(resent.map((r) => r.resendKind))).toEqual(
      new Set(['mybest', 'scores', 'other']),
    );
    expect(resent.filter((r) => r.resendKind === 'mybest').length).toBeGreaterThan(
      resent.length / 2,
    );
  });

  it('has names in many scripts', () => {
    const names = records.map((r) => `${r.fields.firstName} ${r.fields.lastName}`).join(' ');
    expect(names).toMatch(/[ŁłØøŞş]/);
    expect(names).toMatch(/[\u0400-\u04ff]/); // Cyrillic
    expect(names).toMatch(/[\u4e00-\u9fff]/); // CJK
  });
});
