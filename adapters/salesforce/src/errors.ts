import { DestinationError, type ErrorKind, ScoreBridgeError } from '@scorebridge/core';

/**
 * Salesforce's errors as ScoreBridge's closed kinds. The codes are Salesforce's (REST API
 * Developer Guide, "Status Codes and Error Responses"; jsforce passes `errorCode` through);
 * network failures come from Node. The runtime alone decides what is retried, from the kind.
 */

/** The org's daily API allowance (or ScoreBridge's share of it) used up: a pause, and an alert. */
export function allowanceSpent(
  where: string,
  destination: string,
  message: string,
  pauseSeconds: number,
): DestinationError {
  return new DestinationError('rate-limit', `${where}: ${message}`, {
    destination,
    retryAfterSeconds: pauseSeconds,
    allowance: 'Salesforce API allowance',
    remedy:
      "Check which integrations use the org's daily API requests (Setup → System Overview). ScoreBridge makes fewer calls with a lower bulkThreshold (Bulk API 2.0 takes a whole batch in a few calls); maxApiShare is the part of the allowance it may use.",
  });
}

/**
 * A failed call as a DestinationError (a ScoreBridge error passes through). `REQUEST_LIMIT_EXCEEDED`
 * goes to `limitReached`, which logs it and pauses.
 */
export function salesforceError(
  error: unknown,
  where: string,
  destination: string,
  what: string,
  limitReached: (message: string) => DestinationError,
): Error {
  if (error instanceof ScoreBridgeError) return error;
  const e = error as { errorCode?: string; name?: string; message?: string; code?: string };
  const code = e.errorCode ?? e.name ?? e.code ?? 'ERROR';
  if (code === 'REQUEST_LIMIT_EXCEEDED')
    return limitReached(`the org's daily API allowance is spent (REQUEST_LIMIT_EXCEEDED)`);
  return new DestinationError(
    kindOf(code, e.message ?? ''),
    `${where}: ${what}: ${code}: ${e.message ?? ''}`.trim(),
    { cause: error, destination },
  );
}

function kindOf(code: string, message: string): ErrorKind {
  const text = `${code} ${message}`;
  if (
    /INVALID_SESSION_ID|INVALID_AUTH|invalid_grant|invalid_client|Unable to refresh session/i.test(
      text,
    )
  )
    return 'auth';
  if (/INSUFFICIENT_ACCESS|API_DISABLED/.test(code)) return 'forbidden';
  if (/INVALID_TYPE|INVALID_FIELD|NOT_FOUND|MALFORMED_QUERY|INVALID_OPERATION/.test(code))
    return 'config';
  if (/ERROR_HTTP_5|ECONN|ETIMEDOUT|EPIPE|socket|fetch failed|SERVER_UNAVAILABLE/i.test(text))
    return 'unavailable';
  return 'internal';
}
