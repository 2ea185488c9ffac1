// The script an admissions office writes today, which `scorebridge run` is compared with
// (bench/script.mjs): GET each ≤30-day slice with the authcode header, cut each line by
// position, trim, write one CSV. No retries, no ledger, no cursor, no dead letters.
// Usage: node naive-script.mjs <scores URL> <authcode> <from ISO> <to ISO> <out.csv>
// With `--drain` for <out.csv> it only reads each response to its end: the time the sandbox
// itself takes to serve the window, which no client can beat.
import { appendFileSync, readFileSync, writeFileSync } from 'node:fs';

const [url, authcode, from, to, out] = process.argv.slice(2);
const layout = JSON.parse(
  readFileSync(new URL('../packages/core/layouts/scorelink-1600.json', import.meta.url), 'utf8'),
);
const fields = layout.fields.filter((f) => f.type !== 'filler');
const cell = (v) => (/[",\r\n]/.test(v) ? `"${v.replaceAll('"', '""')}"` : v);
const day = 86_400_000;
const iso = (t) => new Date(t).toISOString().slice(0, 19);

const drain = out === '--drain';
if (!drain) writeFileSync(out, `${fields.map((f) => f.id).join(',')}\n`);
for (let start = Date.parse(from); start < Date.parse(to); start += 30 * day) {
  const end = Math.min(start + 30 * day, Date.parse(to));
  const query = `startdate=${iso(start)}&enddate=${iso(end)}&type=TOEFL&reportby=scorelinkbyreportdate`;
  const res = await fetch(`${url}?${query}`, { headers: { authcode } });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  if (drain) {
    await res.arrayBuffer();
    continue;
  }
  const rows = [];
  for (const line of (await res.text()).split(/\r?\n/)) {
    if (line.trim() === '') continue;
    rows.push(fields.map((f) => cell(line.slice(f.start - 1, f.end).trim())).join(','));
  }
  appendFileSync(out, `${rows.join('\n')}\n`);
}
