import { DestinationError, type ErrorKind } from '@scorebridge/core';

/** What the runtime is told, per failure, with the receiver's origin only (its path may hold a token). */
export function webhookError(
  kind: ErrorKind,
  what: string,
  url: URL,
  destination: string,
  remedy: string,
  retryAfterSeconds?: number,
): DestinationError {
  return new DestinationError(kind, `[webhook] POST ${url.origin}: ${what}`, {
    destination,
    where: url.origin,
    remedy,
    ...(retryAfterSeconds !== undefined ? { retryAfterSeconds } : {}),
  });
}

/** A network failure or timeout, through an allow-list (never the raw error object). */
export function transportFailure(error: unknown, url: URL, destination: string): DestinationError {
  const code = (error as NodeJS.ErrnoException).code ?? (error as Error).name;
  const timedOut = code === 'ABORT_ERR' || code === 'TimeoutError' || code === 'ETIMEDOUT';
  return webhookError(
    timedOut ? 'timeout' : 'unavailable',
    timedOut ? 'no answer in time' : `cannot reach the receiver (${code})`,
    url,
    destination,
    'The receiver did not answer; ScoreBridge retries with backoff. If it persists, check the receiver and the URL.',
  );
}
