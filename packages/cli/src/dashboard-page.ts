import type { Pipeline, RunRecord, StateStore } from '@scorebridge/runtime';
import { runLine } from './commands/status.js';
import { type TracedVersion, traceVersions } from './commands/trace.js';
import { pipelineStatus } from './status-view.js';

/**
 * The ScoreBridge page of the dashboard: per pipeline a health badge, its destinations with
 * cursor ages, records delivered per day, the last runs, open alerts and dead letters with their
 * reasons, and a record lookup. Keys, counts, windows and reasons only. It refreshes itself.
 */

const esc = (value: unknown) =>
  String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

/** A pipeline's run in flight: its id and how far it is (worker mode's `runInProgress`). */
export type InProgress = (pipeline: string) => Promise<
  | {
      runId: string;
      state: string;
      slices: number;
      fetched: number;
      done: number;
      failed: number;
      total: number;
    }
  | undefined
>;

/** `3 h ago`, `2 d ago`. */
function age(from: Date, now: Date): string {
  const minutes = Math.max(0, Math.round((now.getTime() - from.getTime()) / 60_000));
  if (minutes < 90) return `${minutes} min ago`;
  const hours = Math.round(minutes / 60);
  return hours < 48 ? `${hours} h ago` : `${Math.round(hours / 24)} d ago`;
}

/** Records delivered per day (all destinations) over the runs kept, as an SVG bar chart and a table. */
function perDay(runs: readonly RunRecord[]): string {
  const days = new Map<string, number>();
  for (const r of runs) {
    const day = r.finishedAt.slice(0, 10);
    days.set(day, (days.get(day) ?? 0) + r.destinations.reduce((n, d) => n + d.delivered, 0));
  }
  const list = [...days].sort(([a], [b]) => (a < b ? -1 : 1)).slice(-14);
  if (list.length === 0) return '<p>Nothing delivered yet.</p>';
  const max = Math.max(1, ...list.map(([, n]) => n));
  const bar = 28;
  const bars = list
    .map(([day, n], i) => {
      const h = Math.round((n / max) * 80);
      return `<rect x="${i * bar + 4}" y="${90 - h}" width="${bar - 8}" height="${h}"><title>${esc(day)}: ${n}</title></rect>`;
    })
    .join('');
  return `<figure>
<svg role="img" aria-labelledby="chart-title" width="${list.length * bar + 8}" height="96" class="chart"><title id="chart-title">Records delivered per day</title>${bars}</svg>
<figcaption><table class="compact"><caption>Records delivered per day (all destinations)</caption><tr>${list.map(([d]) => `<th scope="col">${esc(d.slice(5))}</th>`).join('')}</tr><tr>${list.map(([, n]) => `<td>${n}</td>`).join('')}</tr></table></figcaption>
</figure>`;
}

async function section(
  store: StateStore,
  p: Pipeline,
  now: Date,
  inProgress?: InProgress,
): Promise<string> {
  const name = p.config.name;
  const running = await inProgress?.(name);
  const live = running
    ? `<div class="running" role="status" data-run="${esc(running.runId)}"><strong>Run in progress</strong> <code>${esc(running.runId)}</code>: ${running.state === 'queued' ? 'waiting for a worker' : `slices fetched ${running.fetched} of ${running.slices} · jobs done ${running.done}${running.failed ? `, ${running.failed} failed` : ''} of ${running.total} so far`}</div>`
    : '';
  const {
    letters,
    incidents,
    runs,
    health: h,
    destinations,
  } = await pipelineStatus(p, store, {
    runs: 100,
  });
  const rows = destinations.map(
    (d) =>
      `<tr><th scope="row">${esc(d.id)}</th><td>${esc(d.type)}</td><td>${d.cursor ? `${esc(d.cursor)} <span class="muted">(${age(new Date(d.cursor), now)})</span>` : 'none yet'}</td><td>${d.deadLetters}</td></tr>`,
  );
  return `<section class="pipeline" data-pipeline="${esc(name)}" aria-labelledby="p-${esc(name)}">
<h2 id="p-${esc(name)}">${esc(name)} <span class="badge ${h.level}" data-health="${h.level}">${{ ok: 'Healthy', attention: 'Needs attention', failing: 'Failing' }[h.level]}</span> <span class="muted">${esc(h.why)}</span></h2>
${p.config.description ? `<p>${esc(p.config.description)}</p>` : ''}
${live}
<h3>Destinations</h3>
<table><caption class="sr">Destinations of ${esc(name)}</caption><tr><th scope="col">id</th><th scope="col">type</th><th scope="col">cursor (UTC)</th><th scope="col">dead letters</th></tr>${rows.join('')}</table>
<h3>Delivered per day</h3>
${perDay(runs)}
<h3>Open alerts</h3>
${incidents.length ? `<ul>${incidents.map((i) => `<li><code>${esc(i.key)}</code> ${esc(i.title)} (since ${esc(i.openedAt)})</li>`).join('')}</ul>` : '<p>None.</p>'}
<h3>Last runs</h3>
${
  runs.length
    ? `<ul class="runs">${runs
        .slice(-8)
        .reverse()
        .map((r) => `<li${r.ok ? '' : ' class="bad"'}><code>${esc(runLine(r))}</code></li>`)
        .join('')}</ul>`
    : '<p>No runs yet.</p>'
}
<h3>Dead letters (${letters.length})</h3>
${
  letters.length
    ? `<details${letters.length <= 10 ? ' open' : ''}><summary>${letters.length} open, with their reasons</summary><table><tr><th scope="col">kind</th><th scope="col">destination</th><th scope="col">record key</th><th scope="col">reason</th></tr>${letters
        .slice(0, 50)
        .map(
          (l) =>
            `<tr><td>${esc(l.kind)}</td><td>${esc(l.destination)}</td><td>${esc(l.recordKey ?? '')}</td><td>${esc(l.reason)}</td></tr>`,
        )
        .join(
          '',
        )}</table>${letters.length > 50 ? `<p>… and ${letters.length - 50} more: <code>scorebridge dlq list</code></p>` : ''}</details>`
    : '<p>None.</p>'
}
</section>`;
}

const STYLE = `body{font:15px/1.45 system-ui,sans-serif;margin:0;color:#1b1b1b;background:#fafafa}
header,main{max-width:72rem;margin:0 auto;padding:1rem 1.5rem}header{display:flex;gap:1.5rem;align-items:baseline;flex-wrap:wrap}
h1{margin:.2rem 0}a{color:#0b57d0}table{border-collapse:collapse;margin:.4rem 0;background:#fff}
td,th{border:1px solid #c8c8c8;padding:.3rem .6rem;text-align:left}th{background:#eef0f3}
section{background:#fff;border:1px solid #ddd;border-radius:8px;padding:.2rem 1.2rem 1rem;margin:1rem 0}
.badge{font-size:.8rem;padding:.15rem .55rem;border-radius:1rem;vertical-align:middle;border:1px solid}
.badge.ok{background:#e6f4ea;color:#0d5223;border-color:#0d5223}.badge.attention{background:#fff4d6;color:#6b4400;border-color:#6b4400}
.badge.failing{background:#fde7e7;color:#8a1111;border-color:#8a1111}.muted{color:#555;font-weight:normal;font-size:.9rem}
.chart rect{fill:#0b57d0}figcaption{width:max-content}.compact td,.compact th{padding:.1rem .35rem;font-size:.8rem}figure{margin:.3rem 0}
.running{background:#e8f0fe;border:1px solid #0b57d0;border-radius:6px;padding:.4rem .7rem;margin:.4rem 0}
.runs{padding-left:1.2rem}.runs .bad code{color:#8a1111}code{font-size:.85rem}
.sr{position:absolute;left:-9999px}form{display:flex;gap:.6rem;flex-wrap:wrap;align-items:end}
label{display:flex;flex-direction:column;font-size:.9rem}input,select,button{font:inherit;padding:.3rem .5rem}`;

function page(title: string, body: string, refresh = false): string {
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>${esc(title)}</title>
<meta name="viewport" content="width=device-width, initial-scale=1">${refresh ? '<meta http-equiv="refresh" content="15">' : ''}
<style>${STYLE}</style></head><body>
<header><h1>ScoreBridge</h1><nav><a href="/">Pipelines</a> · <a href="/queues">Queues (Bull Board)</a></nav></header>
<main>${body}</main></body></html>`;
}

function lookupForm(pipelines: readonly Pipeline[], chosen?: string, number?: string): string {
  return `<section aria-labelledby="lookup"><h2 id="lookup">Look up a report</h2>
<form method="get" action="/trace">
<label for="pipeline">Pipeline<select id="pipeline" name="pipeline">${pipelines.map((p) => `<option${p.config.name === chosen ? ' selected' : ''}>${esc(p.config.name)}</option>`).join('')}</select></label>
<label for="number">Appointment or registration number<input id="number" name="number" required value="${esc(number ?? '')}" inputmode="numeric" autocomplete="off"></label>
<button type="submit">Trace</button></form></section>`;
}

/** The overview: every pipeline, refreshing every 15 seconds. */
export async function overviewPage(
  store: StateStore,
  pipelines: readonly Pipeline[],
  now: Date,
  inProgress?: InProgress,
): Promise<string> {
  const sections = [];
  for (const p of pipelines) sections.push(await section(store, p, now, inProgress));
  return page('ScoreBridge', `${lookupForm(pipelines)}${sections.join('\n')}`, true);
}

/** One report's trace, as `scorebridge trace` shows it. */
export async function tracePage(
  store: StateStore,
  pipelines: readonly Pipeline[],
  name: string,
  number: string,
): Promise<{ status: number; html: string }> {
  const pipeline = pipelines.find((p) => p.config.name === name);
  if (!pipeline)
    return {
      status: 404,
      html: page('ScoreBridge', `${lookupForm(pipelines)}<p>No pipeline ${esc(name)}.</p>`),
    };
  const traced = await traceVersions(pipeline, store, number);
  const body = traced.length
    ? traced.map(version).join('')
    : `<p>No report with appointment/registration number <code>${esc(number)}</code> has been met by ${esc(name)}.</p>`;
  return {
    status: 200,
    html: page(
      `ScoreBridge: ${number}`,
      `${lookupForm(pipelines, name, number)}<section class="trace" aria-labelledby="trace"><h2 id="trace">${esc(number)} in ${esc(name)}</h2>${body}</section>`,
    ),
  };
}

function version(v: TracedVersion): string {
  return `<article class="version" data-hash="${esc(v.contentHash)}"><h3><code>${esc(v.recordKey)}</code></h3>
<p>Version <code>${esc(v.contentHash.slice(0, 12))}</code>, fetched in the report window from ${esc(v.at)}: ${v.update ? `an update, <strong>${esc(v.update)}</strong>` : 'the first version met'}.</p>
<table><tr><th scope="col">destination</th><th scope="col">confirmed</th><th scope="col">dead letters</th></tr>${v.destinations
    .map(
      (d) =>
        `<tr><th scope="row">${esc(d.id)} (${esc(d.type)})</th><td>${d.confirmed ? 'yes' : 'no'}</td><td>${esc(d.deadLetters.map((l) => l.reason).join('; '))}</td></tr>`,
    )
    .join('')}</table></article>`;
}
