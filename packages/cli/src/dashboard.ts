import { timingSafeEqual } from 'node:crypto';
import type { Server } from 'node:http';
import { createBullBoard } from '@bull-board/api';
import { BullMQAdapter } from '@bull-board/api/bullMQAdapter';
import { ExpressAdapter } from '@bull-board/express';
import { ConfigError } from '@scorebridge/core';
import type { Pipeline, StateStore } from '@scorebridge/runtime';
import express, { type NextFunction, type Request, type Response } from 'express';
import { type InProgress, overviewPage, tracePage } from './dashboard-page.js';

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
 * The dashboard: Bull Board for the queues (under /queues), a ScoreBridge page (/) with each
 * pipeline's health, destinations and cursor ages, deliveries per day, last runs, dead letters and
 * open alerts, and a record lookup (/trace) — behind HTTP Basic authentication. It shows keys, counts, windows and reasons only: job payloads are sealed, and
 * state holds no personal data.
 */
export async function startDashboard(options: {
  port: number;
  host: string;
  queues: readonly unknown[];
  store: StateStore;
  /** The pipelines served now (a worker's change on SIGHUP). */
  pipelines: () => readonly Pipeline[];
  credentials: { user: string; password: string };
  /** A pipeline's run in flight and where it stands (worker mode). */
  inProgress?: InProgress;
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
    overviewPage(options.store, options.pipelines(), new Date(), options.inProgress).then(
      (html) => res.type('html').send(html),
      next,
    );
  });
  app.get('/trace', (req, res, next) => {
    const pipeline = String(req.query.pipeline ?? '');
    const number = String(req.query.number ?? '').slice(0, 64);
    tracePage(options.store, options.pipelines(), pipeline, number).then(
      ({ status, html }) => res.status(status).type('html').send(html),
      next,
    );
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
