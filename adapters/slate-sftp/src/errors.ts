import { DestinationError, type ErrorKind } from '@scorebridge/core';

/** An SFTP failure as a DestinationError: who, what, where, and what to do. Never the raw error. */
export function sftpError(
  what: string,
  cause: unknown,
  server: string,
  destination: string,
): DestinationError {
  const text = cause instanceof Error ? cause.message : String(cause);
  const code = (cause as { code?: unknown }).code;
  let kind: ErrorKind = 'unavailable';
  let remedy =
    'The SFTP server could not be reached or broke off; ScoreBridge retries. If it persists, check the host, port and network.';
  if (/host denied|verification failed/i.test(text)) {
    kind = 'config';
    remedy =
      'The server presented a different host key from the one pinned. Confirm the new fingerprint with Slate (Technolutions) out of band before changing hostKey: a changed key can mean a server in the middle.';
  } else if (
    /authentication methods failed|authentication failed|permission denied \(publickey/i.test(text)
  ) {
    kind = 'auth';
    remedy =
      'The SFTP user or key was refused. Check username, that the public key is registered with Slate for this user, and the passphrase.';
  } else if (/passphrase|cannot parse privatekey|unsupported key format|encrypted/i.test(text)) {
    kind = 'config';
    remedy = 'The private key could not be read: check the key file and its passphrase.';
  } else if (
    /no such file|permission denied|not a directory|failure/i.test(text) &&
    !/connect|getConnection/.test(text)
  ) {
    kind = 'config';
    remedy =
      'The remote directory does not exist or this user cannot write there: check remoteDirectory (Slate uses /incoming/).';
  } else if (code === 'ETIMEDOUT' || /timed out|deadline/i.test(text)) {
    kind = 'timeout';
    remedy = 'The SFTP server did not answer in time; ScoreBridge retries.';
  } else if (code === 'ENOTFOUND') {
    kind = 'config';
    remedy = 'The host name does not resolve: check host.';
  }
  const short = text.split('\n')[0]!.replace(/^[a-zA-Z]+: /, '');
  return new DestinationError(kind, `[slate-sftp] ${what} on ${server} failed: ${short}`, {
    destination,
    where: server,
    remedy,
  });
}
