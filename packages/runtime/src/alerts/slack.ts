import { IncomingWebhook, IncomingWebhookHTTPError } from '@slack/webhook';

/** A Block Kit block (the kinds ScoreBridge sends). */
export type Block =
  | { type: 'header'; text: { type: 'plain_text'; text: string } }
  | { type: 'section'; text: { type: 'mrkdwn'; text: string } }
  | { type: 'context'; elements: { type: 'mrkdwn'; text: string }[] };

/** A Slack message: the notification text and its blocks. */
export interface SlackMessage {
  readonly text: string;
  readonly blocks: readonly Block[];
}

/** Slack's limits for incoming webhooks (Block Kit). */
export const SLACK_LIMITS = { blocks: 50, sectionText: 3000, headerText: 150 } as const;

/** Clips a message to Slack's limits: at most 50 blocks, 3,000 characters a section, 150 a header. */
export function withinLimits(message: SlackMessage): SlackMessage {
  const clip = (text: string, max: number) =>
    text.length <= max ? text : `${text.slice(0, max - 1)}…`;
  let blocks = message.blocks.map((b): Block => {
    if (b.type === 'header')
      return { ...b, text: { ...b.text, text: clip(b.text.text, SLACK_LIMITS.headerText) } };
    if (b.type === 'section')
      return { ...b, text: { ...b.text, text: clip(b.text.text, SLACK_LIMITS.sectionText) } };
    return {
      ...b,
      elements: b.elements.map((e) => ({ ...e, text: clip(e.text, SLACK_LIMITS.sectionText) })),
    };
  });
  if (blocks.length > SLACK_LIMITS.blocks) {
    const left = blocks.length - (SLACK_LIMITS.blocks - 1);
    blocks = [
      ...blocks.slice(0, SLACK_LIMITS.blocks - 1),
      { type: 'context', elements: [{ type: 'mrkdwn', text: `… and ${left} more` }] },
    ];
  }
  return { text: clip(message.text, SLACK_LIMITS.sectionText), blocks };
}

/** A channel's messages go out one at a time, at least this far apart (Slack: about one a second). */
const MIN_INTERVAL_MS = 1000;
/** Per webhook URL, the end of the last send: every alerter of the process shares the pace. */
const paces = new Map<string, Promise<number>>();

/**
 * Sends messages to a Slack incoming webhook with `@slack/webhook`: one at a time per URL, at most
 * about one a second, waiting as long as a 429's `Retry-After` asks (a few times), within Block
 * Kit limits. The URL is a secret: it never appears in an error.
 */
export function slackChannel(
  url: string,
  options: { timeoutMs?: number; retries429?: number; minIntervalMs?: number } = {},
) {
  let retryAfter: number | undefined;
  const webhook = new IncomingWebhook(url, {
    timeout: options.timeoutMs ?? 10_000,
    // Remembers Retry-After, which @slack/webhook's error does not keep.
    fetch: async (input: string | URL | Request, init?: RequestInit) => {
      const response = await fetch(input, init);
      const header = response.headers.get('retry-after');
      retryAfter = header && /^\d+$/.test(header) ? Number(header) : undefined;
      return response;
    },
  });
  const interval = options.minIntervalMs ?? MIN_INTERVAL_MS;

  async function post(message: SlackMessage): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        await webhook.send({ text: message.text, blocks: message.blocks as never });
        return;
      } catch (error) {
        const status = error instanceof IncomingWebhookHTTPError ? error.statusCode : undefined;
        if (status === 429 && attempt < (options.retries429 ?? 3)) {
          await new Promise((r) => setTimeout(r, (retryAfter ?? 1) * 1000));
          continue;
        }
        throw new Error(
          status
            ? `Slack refused the message (HTTP ${status}${error instanceof IncomingWebhookHTTPError && error.body ? `: ${String(error.body).slice(0, 100)}` : ''})`
            : `Slack could not be reached (${(error as Error).message.split(url).join('<webhook URL>')})`,
        );
      }
    }
  }

  return {
    /** Sends (in turn, paced); rejects with a message that never holds the URL. */
    send(message: SlackMessage): Promise<void> {
      const previous = paces.get(url) ?? Promise.resolve(0);
      const done = previous.then(async (lastAt) => {
        const wait = lastAt + interval - Date.now();
        if (wait > 0) await new Promise((r) => setTimeout(r, wait));
        await post(withinLimits(message));
        return Date.now();
      });
      // The pace holds whether or not this one went through.
      paces.set(
        url,
        done.catch(() => Date.now()),
      );
      return done.then(() => undefined);
    },
  };
}
