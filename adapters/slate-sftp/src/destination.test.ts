import {
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  statSync,
  writeFileSync,
} from 'node:fs';
import { connect, createServer, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runDestinationContract, sampleRecords, testContext } from '@scorebridge/adapter-kit';
import {
  type DeliveryBatch,
  DestinationError,
  parseAll,
  type ScoreRecord,
  Secret,
} from '@scorebridge/core';
import { parse as parseCsv } from 'csv-parse/sync';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type Sshd, startSshd } from '../../../test/harness/sshd.mjs';
import { slateAdapter } from './index.js';
import { maskMatches, namingProblems } from './naming.js';
import type { SlateOptions } from './options.js';

let sshd: Sshd;
beforeAll(async () => {
  sshd = await startSshd();
});
afterAll(() => sshd.stop());

const context = testContext('slate');
let dirs = 0;
/** A fresh remote directory (on this machine: sshd serves the local filesystem). */
function remote(): string {
  const dir = join(sshd.root, `in-${process.pid}-${dirs++}`);
  mkdirSync(dir, { recursive: true });
  return `${dir}/`;
}
const options = (over: Partial<Record<keyof SlateOptions, unknown>> = {}) =>
  ({
    host: sshd.host,
    port: sshd.port,
    username: sshd.username,
    privateKey: new Secret(sshd.privateKey),
    hostKey: { fingerprint: sshd.fingerprint },
    remoteDirectory: remote(),
    timeoutSeconds: 5,
    ...over,
  }) as SlateOptions;
const make = (o: SlateOptions) => slateAdapter.create(slateAdapter.optionsSchema.parse(o), context);
const batch = (records: readonly ScoreRecord[], id = 'b1'): DeliveryBatch => ({
  id,
  pipeline: 'unit',
  records,
  window: { from: '2026-10-01T00:00:00.000Z', to: '2026-10-31T00:00:00.000Z' },
});
const finals = (dir: string) => readdirSync(dir).filter((f) => !f.endsWith('.part'));
const failure = (p: Promise<unknown>) =>
  p.then(
    () => {
      throw new Error('expected a failure');
    },
    (e: unknown) => e as DestinationError,
  );

runDestinationContract<SlateOptions>('slate-sftp', {
  adapter: slateAdapter,
  options: () => options(),
  stored: async (o) =>
    finals(o.remoteDirectory).flatMap(
      (f) =>
        parseCsv(readFileSync(join(o.remoteDirectory, f), 'utf8'), { columns: true }) as {
          recordKey: string;
          contentHash: string;
        }[],
    ),
  broken: [
    {
      name: "a host key that is not the server's",
      options: () => options({ hostKey: { fingerprint: `SHA256:${'A'.repeat(43)}` } }),
      kind: 'config',
    },
    {
      name: 'a user the server does not know',
      options: () => options({ username: 'nobody-here' }),
      kind: 'auth',
    },
    {
      name: 'a remote directory that does not exist',
      options: () => options({ remoteDirectory: '/no/such/directory/' }),
      kind: 'config',
    },
  ],
  rejectable: {
    options: () => options({ format: 'scorelink' }),
    records: async () =>
      (
        await parseAll(
          '{"data":[{"institution_code":"1234","appointment_number":"7","test_date":"2026-01-01","last_name":"Ødegård"}]}',
          { format: 'json' },
        )
      ).map((e) => e.record!),
  },
  secrets: ['OPENSSH PRIVATE KEY'],
});

describe('slate-sftp files', () => {
  it('uploads CSV that parses back into the same records: non-ASCII intact, formula cells neutralised', async () => {
    const o = options({ columns: undefined });
    const records = await sampleRecords(50);
    const [formula] = await parseAll(
      '{"data":[{"institution_code":"1234","appointment_number":"99","test_date":"2026-01-01","last_name":"=cmd|\'/c calc\'!A1","first_name":"Łucja"}]}',
      { format: 'json' },
    );
    await make(o).deliver(batch([...records, formula!.record!]));
    const [file] = finals(o.remoteDirectory);
    expect(file).toBe('unit_20261031_b1.csv');
    const rows = parseCsv(readFileSync(join(o.remoteDirectory, file!), 'utf8'), {
      columns: true,
    }) as Record<string, string>[];
    expect(rows.slice(0, 50).map((r) => [r.recordKey, r.lastName, r.firstName])).toEqual(
      records.map((r) => [r.recordKey, r.fields.lastName ?? '', r.fields.firstName ?? '']),
    );
    expect(rows[50]).toMatchObject({ lastName: `'=cmd|'/c calc'!A1`, firstName: 'Łucja' });
    // Not world-readable, let alone writable: 0640 unless the site says otherwise.
    expect(statSync(join(o.remoteDirectory, file!)).mode & 0o777).toBe(0o640);
  });

  it('sets the file mode it is given, and refuses one others could write', async () => {
    const o = options({ fileMode: '0600' });
    await make(o).deliver(batch(await sampleRecords(2)));
    expect(statSync(join(o.remoteDirectory, finals(o.remoteDirectory)[0]!)).mode & 0o777).toBe(
      0o600,
    );
    for (const [fileMode, message] of [
      ['0666', /must not be writable by others/],
      ['rw-r-----', /an octal mode/],
      [640, /quoted octal string/],
    ] as const) {
      const parsed = slateAdapter.optionsSchema.safeParse({ ...options(), fileMode });
      expect(parsed.error?.issues, String(fileMode)).toContainEqual(
        expect.objectContaining({ path: ['fileMode'], message: expect.stringMatching(message) }),
      );
    }
  });

  it("uploads raw ScoreLink lines for Slate's fixed-width TOEFL format, with mapped CSV columns otherwise", async () => {
    const records = await sampleRecords(5);
    const raw = options({
      format: 'scorelink',
      fileName: 'toefl_{date}_{batch}.txt',
      mask: 'toefl_*.txt',
    });
    await make(raw).deliver(batch(records));
    const text = readFileSync(join(raw.remoteDirectory, finals(raw.remoteDirectory)[0]!), 'utf8');
    expect(text.split('\r\n').filter(Boolean)).toEqual(records.map((r) => r.raw));
    const mapped = options({
      columns: { appointmentNumber: 'Registration', testDate: 'Test Date', ibtTotal: 'Total' },
      dateFormat: 'MM/DD/YYYY',
    });
    await make(mapped).deliver(batch(records));
    const csv = readFileSync(
      join(mapped.remoteDirectory, finals(mapped.remoteDirectory)[0]!),
      'utf8',
    );
    expect(csv.split('\n')[0]).toBe('Registration,Test Date,Total');
    expect(csv.split('\n')[1]).toMatch(/^\d+,\d\d\/\d\d\/\d{4},\d*$/);
  });

  it('authenticates with a passphrase-protected key and pins by known_hosts', async () => {
    const known = join(mkdtempSync(join(tmpdir(), 'sb-known-')), 'known_hosts');
    writeFileSync(known, sshd.knownHosts);
    const o = options({
      privateKey: new Secret(sshd.encryptedKey.key),
      passphrase: new Secret(sshd.encryptedKey.passphrase),
      hostKey: { knownHosts: known },
    });
    await expect(make(o).check()).resolves.toBeUndefined();
  });

  it('refuses a wrong host key before writing anything', async () => {
    const o = options({ hostKey: { fingerprint: `SHA256:${'B'.repeat(43)}` } });
    const error = await failure(make(o).deliver(batch(await sampleRecords(3))));
    expect(error).toMatchObject({ kind: 'config' });
    expect(error.remedy).toMatch(/different host key/);
    expect(readdirSync(o.remoteDirectory)).toEqual([]);
  });

  it('checks file names against the Slate mask when the configuration is read', () => {
    expect(maskMatches('toefl_*.csv', 'toefl_20261101_abc.csv')).toBe(true);
    expect(maskMatches('toefl_*.csv', 'toefl_20261101_abc.csv.part')).toBe(false);
    expect(namingProblems('{pipeline}_{date}.{ext}', undefined, 'csv')).toEqual([
      'fileName must contain {batch}: Slate overwrites files of the same name',
    ]);
    expect(namingProblems('scores_{batch}.{ext}', 'toefl_*.csv', 'csv')[0]).toMatch(
      /the mask "toefl_\*\.csv" does not match/,
    );
    expect(namingProblems('toefl_{batch}.{ext}', 'toefl_*', 'csv')[0]).toMatch(
      /also matches .*\.part/,
    );
    const parsed = slateAdapter.optionsSchema.safeParse({ ...options(), mask: 'x*' });
    expect(parsed.success).toBe(false);
  });
});

/** A TCP proxy to sshd that cuts the first `cuts` connections after `afterBytes` bytes from the client. */
async function cuttingProxy(cuts: number, afterBytes: () => number) {
  let left = cuts;
  const sockets = new Set<Socket>();
  const server = createServer((client) => {
    const upstream = connect(sshd.port, sshd.host);
    sockets.add(client).add(upstream);
    const limit = left-- > 0 ? afterBytes() : Number.POSITIVE_INFINITY;
    let sent = 0;
    client.on('data', (chunk: Buffer) => {
      sent += chunk.length;
      if (sent > limit) {
        client.destroy();
        upstream.destroy();
      } else upstream.write(chunk);
    });
    upstream.pipe(client);
    const close = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', close).on('close', close);
    upstream.on('error', close).on('close', close);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    port: (server.address() as { port: number }).port,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

describe('slate-sftp under failure', () => {
  it('never shows a partial file under a final name when the connection drops mid-upload (repeatedly), and completes on retry', async () => {
    const records = await sampleRecords(3000); // about 2.5 MB of CSV
    let cut = 0;
    const proxy = await cuttingProxy(4, () => 200_000 + 400_000 * cut++);
    // A generous deadline: deadlines have their own test; this one is about cut connections.
    const o = options({
      port: proxy.port,
      hostKey: { fingerprint: sshd.fingerprint },
      timeoutSeconds: 15,
    });
    const destination = make(o);
    const sizes = new Map<string, Set<number>>();
    let watching = true;
    const watcher = (async () => {
      while (watching) {
        for (const f of finals(o.remoteDirectory)) {
          try {
            (sizes.get(f) ?? sizes.set(f, new Set()).get(f)!).add(
              statSync(join(o.remoteDirectory, f)).size,
            );
          } catch {
            // renamed or removed between listing and stat
          }
        }
        await new Promise((r) => setTimeout(r, 2));
      }
    })();
    let failures = 0;
    for (let attempt = 0; attempt < 12; attempt++) {
      try {
        await destination.deliver(batch(records, 'big'));
        break;
      } catch (error) {
        expect(error).toBeInstanceOf(DestinationError);
        expect((error as DestinationError).kind).toMatch(/unavailable|timeout/);
        failures++;
      }
    }
    watching = false;
    await watcher;
    proxy.close();
    expect(failures).toBeGreaterThanOrEqual(1);
    const files = finals(o.remoteDirectory);
    expect(files).toEqual(['unit_20261031_big.csv']);
    const size = statSync(join(o.remoteDirectory, files[0]!)).size;
    expect([...sizes.get(files[0]!)!]).toEqual([size]);
    const rows = parseCsv(readFileSync(join(o.remoteDirectory, files[0]!), 'utf8'), {
      columns: true,
    });
    expect(rows).toHaveLength(records.length);
  });

  it('ends every operation within its deadline against a server that never answers, without leaking handles', async () => {
    const sockets = new Set<Socket>();
    const silent = createServer((socket) => {
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((r) => silent.listen(0, '127.0.0.1', r));
    const o = options({ port: (silent.address() as { port: number }).port, timeoutSeconds: 0.3 });
    const records = await sampleRecords(2);
    const handles = () =>
      (process as unknown as { _getActiveHandles(): unknown[] })._getActiveHandles().length;
    await failure(make(o).check()); // warm up lazily created handles
    const before = handles();
    for (let i = 0; i < 8; i++) {
      expect(await failure(make(o).check())).toMatchObject({ kind: 'timeout' });
      expect(await failure(make(o).deliver(batch(records)))).toMatchObject({ kind: 'timeout' });
    }
    for (const s of sockets) s.destroy();
    await expect.poll(handles).toBeLessThanOrEqual(before + 2);
    silent.close();
  });
});
