import { createHash, createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';

/**
 * Makes the host-key check: the key the server presents must be the pinned one (a `SHA256:`
 * fingerprint, or an entry for host:port in a known_hosts file, plain or hashed). ssh2 accepts
 * any host key unless told otherwise; this is what tells it.
 */
export function hostVerifier(
  pin: { fingerprint?: string; knownHosts?: string },
  host: string,
  port: number,
): (key: Buffer) => boolean {
  const known = pin.knownHosts ? keysFor(readFileSync(pin.knownHosts, 'utf8'), host, port) : [];
  return (key) => {
    if (
      pin.fingerprint &&
      `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}` ===
        pin.fingerprint.replace(/=+$/, '')
    )
      return true;
    return known.some((k) => k.equals(key));
  };
}

/** The keys a known_hosts file lists for host:port (`host` or `[host]:port`, plain or `|1|` hashed). */
export function keysFor(text: string, host: string, port: number): Buffer[] {
  const names = port === 22 ? [host, `[${host}]:22`] : [`[${host}]:${port}`];
  const keys: Buffer[] = [];
  for (const line of text.split('\n')) {
    const [hosts, , key] = line.trim().split(/\s+/);
    if (!hosts || !key || hosts.startsWith('#') || hosts.startsWith('@')) continue;
    const match = hosts.split(',').some((entry) => {
      if (!entry.startsWith('|1|')) return names.includes(entry);
      const [, , salt, hashed] = entry.split('|');
      return names.some(
        (name) =>
          createHmac('sha1', Buffer.from(salt!, 'base64')).update(name).digest('base64') === hashed,
      );
    });
    if (match) keys.push(Buffer.from(key, 'base64'));
  }
  return keys;
}
