import type { ErrorKind } from '../errors.js';
import { SourceError } from '../errors.js';

/** One documented TOEFL Access error: status, ETS's text, and what the person must do. */
interface KnownError {
  readonly status: number;
  /** ETS's sample text, matched case-insensitively inside the body. */
  readonly text: string;
  readonly code: string;
  readonly kind: ErrorKind;
  readonly remedy: string;
}

const FIX_REQUEST =
  'ScoreBridge sent a request without a parameter ETS requires. Check the source settings (type, reportby); if they are right, this is a bug: please report it.';

/** ETS's documented errors, most specific text first ("… due to an error" before its prefix). */
export const TOEFL_ACCESS_ERRORS: readonly KnownError[] = [
  {
    status: 400,
    text: 'startdate is required',
    code: 'missing-parameter',
    kind: 'bad-request',
    remedy: FIX_REQUEST,
  },
  {
    status: 400,
    text: 'enddate is required',
    code: 'missing-parameter',
    kind: 'bad-request',
    remedy: FIX_REQUEST,
  },
  {
    status: 400,
    text: 'type/program is required',
    code: 'missing-parameter',
    kind: 'bad-request',
    remedy: FIX_REQUEST,
  },
  {
    status: 400,
    text: 'reportby is required',
    code: 'missing-parameter',
    kind: 'bad-request',
    remedy: FIX_REQUEST,
  },
  {
    status: 400,
    text: 'Invalid credentials format',
    code: 'malformed-key',
    kind: 'auth',
    remedy:
      'The API key is not in the format ETS issues. Generate a new key in TOEFL Access (Integrations → View Integration → Actions) and set it exactly as shown, without spaces or line breaks.',
  },
  {
    status: 401,
    text: 'authcode is required',
    code: 'missing-key',
    kind: 'auth',
    remedy:
      'The request carried no key. Set the API key in the environment variable or file the configuration names.',
  },
  {
    status: 401,
    text: 'Authcode validation failed due to an error',
    code: 'account-inactive',
    kind: 'auth',
    remedy:
      'ETS could not validate the key: the account is inactive, or new (a new server-to-server account is pending for two business days). Wait for a new account, generate a new key in TOEFL Access → Integrations, or contact the TOEFL Access help desk.',
  },
  {
    status: 401,
    text: 'Authcode validation failed',
    code: 'key-rejected',
    kind: 'auth',
    remedy:
      'ETS rejected the key: it is wrong or has expired (when a working connection breaks, the key has likely expired). Generate a new key in TOEFL Access → Integrations → View Integration → Actions and update the configuration.',
  },
  {
    status: 401,
    text: 'User is not authenticated',
    code: 'not-authenticated',
    kind: 'auth',
    remedy:
      "Authentication failed. Check that the key is this institution's, or generate a new one in TOEFL Access → Integrations.",
  },
];

const BY_STATUS: Record<number, { code: string; kind: ErrorKind; remedy: string }> = {
  401: {
    code: 'key-rejected',
    kind: 'auth',
    remedy:
      'ETS did not accept the key. Check it, or generate a new one in TOEFL Access → Integrations.',
  },
  403: {
    code: 'forbidden',
    kind: 'forbidden',
    remedy:
      'ETS refused access (permissions, or a technical error on their side). Contact ETS support with the institution, the time (UTC), this message and the request details — never the key.',
  },
  429: {
    code: 'rate-limited',
    kind: 'rate-limit',
    remedy: 'ETS asked ScoreBridge to slow down; it waits and retries.',
  },
  500: {
    code: 'server-error',
    kind: 'unavailable',
    remedy:
      'ETS had a server error. ScoreBridge waits (ETS advises 5–10 minutes), retries, and tries smaller windows; if it persists, contact ETS support.',
  },
};

/**
 * Maps a TOEFL Access error response to a {@link SourceError}. `body` is the start of the body
 * (text or JSON; ETS does not say which), already cleaned of the key. The message carries the
 * request (method and URL — the key is a header, never in the URL), the status and ETS's text.
 */
export function sourceErrorFor(
  request: string,
  status: number,
  body: string,
  retryAfterSeconds?: number,
): SourceError {
  const text = errorText(body);
  const known = TOEFL_ACCESS_ERRORS.find(
    (e) => e.status === status && text.toLowerCase().includes(e.text.toLowerCase()),
  );
  const fallback =
    BY_STATUS[status] ??
    (status > 500
      ? {
          code: 'service-unavailable',
          kind: 'unavailable' as const,
          remedy:
            'ETS, or something between ScoreBridge and ETS, is unavailable; ScoreBridge retries with backoff.',
        }
      : {
          code: 'unexpected-status',
          kind: 'bad-request' as const,
          remedy: `ETS answered ${status}, which its documentation does not list. Check the base URL and the source settings.`,
        });
  const { code, kind, remedy } = known ?? fallback;
  return new SourceError(kind, `[toefl-access] ${request} → ${status}${text ? ` ${text}` : ''}`, {
    status,
    code,
    remedy,
    where: request,
    retryAfterSeconds,
  });
}

/** ETS's words from an error body: a JSON message field, or the first line of text. */
export function errorText(body: string): string {
  const trimmed = body.trim();
  if (!trimmed) return '';
  try {
    const json: unknown = JSON.parse(trimmed);
    const found = findMessage(json);
    if (found) return clean(found);
  } catch {
    // Not JSON: plain text (or an HTML error page from something in between).
  }
  return clean(trimmed.replace(/<[^>]*>/g, ' '));
}

function findMessage(json: unknown): string | undefined {
  if (typeof json === 'string') return json;
  if (!json || typeof json !== 'object') return undefined;
  const obj = json as Record<string, unknown>;
  for (const key of ['message', 'error_description', 'error', 'detail', 'title', 'errors']) {
    const value = obj[key];
    const text = Array.isArray(value) ? findMessage(value[0]) : findMessage(value);
    if (text) return text;
  }
  return undefined;
}

function clean(text: string): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length > 200 ? `${oneLine.slice(0, 200)}…` : oneLine;
}
