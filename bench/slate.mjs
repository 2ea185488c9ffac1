// A 100,000-record delivery to a real OpenSSH sftp server on loopback (CSV, one file), in MB/s.
import { sampleRecords } from '@scorebridge/adapter-kit';
import { slateAdapter } from '@scorebridge/adapter-slate-sftp';
import { recordsToCsv, Secret } from '@scorebridge/core';
import { haveSshd, startSshd } from '../test/harness/sshd.mjs';

const RECORDS = 100_000;

export async function slateThroughput() {
  if (!haveSshd)
    return { skipped: 'OpenSSH sshd is not installed (apt-get install openssh-server)' };
  const sshd = await startSshd();
  try {
    const records = await sampleRecords(RECORDS);
    const destination = slateAdapter.create(
      slateAdapter.optionsSchema.parse({
        host: sshd.host,
        port: sshd.port,
        username: sshd.username,
        privateKey: new Secret(sshd.privateKey),
        hostKey: { fingerprint: sshd.fingerprint },
        remoteDirectory: `${sshd.root}/incoming/`,
        timeoutSeconds: 120,
      }),
      {
        pipeline: 'bench',
        destinationId: 'slate',
        logger: { debug() {}, info() {}, warn() {}, error() {} },
      },
    );
    const renderStarted = performance.now();
    recordsToCsv(records);
    const renderSeconds = (performance.now() - renderStarted) / 1000;
    const started = performance.now();
    await destination.deliver({
      id: 'bench',
      pipeline: 'bench',
      records,
      window: { from: '2026-10-01T00:00:00Z', to: '2026-10-31T00:00:00Z' },
    });
    const seconds = (performance.now() - started) / 1000;
    const { statSync, readdirSync } = await import('node:fs');
    const [file] = readdirSync(`${sshd.root}/incoming`);
    const bytes = statSync(`${sshd.root}/incoming/${file}`).size;
    return {
      records: RECORDS,
      renderSeconds,
      bytes,
      seconds,
      mbPerSecond: bytes / 1e6 / seconds,
      recordsPerSecond: Math.round(RECORDS / seconds),
    };
  } finally {
    await sshd.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await slateThroughput());
