import type { DestinationLogger, SerializedError, SourceEvent } from '@scorebridge/core';
import { type Clock, systemClock } from '../clock.js';
import type { Pipeline } from '../config/load.js';
import type { DeadLetter, StateStore } from '../state/store.js';
import { type Block, type SlackMessage, slackChannel } from './slack.js';

/** Something an admissions office must act on: what happened, and what to do. No personal data. */
export interface Alert {
  /** One incident per key: `source:key-rejected`, `destination:crm`, `cursor-stale:files`, … */
  readonly key: string;
  readonly title: string;
  readonly what: string;
  readonly todo: string;
}

/** Sends alerts for one pipeline: one message per incident, a follow-up when it clears. */
export interface Alerter {
  /** The pipeline's alert settings (thresholds, cool-down). */
  readonly settings: AlertSettings;
  /** Opens an incident (a message) unless it is open already; after the cool-down, reminds. */
  open(alert: Alert): Promise<void>;
  /** Closes every open incident whose key starts with `prefix` (a "resolved" message each). */
  resolve(prefix: string): Promise<void>;
}

/** Alerting settings of a pipeline (notifications.slack), with defaults. */
export interface AlertSettings {
  readonly webhookUrl: string;
  readonly mention?: string;
  readonly cooldownMinutes: number;
  readonly consecutive500s: number;
  readonly cursorStaleHours: number;
  readonly keyRotationDays: number;
}

/** The pipeline's alert settings, or undefined when it has no Slack channel. */
function alertSettings(pipeline: Pipeline): AlertSettings | undefined {
  const slack = pipeline.config.notifications?.slack;
  if (!slack) return undefined;
  return {
    webhookUrl: slack.webhookUrl.reveal(),
    mention: slack.mention,
    cooldownMinutes: slack.cooldownMinutes ?? 24 * 60,
    consecutive500s: slack.consecutive500s ?? 3,
    cursorStaleHours: slack.cursorStaleHours ?? 48,
    keyRotationDays: slack.keyRotationDays ?? 90,
  };
}

/**
 * The pipeline's alerter, posting to its Slack channel and remembering incidents in the store;
 * undefined when the pipeline has no channel (`notifications.slack`). `clock` dates incidents and
 * measures the cool-down.
 */
export function pipelineAlerter(
  source: Pipeline,
  store: StateStore,
  logger?: DestinationLogger,
  clock: Clock = systemClock,
): Alerter | undefined {
  const settings = alertSettings(source);
  if (!settings) return undefined;
  const pipeline = source.config.name;
  const channel = slackChannel(settings.webhookUrl);
  const send = async (message: SlackMessage) => {
    try {
      await channel.send(message);
      return true;
    } catch (error) {
      // Alerting must never stop a run; the failure is logged (it never holds the URL).
      logger?.warn(`${pipeline}: a Slack alert could not be sent: ${(error as Error).message}`);
      return false;
    }
  };
  return {
    settings,
    async open(alert) {
      const at = clock();
      // Claimed before sending: of two jobs failing at once, one sends.
      const { claimed, previous } = await store.claimIncident(
        pipeline,
        alert.key,
        { title: alert.title, openedAt: at.toISOString(), notifiedAt: at.toISOString() },
        new Date(at.getTime() - settings.cooldownMinutes * 60_000),
      );
      if (!claimed) return;
      const sent = await send(
        message(pipeline, alert, settings, previous ? 'reminder' : 'new', previous?.openedAt),
      );
      // Not sent: tried again at the next occasion.
      if (!sent)
        await store.setIncident(pipeline, alert.key, {
          title: alert.title,
          openedAt: previous?.openedAt ?? at.toISOString(),
          notifiedAt: new Date(0).toISOString(),
        });
    },
    async resolve(prefix) {
      for (const [key, incident] of Object.entries(await store.incidents(pipeline))) {
        if (!key.startsWith(prefix)) continue;
        await send(resolvedMessage(pipeline, key, incident.title, incident.openedAt));
        await store.setIncident(pipeline, key, null);
      }
    },
  };
}

function message(
  pipeline: string,
  alert: Alert,
  settings: AlertSettings,
  state: 'new' | 'reminder',
  since?: string,
): SlackMessage {
  const title = `${state === 'new' ? '🔴' : '🔁 Still open:'} ${pipeline}: ${alert.title}`;
  const blocks: Block[] = [
    { type: 'header', text: { type: 'plain_text', text: title } },
    { type: 'section', text: { type: 'mrkdwn', text: alert.what } },
    { type: 'section', text: { type: 'mrkdwn', text: `*What to do:* ${alert.todo}` } },
    {
      type: 'context',
      elements: [
        {
          type: 'mrkdwn',
          text: `ScoreBridge · incident \`${alert.key}\`${since ? ` · since ${since}` : ''}${settings.mention ? ` · ${settings.mention}` : ''}`,
        },
      ],
    },
  ];
  return { text: `${title} — ${alert.todo}`, blocks };
}

function resolvedMessage(
  pipeline: string,
  key: string,
  title: string,
  since: string,
): SlackMessage {
  const text = `✅ Resolved: ${pipeline}: ${title}`;
  return {
    text,
    blocks: [
      { type: 'section', text: { type: 'mrkdwn', text } },
      {
        type: 'context',
        elements: [
          { type: 'mrkdwn', text: `ScoreBridge · incident \`${key}\` · open since ${since}` },
        ],
      },
    ],
  };
}

/** Titles of the TOEFL Access failures that need a person, by the client's error code. */
const SOURCE_TITLES: Record<string, string> = {
  'key-rejected': 'TOEFL Access rejected the API key (expired or wrong)',
  'account-inactive':
    'TOEFL Access could not validate the API key (new account pending, or inactive)',
  'malformed-key': 'The TOEFL Access API key is malformed',
  'missing-key': 'No TOEFL Access API key was sent',
  'not-authenticated': 'TOEFL Access did not authenticate the API key',
  forbidden: 'TOEFL Access refused access (HTTP 403)',
};

/** The alert for a source failure that a person must act on (a key, a 403), if it is one. */
export function sourceAlert(error: SerializedError): Alert | undefined {
  if (error.kind !== 'auth' && error.kind !== 'forbidden') return undefined;
  const code = error.code ?? error.kind;
  return {
    key: `source:${code}`,
    title: SOURCE_TITLES[code] ?? `TOEFL Access refused the request (${code})`,
    what: `No scores are being fetched: ${error.message}. Runs will keep failing until this is fixed; nothing is lost meanwhile — the next good run catches up from where it stopped.`,
    todo: error.remedy ?? 'Check the TOEFL Access key in the configuration.',
  };
}

/** The alert for a run of consecutive HTTP 500s from TOEFL Access. */
export function serverErrorsAlert(count: number): Alert {
  return {
    key: 'source-5xx',
    title: `TOEFL Access answered ${count} times in a row with a server error (HTTP 500)`,
    what: 'ScoreBridge waits 5–10 minutes between tries, as ETS advises, and asks for smaller windows; scores are delayed, not lost.',
    todo: 'Nothing, if it passes. If it lasts for hours, contact ETS support with the institution, the time (UTC) and the window — never the API key.',
  };
}

/** The alert for a destination that needs a person (credentials, configuration, a disabled endpoint, an exhausted allowance). */
export function destinationAlert(
  destination: { id: string; type: string },
  error: SerializedError,
): Alert | undefined {
  const base = { key: `destination:${destination.id}` };
  const what = `Deliveries to ${destination.id} (${destination.type}) stopped: ${error.message}. Its cursor stays where it was; the records are delivered once this is fixed.`;
  switch (error.kind) {
    case 'auth':
    case 'forbidden':
      return {
        ...base,
        title: `${destination.id} refused ScoreBridge's credentials`,
        what,
        todo:
          error.remedy ?? `Renew the credentials of ${destination.id} in the pipeline's secrets.`,
      };
    case 'config':
      return {
        ...base,
        title: `${destination.id} is misconfigured`,
        what,
        todo:
          error.remedy ?? 'Fix the destination in the pipeline file, then run scorebridge check.',
      };
    case 'disabled':
      return {
        ...base,
        title: `The ${destination.id} endpoint asked not to be called again (disabled)`,
        what,
        todo: 'Confirm the receiver is retired or fix its URL, then remove or update the destination.',
      };
    case 'rate-limit':
      // A service's allowance used up (the adapter names it) is worth a person's look; a brief
      // "slow down" only when it lasts (see MAX_ROUTINE_PAUSE_SECONDS).
      return error.allowance
        ? {
            ...base,
            title: `${error.allowance} exhausted for ${destination.id}`,
            what: `${error.message}. Deliveries pause and resume by themselves; scores arrive late.`,
            todo: error.remedy ?? `Find out what else uses the ${error.allowance}.`,
          }
        : {
            ...base,
            title: `${destination.id} asked ScoreBridge to wait`,
            what,
            todo: 'Nothing, if it passes; deliveries resume by themselves.',
          };
    default:
      return undefined;
  }
}

/** The alert for dead letters: counts of this run's by kind, and all that are open. */
export function deadLetterAlert(fresh: Record<string, number>, open: readonly DeadLetter[]): Alert {
  const counts = (entries: [string, number][]) => entries.map(([k, n]) => `${n} ${k}`).join(', ');
  const openByKind = new Map<string, number>();
  for (const l of open) openByKind.set(l.kind, (openByKind.get(l.kind) ?? 0) + 1);
  return {
    key: 'dead-letters',
    title: `${open.length} record(s) need attention (dead letters)`,
    what: `This run: ${counts(Object.entries(fresh))}. Open now: ${counts([...openByKind])}. \`parse\`: unreadable in ETS's file; \`rejected\`: refused by a destination; \`unmatched\`: no person found yet. The other records were delivered.`,
    todo: 'List them with `scorebridge dlq list <pipeline.yaml>` (each with its reason), fix the cause, then `scorebridge dlq replay`.',
  };
}

/** The alert for a destination whose cursor has not moved for too long. */
export function staleCursorAlert(destination: string, cursor: Date, hours: number): Alert {
  return {
    key: `cursor-stale:${destination}`,
    title: `${destination} has received nothing new for more than ${hours} hours`,
    what: `Its cursor (the last report time it confirmed) is ${cursor.toISOString()}: runs are failing for it, or not running.`,
    todo: 'Look at `scorebridge status <pipeline.yaml>` and the other alerts; check that the schedule (or cron job) still runs.',
  };
}

/** The reminder that the TOEFL Access key is older than the rotation period. */
export function keyRotationAlert(issuedOn: string, days: number): Alert {
  return {
    key: 'key-rotation',
    title: `The TOEFL Access API key is more than ${days} days old`,
    what: `The key in use was issued on ${issuedOn}; ETS advises rotating keys quarterly.`,
    todo: 'Generate a new key in TOEFL Access → Integrations → View Integration → Actions, put it where the configuration reads it, and update source.keyIssuedOn.',
  };
}

/** The alert for a worker whose jobs stopped flowing. */
export function stalledWorkerAlert(worker: string, waiting: number): Alert {
  return {
    key: `worker-stalled:${worker}`,
    title: `Worker ${worker} stopped taking jobs`,
    what: `${waiting} job(s) wait and none has started or finished for a while (this can happen after a Redis failover).`,
    todo: 'Restart the worker (its liveness endpoint reports 503, so an orchestrator does this by itself); check Redis.',
  };
}

/** Counts HTTP 500s in a row from the source's events; the longest run of them is kept. */
export function serverErrorStreak() {
  let current = 0;
  let longest = 0;
  return {
    observe(event: SourceEvent): void {
      if (event.type !== 'response') return;
      if (event.status === 500) longest = Math.max(longest, ++current);
      else current = 0;
    },
    get longest() {
      return longest;
    },
  };
}

/** What a finished run tells the alerts that depend on the whole run. */
export interface RunFacts {
  readonly pipeline: Pipeline;
  /** The most HTTP 500s in a row the source answered during the run. */
  readonly consecutive500s: number;
  /** True when every slice was fetched. */
  readonly sourceOk: boolean;
  /** Dead letters filed by this run, by kind. */
  readonly freshDeadLetters: Record<string, number>;
  readonly now: Date;
}

/** Alerts that depend on a whole run: 500s in a row, dead letters, stale cursors, the key's age. */
export async function alertAfterRun(alerter: Alerter, store: StateStore, facts: RunFacts) {
  const { settings } = alerter;
  const { config } = facts.pipeline;
  const name = config.name;
  if (facts.consecutive500s >= settings.consecutive500s)
    await alerter.open(serverErrorsAlert(facts.consecutive500s));
  else if (facts.sourceOk) await alerter.resolve('source-5xx');
  const open = await store.deadLetters(name);
  if (Object.values(facts.freshDeadLetters).some((n) => n > 0))
    await alerter.open(deadLetterAlert(facts.freshDeadLetters, open));
  else if (open.length === 0) await alerter.resolve('dead-letters');
  for (const d of config.destinations) {
    const cursor = await store.cursor(name, d.id);
    if (cursor && facts.now.getTime() - cursor.getTime() > settings.cursorStaleHours * 3_600_000)
      await alerter.open(staleCursorAlert(d.id, cursor, settings.cursorStaleHours));
    else await alerter.resolve(`cursor-stale:${d.id}`);
  }
  const issued = config.source.keyIssuedOn;
  if (issued && facts.now.getTime() - Date.parse(issued) > settings.keyRotationDays * 86_400_000)
    await alerter.open(keyRotationAlert(issued, settings.keyRotationDays));
  else await alerter.resolve('key-rotation');
}
