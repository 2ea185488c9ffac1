/**
 * The closed set of error kinds. Every adapter and the source client map their vendor's errors
 * into one of these; the runtime alone decides what is retried, from the kind.
 */
export const ERROR_KINDS = [
  /** Credentials rejected or missing (HTTP 401, a bad key, an expired token). */
  'auth',
  /** Authenticated but not allowed (HTTP 403 other than a rate limit). */
  'forbidden',
  /** Our own configuration is wrong: fix the pipeline file, the layout or the options. */
  'config',
  /** The request was malformed (HTTP 400): a bug or bad configuration, never retried blindly. */
  'bad-request',
  /** Slow down: HTTP 429, Salesforce REQUEST_LIMIT_EXCEEDED, Slack 429. */
  'rate-limit',
  /** The service is down or erroring (5xx, connection refused, reset). Retried with backoff. */
  'unavailable',
  /** A deadline passed. Retried with backoff. */
  'timeout',
  /** The destination refused the data itself (validation). Dead-lettered, not retried. */
  'rejected',
  /** The input could not be read (a response body, a record, a file). */
  'parse',
  /** The destination asked never to be called again (e.g. webhook 410 Gone). */
  'disabled',
  /** Anything else; a bug in ScoreBridge. */
  'internal',
] as const;

/** One of {@link ERROR_KINDS}. */
export type ErrorKind = (typeof ERROR_KINDS)[number];

/** Options shared by every ScoreBridge error. */
export interface ScoreBridgeErrorOptions {
  /** The underlying error, kept for debugging; never serialised by {@link serializeError}. */
  cause?: unknown;
  /** Where it happened: `file:line:column`, `line 12, field testDate`, `GET https://host/path`. */
  where?: string;
  /** What the person reading the message should do about it, in plain words. */
  remedy?: string;
}

/** The classes an error was made as, from its own to ScoreBridgeError: the same in every copy of this package. */
const ERROR_CLASSES = Symbol.for('@scorebridge/core:error-classes');

/**
 * The base of every error ScoreBridge throws on purpose. Messages never contain secrets or
 * test-taker data; `cause` may, which is why errors leave the process only through
 * {@link serializeError}.
 */
export class ScoreBridgeError extends Error {
  /** What kind of failure this is; decides retries and alerts. */
  readonly kind: ErrorKind;
  /** Where it happened, when known. */
  readonly where: string | undefined;
  /** What to do about it, when known. */
  readonly remedy: string | undefined;

  constructor(kind: ErrorKind, message: string, options: ScoreBridgeErrorOptions = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'ScoreBridgeError';
    this.kind = kind;
    this.where = options.where;
    this.remedy = options.remedy;
    const classes: string[] = [];
    for (let c: unknown = new.target; c && c !== Error; c = Object.getPrototypeOf(c))
      classes.push((c as { name: string }).name);
    Object.defineProperty(this, ERROR_CLASSES, { value: classes });
  }
}

/**
 * `instanceof` holds across copies of this package: an adapter installed beside a pipeline may
 * bring its own @scorebridge/core, and its DestinationError is still one to the runtime. (A plain
 * function: `this` is the class asked about, ScoreBridgeError or a subclass, which inherit it.)
 */
Object.defineProperty(ScoreBridgeError, Symbol.hasInstance, {
  value: function hasInstance(this: new (...args: never[]) => unknown, value: unknown): boolean {
    if (Function.prototype[Symbol.hasInstance].call(this, value)) return true;
    const classes = (value as Record<symbol, unknown> | null)?.[ERROR_CLASSES];
    return Array.isArray(classes) && classes.includes(this.name);
  },
});

/** Configuration (pipeline file, layout file, CLI options) is invalid. Never retried. */
export class ConfigError extends ScoreBridgeError {
  /** Every problem found, each already located; the message joins them. */
  readonly problems: readonly string[];

  constructor(problems: string | readonly string[], options: ScoreBridgeErrorOptions = {}) {
    const list = typeof problems === 'string' ? [problems] : problems;
    super('config', list.join('\n'), options);
    this.name = 'ConfigError';
    this.problems = list;
  }
}

/** An input (response body, file) could not be read as a whole. Per-record problems are `ParseIssue`s instead. */
export class ParseError extends ScoreBridgeError {
  /** The input stopped short (a cut-off body): worth fetching again, unlike malformed input. */
  readonly truncated: boolean;
  /** The other format the body plainly is, when the parser could tell (a hint for the reader). */
  readonly looksLike: 'json' | 'scorelink' | undefined;

  constructor(
    message: string,
    options: ScoreBridgeErrorOptions & {
      truncated?: boolean;
      looksLike?: 'json' | 'scorelink';
    } = {},
  ) {
    super('parse', message, options);
    this.name = 'ParseError';
    this.truncated = options.truncated ?? false;
    this.looksLike = options.looksLike;
  }
}

/** The TOEFL Access source failed; `kind` says how, `code` says exactly which documented case. */
export class SourceError extends ScoreBridgeError {
  /** The HTTP status, when there was a response. */
  readonly status: number | undefined;
  /** Which case, for alerts and remedies: `key-rejected`, `account-inactive`, `server-error`, … */
  readonly code: string | undefined;
  /** Seconds the server asked us to wait (HTTP `Retry-After`), when it said so. */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    options: ScoreBridgeErrorOptions & {
      status?: number;
      code?: string;
      retryAfterSeconds?: number;
    } = {},
  ) {
    super(kind, message, options);
    this.name = 'SourceError';
    this.status = options.status;
    this.code = options.code;
    this.retryAfterSeconds = options.retryAfterSeconds;
  }
}

/** A destination failed for a whole batch; `kind` says how. Per-record refusals are outcomes instead. */
export class DestinationError extends ScoreBridgeError {
  /** The destination's id in the pipeline, e.g. `salesforce-prod`. */
  readonly destination: string | undefined;
  /** Seconds the destination asked us to wait (HTTP `Retry-After`), when it said so. */
  readonly retryAfterSeconds: number | undefined;
  /**
   * A `rate-limit` that is a service's allowance used up, not a brief "slow down": its name as
   * the office knows it (`Salesforce API allowance`). Alerts title it so, whatever the adapter.
   */
  readonly allowance: string | undefined;

  constructor(
    kind: ErrorKind,
    message: string,
    options: ScoreBridgeErrorOptions & {
      destination?: string;
      retryAfterSeconds?: number;
      allowance?: string;
    } = {},
  ) {
    super(kind, message, options);
    this.name = 'DestinationError';
    this.destination = options.destination;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.allowance = options.allowance;
  }
}

/** The plain object an error becomes in logs, job data and state files. */
export interface SerializedError {
  name: string;
  kind: ErrorKind;
  message: string;
  where?: string;
  remedy?: string;
  status?: number;
  code?: string;
  /** A destination's allowance used up (see {@link DestinationError.allowance}). */
  allowance?: string;
}

/**
 * Turns any thrown value into a {@link SerializedError} through an allow-list of fields — never
 * by dumping the object, which for an HTTP client error would include request headers (and so
 * the key). Errors ScoreBridge did not create keep only their class name and message.
 */
export function serializeError(error: unknown): SerializedError {
  if (error instanceof ScoreBridgeError) {
    const out: SerializedError = { name: error.name, kind: error.kind, message: error.message };
    if (error.where !== undefined) out.where = error.where;
    if (error.remedy !== undefined) out.remedy = error.remedy;
    if (error instanceof SourceError) {
      if (error.status !== undefined) out.status = error.status;
      if (error.code !== undefined) out.code = error.code;
    }
    if (error instanceof DestinationError && error.allowance !== undefined)
      out.allowance = error.allowance;
    return out;
  }
  if (error instanceof Error) {
    return { name: error.name, kind: 'internal', message: error.message };
  }
  return { name: 'Error', kind: 'internal', message: String(error) };
}

/** One line for a terminal: the message, then where and what to do when known. */
export function describeError(error: unknown): string {
  const e = serializeError(error);
  const parts = [e.message];
  if (e.where && !e.message.includes(e.where)) parts.push(`(at ${e.where})`);
  if (e.remedy) parts.push(`What to do: ${e.remedy}`);
  return parts.join(' ');
}
