// Records per second delivered to a local webhook receiver in batch mode (500 records a batch,
// one signed message each). The receiver runs in a child process, so it does not share this
// process's CPU time slice by slice.
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { fileURLToPath } from 'node:url';
import { sampleRecords } from '@scorebridge/adapter-kit';
import { webhookAdapter } from '@scorebridge/adapter-webhook';
import { Secret } from '@scorebridge/core';

const RECORDS = 20_000;
const BATCH = 500;

export async function webhookThroughput() {
  const receiver = spawn(
    process.execPath,
    [fileURLToPath(new URL('./webhook-receiver.mjs', import.meta.url))],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  const [line] = await once(receiver.stdout, 'data');
  const url = String(line).trim();
  try {
    const records = await sampleRecords(RECORDS);
    const destination = webhookAdapter.create(
      webhookAdapter.optionsSchema.parse({
        url,
        secrets: [new Secret('whsec_YmVuY2htYXJrLWJlbmNobWFyay1iZW5jaG1hcmstMTI=')],
        allowHttp: true,
        allowPrivateNetwork: true,
      }),
      {
        pipeline: 'bench',
        destinationId: 'hook',
        logger: { debug() {}, info() {}, warn() {}, error() {} },
      },
    );
    const started = performance.now();
    let delivered = 0;
    for (let i = 0; i < records.length; i += BATCH) {
      const outcomes = await destination.deliver({
        id: `b${i}`,
        pipeline: 'bench',
        records: records.slice(i, i + BATCH),
      });
      delivered += outcomes.filter((o) => o.status === 'delivered').length;
    }
    const seconds = (performance.now() - started) / 1000;
    return {
      delivered,
      seconds,
      recordsPerSecond: Math.round(delivered / seconds),
      messages: Math.ceil(RECORDS / BATCH),
    };
  } finally {
    receiver.kill();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) console.log(await webhookThroughput());
