import { sign } from 'node:crypto';
import { DestinationError } from '@scorebridge/core';
import type { Connection } from 'jsforce';
import type { SalesforceOptions } from './options.js';

/** What the token endpoint answers. */
export interface TokenResponse {
  readonly access_token: string;
  readonly instance_url: string;
}

/**
 * Obtains an access token by the configured OAuth 2.0 flow: JWT bearer (an RS256 assertion signed
 * with the connected app's key), client credentials, or a refresh token. Never a password.
 */
export async function requestToken(
  conn: Connection,
  options: SalesforceOptions,
  where: string,
): Promise<TokenResponse> {
  const { auth } = options;
  const oauth2 = conn.oauth2;
  try {
    if (auth.type === 'jwt') {
      return (await oauth2.requestToken({
        grant_type: 'urn:ietf:params:oauth:grant-type:jwt-bearer',
        assertion: jwtAssertion(
          auth.clientId,
          auth.username,
          jwtAudience(options.loginUrl, auth.audience),
          auth.privateKey.reveal(),
          where,
        ),
      })) as unknown as TokenResponse;
    }
    if (auth.type === 'client-credentials')
      return (await oauth2.requestToken({
        grant_type: 'client_credentials',
      })) as unknown as TokenResponse;
    if (auth.type === 'refresh-token')
      return (await oauth2.refreshToken(auth.refreshToken.reveal())) as unknown as TokenResponse;
  } catch (cause) {
    if (cause instanceof DestinationError) throw cause;
    const e = cause as { name?: string; message?: string };
    // jsforce names a refusal by its OAuth error (invalid_grant, invalid_client, …); anything
    // else — no answer, a 5xx — is the login server being unavailable, not a bad credential.
    if (!/^[a-z]+(_[a-z]+)+$/.test(e.name ?? '')) {
      throw new DestinationError(
        'unavailable',
        `${where}: the login server ${new URL(options.loginUrl).host} did not answer: ${e.message ?? e.name ?? 'no reason given'}`,
        { cause, remedy: 'retried by itself; if it lasts, check loginUrl and the network' },
      );
    }
    throw new DestinationError(
      'auth',
      `${where}: Salesforce refused the ${auth.type} login${auth.type === 'jwt' ? ` (audience ${jwtAudience(options.loginUrl, auth.audience)})` : ''}: ${e.name && e.name !== 'Error' ? `${e.name}: ` : ''}${e.message ?? 'no reason given'}`,
      {
        cause,
        remedy:
          auth.type === 'jwt'
            ? "check the connected app's consumer key (clientId), that its certificate matches privateKey, that the user is pre-authorised for the app, and loginUrl (test.salesforce.com or a *.sandbox.my.salesforce.com My Domain for sandboxes, which sign for test.salesforce.com); an Experience Cloud site needs auth.audience"
            : 'check the connected app (clientId, secret or refresh token) and loginUrl',
      },
    );
  }
  throw new DestinationError('config', `auth type ${auth.type} is not supported`);
}

/** Salesforce's two login servers, the only audiences it accepts besides Experience Cloud sites. */
export const PRODUCTION_AUDIENCE = 'https://login.salesforce.com';
export const SANDBOX_AUDIENCE = 'https://test.salesforce.com';

/**
 * The JWT audience for a login URL, as Salesforce's CLI derives it (sfdx-core `SfdcUrl`): a
 * sandbox's login server or My Domain → test.salesforce.com, anything else (production, a My
 * Domain) → login.salesforce.com. Salesforce refuses the login server's own origin as `aud`
 * unless it is one of those ("OAuth 2.0 JWT Bearer Flow for Server-to-Server Integration").
 */
export function jwtAudience(loginUrl: string, audience?: string): string {
  if (audience) return new URL(audience).origin;
  const host = new URL(loginUrl).hostname.toLowerCase();
  const sandbox =
    host === 'test.salesforce.com' ||
    host.endsWith('.sandbox.my.salesforce.com') ||
    /^cs\d+\.salesforce\.com$/.test(host) ||
    /--[a-z0-9]+\.(cs\d+\.)?my\.salesforce\.com$/.test(host);
  return sandbox ? SANDBOX_AUDIENCE : PRODUCTION_AUDIENCE;
}

/** The JWT bearer assertion: `iss` the consumer key, `sub` the user, `aud` the audience; three minutes. */
export function jwtAssertion(
  clientId: string,
  username: string,
  audience: string,
  privateKey: string,
  where: string,
): string {
  const b64 = (value: object) => Buffer.from(JSON.stringify(value)).toString('base64url');
  const body = `${b64({ alg: 'RS256' })}.${b64({
    iss: clientId,
    sub: username,
    aud: audience,
    exp: Math.floor(Date.now() / 1000) + 180,
  })}`;
  let signature: Buffer;
  try {
    signature = sign('RSA-SHA256', Buffer.from(body), privateKey);
  } catch {
    throw new DestinationError(
      'config',
      `${where}: auth.privateKey is not a usable RSA private key (PEM, unencrypted)`,
      { remedy: 'give the key whose certificate is uploaded to the connected app, in PEM form' },
    );
  }
  return `${body}.${signature.toString('base64url')}`;
}
