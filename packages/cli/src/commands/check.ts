import { createToeflAccessClient, serializeError, silentLogger } from '@scorebridge/core';
import { destinationContext } from '@scorebridge/runtime/config';
import { sourceClientOptions } from '@scorebridge/runtime/inline';
import { EXIT, type Io, write } from '../io.js';
import type { CheckOptions } from './check.command.js';
import { load } from './state.js';
import { printJson } from './views.js';

/**
 * `scorebridge check`: the source key (a small window, as ETS advises) and every destination.
 * Exit statuses as `run`'s: 3 the source failed, 4 only a destination did.
 */
export async function checkCommand(file: string, options: CheckOptions, io: Io): Promise<number> {
  const pipeline = await load(file);
  const to = io.clock();
  const from = new Date(to.getTime() - 86_400_000);
  const checks: {
    what: string;
    type?: string;
    ok: boolean;
    records?: number;
    notes?: readonly string[];
    error?: unknown;
  }[] = [];
  try {
    const client = createToeflAccessClient({
      ...sourceClientOptions(pipeline),
      retry: { retries: 1 },
      serverErrorPauseMs: 1000,
    });
    let records = 0;
    for await (const batch of client.fetch(from, to)) records += batch.length;
    checks.push({ what: 'source', ok: true, records });
  } catch (error) {
    checks.push({ what: 'source', ok: false, error });
  }
  for (const d of pipeline.config.destinations) {
    const adapter = pipeline.adapters.find((a) => a.type === d.type)!;
    const destination = adapter.create(d.options, destinationContext(pipeline, d.id, silentLogger));
    try {
      const report = await destination.check();
      checks.push({ what: d.id, type: d.type, ok: true, notes: report?.notes ?? [] });
    } catch (error) {
      checks.push({ what: d.id, type: d.type, ok: false, error });
    } finally {
      await destination.close();
    }
  }
  const [source, ...destinations] = checks;
  const exit = !source!.ok
    ? EXIT.source
    : destinations.some((c) => !c.ok)
      ? EXIT.destinationFailed
      : EXIT.ok;
  if (options.json) {
    const view = (c: (typeof checks)[number]) => {
      const e = c.error === undefined ? undefined : serializeError(c.error);
      return {
        ok: c.ok,
        ...(e ? { error: { kind: e.kind, message: e.message, remedy: e.remedy } } : {}),
      };
    };
    await printJson(io, 'check', {
      pipeline: pipeline.config.name,
      ok: exit === EXIT.ok,
      exit,
      source: { ...view(source!), ...(source!.ok ? { records: source!.records } : {}) },
      destinations: destinations.map((c) => ({
        id: c.what,
        type: c.type,
        ...view(c),
        ...(c.ok ? { notes: c.notes } : {}),
      })),
    });
    return exit;
  }
  for (const c of checks) {
    const what = c.type ? `${c.what} (${c.type})` : c.what;
    await write(
      io.stdout,
      c.ok
        ? c.type
          ? `ok    ${what}\n${(c.notes ?? []).map((n) => `      note: ${n}\n`).join('')}`
          : `ok    source: TOEFL Access accepted the key (${c.records} records reported in the last 24 hours)\n`
        : failure(what, c.error),
    );
  }
  return exit;
}

function failure(what: string, error: unknown): string {
  const e = serializeError(error);
  return `FAIL  ${what}: ${e.message}\n${e.remedy ? `      what to do: ${e.remedy}\n` : ''}`;
}
