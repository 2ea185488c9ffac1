import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { ConfigError } from '@scorebridge/core';

/** The environment variable holding the data keys of worker mode. */
export const DATA_KEY_ENV = 'SCOREBRIDGE_DATA_KEY';

/** A data key: an id (kept with every sealed payload, for rotation) and 32 bytes. */
export interface DataKey {
  readonly id: string;
  readonly key: Buffer;
}

/**
 * Reads `SCOREBRIDGE_DATA_KEY`: `id:base64` entries separated by commas, 32-byte keys, the first
 * one current (it seals), every one able to open. Rotation: put the new key first, keep the old
 * one after it until no payload sealed with it remains.
 * Make a key with: `node -e "console.log('k1:' + require('crypto').randomBytes(32).toString('base64'))"`.
 */
export function dataKeys(env: NodeJS.ProcessEnv = process.env): DataKey[] {
  const text = env[DATA_KEY_ENV];
  if (!text) {
    throw new ConfigError(
      `${DATA_KEY_ENV} is not set: worker mode encrypts the records it stages in Redis and needs a key (id:base64 of 32 bytes), e.g. k1:$(openssl rand -base64 32)`,
    );
  }
  const keys = text.split(',').map((entry, i) => {
    const [id, value] = entry.trim().split(':');
    const key = value ? Buffer.from(value, 'base64') : Buffer.alloc(0);
    if (!id || !/^[A-Za-z0-9_-]{1,32}$/.test(id) || key.length !== 32) {
      throw new ConfigError(
        `${DATA_KEY_ENV}: entry ${i + 1} must be id:base64 of 32 bytes (the id letters, digits, - or _)`,
      );
    }
    return { id, key };
  });
  if (new Set(keys.map((k) => k.id)).size !== keys.length)
    throw new ConfigError(`${DATA_KEY_ENV}: key ids must be unique`);
  return keys;
}

/** A sealed payload's format: `v1` text (earlier releases' records), `v2` bytes. */
export type SealVersion = 'v1' | 'v2';

/**
 * Seals and opens payloads with AES-256-GCM. A sealed payload is
 * `<version>.<key id>.<iv>.<ciphertext>.<tag>` (base64url); `context` (a job id, a queue name) is
 * authenticated too, so a payload cannot be moved to another job unnoticed. `v1` seals text
 * (`seal`/`open`); `v2` seals bytes and authenticates its version as well (`sealBytes`/`openBytes`):
 * a worker of a release before v2 refuses a v2 payload ("not a sealed ScoreBridge payload")
 * instead of misreading it.
 */
export function sealer(keys: readonly DataKey[]) {
  const current = keys[0];
  if (!current) throw new ConfigError(`${DATA_KEY_ENV}: no key`);
  const byId = new Map(keys.map((k) => [k.id, k.key]));
  const aad = (version: SealVersion, id: string, context: string) =>
    Buffer.from(version === 'v1' ? `${id}\n${context}` : `${version}\n${id}\n${context}`);
  const sealAs = (version: SealVersion, plaintext: Buffer, context: string): string => {
    const iv = randomBytes(12);
    const cipher = createCipheriv('aes-256-gcm', current.key, iv);
    cipher.setAAD(aad(version, current.id, context));
    const body = Buffer.concat([cipher.update(plaintext), cipher.final()]);
    return [
      version,
      current.id,
      iv.toString('base64url'),
      body.toString('base64url'),
      cipher.getAuthTag().toString('base64url'),
    ].join('.');
  };
  const openAny = (sealed: string, context: string): { version: SealVersion; bytes: Buffer } => {
    const [version, id, iv, body, tag] = sealed.split('.');
    if ((version !== 'v1' && version !== 'v2') || !id || !iv || body === undefined || !tag)
      throw new Error('not a sealed ScoreBridge payload');
    const key = byId.get(id);
    if (!key)
      throw new ConfigError(
        `a payload was sealed with data key "${id}", which ${DATA_KEY_ENV} no longer holds; add it back (after the current key) until such payloads are gone`,
      );
    const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(iv, 'base64url'));
    decipher.setAAD(aad(version, id, context));
    decipher.setAuthTag(Buffer.from(tag, 'base64url'));
    try {
      const bytes = Buffer.concat([
        decipher.update(Buffer.from(body, 'base64url')),
        decipher.final(),
      ]);
      return { version, bytes };
    } catch {
      throw new Error(
        'a sealed payload failed authentication (altered, or sealed for another job)',
      );
    }
  };
  return {
    seal: (plaintext: string, context = ''): string =>
      sealAs('v1', Buffer.from(plaintext, 'utf8'), context),
    open: (sealed: string, context = ''): string => openAny(sealed, context).bytes.toString('utf8'),
    sealBytes: (plaintext: Buffer, context = ''): string => sealAs('v2', plaintext, context),
    /** Opens a payload of either version, saying which. */
    openBytes: openAny,
  };
}
