import { timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { ConfigError } from '@scorebridge/core';
import type { Pipeline, StateStore } from '@scorebridge/runtime';
import express, { type NextFunction, type Request, type Response } from 'express';

/** Where the dashboard's credentials come from. */
export const DASHBOARD_ENV = {
  user: 'SCOREBRIDGE_DASHBOARD_USER',
  password: 'SCOREBRIDGE_DASHBOARD_PASSWORD',
} as const;

/** The dashboard's credentials from the environment; refuses to serve without them. */
export function dashboardCredentials(env: NodeJS.ProcessEnv = process.env) {
  const user = env[DASHBOARD_ENV.user];
  const password = env[DASHBOARD_ENV.password];
  if (!user || !password || password.length < 12)
    throw new ConfigError(
      `--dashboard needs ${DASHBOARD_ENV.user} and ${DASHBOARD_ENV.password} (12 characters or more) in the environment: the dashboard shows queues and state, and lets an operator retry jobs`,
    );
  return { user, password };
}

/**
 * The dashboard: Bull Board for the queues (under /queues) and a ScoreBridge page (/) with each
 * pipeline's destinations, cursors, last runs, dead letters and open alerts — behind HTTP Basic
 * authentication. It shows keys, counts, windows and reasons only: job payloads are sealed, and
 * state holds no personal data.
 */
export async function startDashboard(options: {
  port: number;
  host: string;
  queues: readonly unknown[];
  store: StateStore;
  pipelines: readonly Pipeline[];
  credentials: { user: string; password: string };
}): Promise<Server> {
  const app = express();
  app.disable('x-powered-by');
  app.use(basicAuth(options.credentials));
  const board = new ExpressAdapter();
  board.setBasePath('/queues');
  createBullBoard({
    queues: options.queues.map((q) => new BullMQAdapter(q as never)),
    serverAdapter: board,
    options: { uiConfig: { boardTitle: 'ScoreBridge queues' } },
  });
  app.use('/queues', board.getRouter());
  app.get('/', (_req, res, next) => {
    overview(options.store, options.pipelines).then((html) => res.type('html').send(html), next);
  });
  return new Promise((resolve, reject) => {
    const server = app.listen(options.port, options.host, () => resolve(server));
    server.once('error', reject);
  });
}

function basicAuth(credentials: { user: string; password: string }) {
  const expected = Buffer.from(`${credentials.user}:${credentials.password}`);
  return (req: Request, res: Response, next: NextFunction) => {
    const given = /^Basic (.+)$/.exec(req.headers.authorization ?? '')?.[1];
    const decoded = given ? Buffer.from(given, 'base64') : Buffer.alloc(0);
    if (decoded.length === expected.length && timingSafeEqual(decoded, expected)) return next();
    res
      .set('WWW-Authenticate', 'Basic realm="ScoreBridge", charset="UTF-8"')
      .status(401)
      .send('Sign in to see ScoreBridge.');
  };
}

const esc = (value: unknown) =>
  String(value ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

async function overview(store: StateStore, pipelines: readonly Pipeline[]): Promise<string> {
  const sections: string[] = [];
  for (const p of pipelines) {
    const name = p.config.name;
    const letters = await store.deadLetters(name);
    const incidents = Object.entries(await store.incidents(name));
    const runs = (await store.runs(name, 5)).reverse();
    const rows: string[] = [];
    for (const d of p.config.destinations) {
      const cursor = await store.cursor(name, d.id);
      rows.push(
        `<tr><td>${esc(d.id)}</td><td>${esc(d.type)}</td><td>${cursor ? esc(cursor.toISOString()) : 'none yet'}</td><td>${letters.filter((l) => l.destination === d.id).length}</td></tr>`,
      );
    }
    sections.push(`<section class="pipeline" data-pipeline="${esc(name)}">
<h2>${esc(name)}</h2>${p.config.description ? `<p>${esc(p.config.description)}</p>` : ''}
<h3>Destinations</h3>
<table><tr><th>id</th><th>type</th><th>cursor (UTC)</th><th>dead letters</th></tr>${rows.join('')}</table>
<h3>Open alerts</h3>
${incidents.length ? `<ul>${incidents.map(([k, i]) => `<li><code>${esc(k)}</code> ${esc(i.title)} (since ${esc(i.openedAt)})</li>`).join('')}</ul>` : '<p>None.</p>'}
<h3>Last runs</h3>
${
  runs.length
    ? `<table><tr><th>started</th><th>result</th><th>delivered</th><th>unreadable</th><th>failures</th></tr>${runs
        .map(
          (r) =>
            `<tr><td>${esc(r.startedAt)}</td><td>${r.ok ? 'ok' : '<strong>failed</strong>'}</td><td>${r.destinations.reduce((n, d) => n + d.delivered, 0)}</td><td>${r.parseIssues}</td><td>${esc(
              r.destinations
                .filter((d) => d.failed)
                .map((d) => `${d.id}: ${d.failed}`)
                .join('; '),
            )}</td></tr>`,
        )
        .join('')}</table>`
    : '<p>No runs yet.</p>'
}
<h3>Dead letters (${letters.length})</h3>
${
  letters.length
    ? `<table><tr><th>kind</th><th>destination</th><th>record key</th><th>reason</th></tr>${letters
        .slice(0, 50)
        .map(
          (l) =>
            `<tr><td>${esc(l.kind)}</td><td>${esc(l.destination)}</td><td>${esc(l.recordKey ?? '')}</td><td>${esc(l.reason)}</td></tr>`,
        )
        .join(
          '',
        )}</table>${letters.length > 50 ? `<p>… and ${letters.length - 50} more: <code>scorebridge dlq list</code></p>` : ''}`
    : '<p>None.</p>'
}
</section>`);
  }
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>ScoreBridge</title>
<style>body{font:14px system-ui,sans-serif;margin:2em;color:#222}table{border-collapse:collapse;margin:.5em 0}td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left}th{background:#f3f3f3}section{margin-bottom:2.5em}</style>
</head><body><h1>ScoreBridge</h1><p><a href="/queues">Queues (Bull Board)</a></p>${sections.join('\n')}</body></html>`;
}
