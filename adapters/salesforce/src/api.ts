import { type DestinationContext, DestinationError } from '@scorebridge/core';
import type { Connection } from 'jsforce';
import { requestToken } from './auth.js';
import { allowanceSpent, salesforceError } from './errors.js';
import type { Describe } from './fields.js';
import type { SalesforceOptions } from './options.js';

/** The org's API usage, from the `Sforce-Limit-Info` header of the last response. */
export interface ApiUsage {
  readonly used: number;
  readonly limit: number;
}

/** One row's result: Salesforce's id, or its error. */
export interface RowResult {
  readonly ok: boolean;
  readonly code?: string;
  readonly message?: string;
  readonly fields?: readonly string[];
}

/** The org as the destination's parts talk to it: every call logged in, within limits, errors mapped. */
export interface Api {
  /** The jsforce connection, once logged in (inside `call`'s function, or after `ready()`). */
  readonly conn: Connection;
  /** Logs in, once (again after a refused attempt). */
  ready(): Promise<void>;
  readonly options: SalesforceOptions;
  /** `[salesforce] <destination id>`, how messages begin. */
  readonly where: string;
  readonly destination: string;
  /** One API call: logged in, within the allowance ScoreBridge may use, within a deadline, errors mapped. `bulk`: a Bulk API call, counted by hand. */
  call<T>(what: string, fn: () => Promise<T>, bulk?: boolean): Promise<T>;
  usage(): ApiUsage | undefined;
  /** An object's describe, once per destination. */
  describe(object: string): Promise<Describe>;
  /** A SOQL query, every page of it. */
  query(soql: string): Promise<Record<string, unknown>[]>;
}

/**
 * The connection to the org through jsforce: OAuth 2.0 (JWT bearer, client credentials or a
 * refresh token), one token refresh per expiry however many calls wait (jsforce's session
 * refresh delegate), the API allowance watched on every response.
 */
export function createApi(options: SalesforceOptions, context: DestinationContext): Api {
  const log = context.logger;
  const where = `[salesforce] ${context.destinationId}`;
  // jsforce is loaded at the first call: validating a pipeline never loads it.
  let conn: Connection | undefined;
  let connecting: Promise<Connection> | undefined;
  const connection = () =>
    (connecting ??= import('jsforce').then(({ Connection }) => {
      conn = new Connection({
        oauth2: { loginUrl: options.loginUrl, ...oauthClient(options) },
        version: options.apiVersion,
        // jsforce calls this when a session expires, once however many requests are waiting.
        refreshFn: (c, callback) => {
          requestToken(c, options, where).then(
            (token) => {
              c.instanceUrl = token.instance_url;
              callback(null, token.access_token, token as never);
            },
            (error: Error) => callback(error),
          );
        },
      });
      return conn;
    }));
  let login: Promise<void> | undefined;
  const ready = () => {
    login ??= connection().then(async (c) => {
      const token = await requestToken(c, options, where);
      c.accessToken = token.access_token;
      c.instanceUrl = token.instance_url;
    });
    login.catch(() => {
      login = undefined;
    });
    return login;
  };
  const loggedIn = (): Connection => {
    if (!conn) throw new Error(`${where}: the connection was used before logging in`);
    return conn;
  };
  const describes = new Map<string, Promise<Describe>>();

  // jsforce reads Sforce-Limit-Info on REST calls only; its Bulk API 2.0 client sends its own
  // requests, which count against the same allowance. Those are added to the last reading
  // until the next REST answer brings a new one.
  let reading: unknown;
  let bulkSince = 0;
  const usage = (): ApiUsage | undefined => {
    if (!conn) return undefined;
    const info = conn.limitInfo as { apiUsage?: ApiUsage };
    if (info !== reading) {
      reading = info;
      bulkSince = 0;
    }
    const u = info.apiUsage;
    return u && { used: u.used + bulkSince, limit: u.limit };
  };

  /** One API call: logged in, within the allowance ScoreBridge may use, within a deadline, errors mapped. */
  async function call<T>(what: string, fn: () => Promise<T>, bulk = false): Promise<T> {
    await ready();
    const u = usage();
    if (u && options.maxApiShare < 1 && u.used >= u.limit * options.maxApiShare) {
      throw limitReached(
        `ScoreBridge's share of the daily API allowance is used (${u.used} of ${u.limit} requests; maxApiShare ${options.maxApiShare})`,
      );
    }
    let timer: NodeJS.Timeout | undefined;
    try {
      return await Promise.race([
        fn(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(
            () =>
              reject(
                new DestinationError(
                  'timeout',
                  `${where}: ${what} took more than ${options.timeoutSeconds} s`,
                ),
              ),
            options.timeoutSeconds * 1000,
          );
        }),
      ]);
    } catch (error) {
      throw mapError(error, what);
    } finally {
      clearTimeout(timer);
      if (bulk) {
        usage();
        bulkSince++;
      }
    }
  }

  /** The allowance used up (Salesforce's, or ScoreBridge's share of it): logged, and a pause. */
  function limitReached(message: string): DestinationError {
    const u = usage();
    // Alert-worthy: the office should know its org is out of API calls.
    log.error(
      `${where}: API allowance exhausted; deliveries pause for ${options.limitPauseSeconds} s`,
      { event: 'salesforce-api-limit', used: u?.used, limit: u?.limit },
    );
    return allowanceSpent(where, context.destinationId, message, options.limitPauseSeconds);
  }

  function mapError(error: unknown, what: string): Error {
    return salesforceError(error, where, context.destinationId, what, limitReached);
  }

  async function describe(object: string): Promise<Describe> {
    let d = describes.get(object);
    if (!d) {
      d = call(
        `describe ${object}`,
        () => loggedIn().sobject(object).describe() as Promise<Describe>,
      );
      describes.set(object, d);
      d.catch(() => describes.delete(object));
    }
    return d;
  }

  async function query(soql: string): Promise<Record<string, unknown>[]> {
    type Page = { records: Record<string, unknown>[]; done: boolean; nextRecordsUrl?: string };
    let page = await call(
      'query Contacts',
      async () => (await loggedIn().query(soql)) as unknown as Page,
    );
    const records = [...page.records];
    while (!page.done && page.nextRecordsUrl) {
      const next = page.nextRecordsUrl;
      page = await call(
        'query Contacts',
        async () => (await loggedIn().queryMore(next)) as unknown as Page,
      );
      records.push(...page.records);
    }
    return records;
  }

  return {
    get conn() {
      return loggedIn();
    },
    ready,
    options,
    where,
    destination: context.destinationId,
    call,
    usage,
    describe,
    query,
  };
}

/** The connected app's client id and secret, for jsforce's OAuth2 (the secret only where the flow has one). */
function oauthClient(options: SalesforceOptions): { clientId?: string; clientSecret?: string } {
  const a = options.auth;
  if (a.type === 'jwt') return { clientId: a.clientId };
  if (a.type === 'client-credentials')
    return { clientId: a.clientId, clientSecret: a.clientSecret.reveal() };
  if (a.type === 'refresh-token')
    return { clientId: a.clientId, clientSecret: a.clientSecret?.reveal() };
  return {};
}
