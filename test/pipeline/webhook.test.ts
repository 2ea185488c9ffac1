import { createFileStateStore } from '@scorebridge/runtime';
import { afterEach, describe, expect, it } from 'vitest';
import { startReceiver } from '../../adapters/webhook/src/receiver.test-helpers.js';
import { groundTruth, type Setup, setup, webhookDestinationYaml } from '../harness/pipeline.js';

const SECRET = 'whsec_cGlwZWxpbmUtdGVzdC1zZWNyZXQtZm9yLXdlYmhvb2tz';
const open: (() => Promise<void>)[] = [];
afterEach(async () => {
  await Promise.all(open.splice(0).map((c) => c()));
});

async function withReceiver(rule?: (body: string) => number | undefined) {
  const receiver = await startReceiver([SECRET], rule);
  const s: Setup = await setup({
    sandbox: { records: 300, days: 60 },
    env: { SB_WHSEC: SECRET },
    destinationsYaml: webhookDestinationYaml(receiver.url, 40),
  });
  open.push(receiver.close, s.close);
  return { receiver, s };
}

describe('webhook destination in a pipeline', () => {
  it('survives a 503 by retrying the same message, and delivers everything once', async () => {
    const { receiver, s } = await withReceiver();
    receiver.script.push({ status: 503, headers: { 'retry-after': '1' } });
    const summary = await s.run({ deliveryRetries: 3 });
    expect(summary.ok).toBe(true);
    expect(receiver.seen[0]!.status).toBe(503);
    expect(receiver.seen[1]!.id).toBe(receiver.seen[0]!.id);
    expect(receiver.seen.every((x) => x.verified)).toBe(true);
    const held = receiver.records().map((r) => `${r.recordKey}#${r.contentHash}`);
    expect(new Set(held)).toEqual(await groundTruth(s.sandbox));
    expect(held.length).toBe(new Set(held).size);
  });

  it('dead-letters a refused message, and a replay sends it again with the same webhook-id', async () => {
    let refuse = true;
    const { receiver, s } = await withReceiver(() => (refuse ? 422 : undefined));
    const first = await s.run();
    const store = createFileStateStore(s.stateDir);
    const letters = await store.deadLetters('test');
    expect(letters.length).toBeGreaterThan(0);
    expect(letters.length).toBe(first.destinations[0]!.deadLettered);
    expect(letters[0]).toMatchObject({
      kind: 'rejected',
      destination: 'hook',
      code: 'HTTP_422',
      reason: 'the receiver refused the message (HTTP 422)',
    });
    const refusedIds = new Set(receiver.seen.map((x) => x.id));
    // The receiver is fixed; the dead letters of the first window are replayed.
    refuse = false;
    const window = letters[0]!.window;
    const group = letters.filter((l) => l.window.from === window.from);
    const before = receiver.seen.length;
    const replay = await s.run({
      from: new Date(window.from),
      to: new Date(window.to),
      only: {
        destinations: new Set(['hook']),
        recordKeys: new Set(group.map((l) => l.recordKey!)),
      },
    });
    expect(replay.destinations[0]!.delivered).toBe(group.length);
    const replayed = receiver.seen.slice(before);
    expect(replayed.length).toBeGreaterThan(0);
    for (const x of replayed)
      expect(refusedIds.has(x.id), `replayed ${x.id} keeps its id`).toBe(true);
  });
});
