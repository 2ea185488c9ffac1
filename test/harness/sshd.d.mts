/** A throwaway OpenSSH server on loopback, with keys of its own, serving SFTP. */
export interface Sshd {
  readonly host: string;
  readonly port: number;
  readonly username: string;
  /** The user's private key (OpenSSH format). */
  readonly privateKey: string;
  /** A passphrase-protected twin of the user's key. */
  readonly encryptedKey: { readonly key: string; readonly passphrase: string };
  /** `SHA256:…` of the server's host key, as ssh-keygen prints it. */
  readonly fingerprint: string;
  /** A known_hosts line for the server. */
  readonly knownHosts: string;
  /** A directory on this machine the SFTP user writes to (the "remote" side). */
  readonly root: string;
  stop(): Promise<void>;
}

/** Whether OpenSSH's sshd is installed (.ci/run installs it when it is not). */
export const haveSshd: boolean;

/** Starts sshd on a free loopback port and waits until it answers with its banner. */
export function startSshd(): Promise<Sshd>;
