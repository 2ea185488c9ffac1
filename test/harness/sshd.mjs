import { execFileSync, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { connect } from 'node:net';
import { tmpdir, userInfo } from 'node:os';
import { join } from 'node:path';
import { freePort } from './ports.mjs';
import { realClockEnv } from './real-clock.mjs';

const SSHD = ['/usr/sbin/sshd', '/usr/bin/sshd', '/usr/local/sbin/sshd'].find((p) => existsSync(p));

/** Whether OpenSSH's sshd is installed (.ci/run installs it when it is not). */
export const haveSshd = SSHD !== undefined;

function keygen(file, passphrase = '') {
  execFileSync('ssh-keygen', [
    '-q',
    '-t',
    'ed25519',
    '-N',
    passphrase,
    '-C',
    'scorebridge-test',
    '-f',
    file,
  ]);
}

/** Starts sshd (it must be installed: see .ci/run) and waits until it answers with its banner. */
export async function startSshd() {
  if (!SSHD)
    throw new Error('OpenSSH sshd is not installed (Debian: apt-get install openssh-server)');
  const dir = mkdtempSync(join(tmpdir(), 'sb-sshd-'));
  keygen(join(dir, 'host_key'));
  keygen(join(dir, 'user_key'));
  keygen(join(dir, 'user_key_encrypted'), 'correct horse');
  writeFileSync(
    join(dir, 'authorized_keys'),
    `${readFileSync(join(dir, 'user_key.pub'), 'utf8')}${readFileSync(join(dir, 'user_key_encrypted.pub'), 'utf8')}`,
    { mode: 0o600 },
  );
  const root = join(dir, 'sftp');
  mkdirSync(join(root, 'incoming'), { recursive: true });
  const port = await freePort();
  const username = userInfo().username;
  writeFileSync(
    join(dir, 'sshd_config'),
    `Port ${port}
ListenAddress 127.0.0.1
HostKey ${join(dir, 'host_key')}
PidFile ${join(dir, 'sshd.pid')}
AuthorizedKeysFile ${join(dir, 'authorized_keys')}
StrictModes no
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
PermitRootLogin prohibit-password
AllowUsers ${username}
Subsystem sftp internal-sftp
LogLevel ERROR
`,
  );
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });
  const child = spawn(SSHD, ['-D', '-e', '-f', join(dir, 'sshd_config')], {
    stdio: ['ignore', 'ignore', 'pipe'],
    env: realClockEnv(),
  });
  let stderr = '';
  child.stderr.on('data', (c) => {
    stderr += c.toString();
  });
  for (let i = 0; ; i++) {
    if (child.exitCode !== null) throw new Error(`sshd exited: ${stderr}`);
    if (await banner(port)) break;
    if (i > 100) throw new Error(`sshd did not start: ${stderr}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  const fingerprint = execFileSync(
    'ssh-keygen',
    ['-l', '-E', 'sha256', '-f', join(dir, 'host_key.pub')],
    { encoding: 'utf8' },
  ).split(' ')[1];
  const hostPub = readFileSync(join(dir, 'host_key.pub'), 'utf8').trim().split(' ');
  return {
    host: '127.0.0.1',
    port,
    username,
    privateKey: readFileSync(join(dir, 'user_key'), 'utf8'),
    encryptedKey: {
      key: readFileSync(join(dir, 'user_key_encrypted'), 'utf8'),
      passphrase: 'correct horse',
    },
    fingerprint,
    knownHosts: `[127.0.0.1]:${port} ${hostPub[0]} ${hostPub[1]}\n`,
    root,
    async stop() {
      child.kill('SIGTERM');
      if (child.exitCode === null) await new Promise((r) => child.once('exit', r));
    },
  };
}

function banner(port) {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    socket.setTimeout(500);
    socket.once('data', (d) => {
      socket.destroy();
      resolve(String(d).startsWith('SSH-'));
    });
    socket.once('error', () => resolve(false));
    socket.once('timeout', () => {
      socket.destroy();
      resolve(false);
    });
  });
}
