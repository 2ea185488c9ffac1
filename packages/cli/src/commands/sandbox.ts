import { once } from 'node:events';
import {
  EXPIRED_KEY,
  PENDING_ACCOUNT_KEY,
  parseFaults,
  SANDBOX_LAYOUT_URL,
  startSandbox,
} from '@scorebridge/sandbox';
import { EXIT, type Io, write } from '../io.js';
import type { SandboxOptions } from './sandbox.command.js';

/** Runs the TOEFL Access sandbox until SIGINT or SIGTERM (or `stop` resolves, in tests). */
export async function sandboxCommand(
  options: SandboxOptions,
  io: Io,
  stop?: Promise<unknown>,
): Promise<number> {
  const sandbox = await startSandbox({
    port: options.port,
    host: options.host,
    seed: options.seed,
    records: options.records,
    days: options.days,
    authcode: options.authcode,
    faults: options.faults ? parseFaults(options.faults) : [],
    errorFormat: options.errorFormat,
    hiddenLayout:
      options.hiddenLayout === undefined
        ? undefined
        : { seed: options.hiddenLayout, ambiguous: options.ambiguous },
  });
  const to = new Date();
  const from = new Date(to.getTime() - Math.min(options.days, 30) * 86_400_000);
  const day = (d: Date) => d.toISOString().slice(0, 10);
  await write(
    io.stdout,
    `TOEFL Access sandbox on ${sandbox.url}
  scores:       ${sandbox.scoresUrl}
  sample data:  ${sandbox.sampleDataUrl}
  API key:      ${sandbox.authcode}
  other keys:   ${PENDING_ACCOUNT_KEY} (account pending), ${EXPIRED_KEY} (expired)
  data:         ${sandbox.data.size} reports over the last ${options.days} days, seed ${options.seed}
  iBT26 block:  ${sandbox.hidden ? `hidden (seed ${options.hiddenLayout}${options.ambiguous ? ', one part written twice' : ''}): JSON names and iBT26 positions of its own — try scorebridge layout discover` : `the sandbox's own sub-layout, ${SANDBOX_LAYOUT_URL.pathname}`}

Try:
  export SANDBOX_KEY='${sandbox.authcode}'
  npx scorebridge fetch --base-url ${sandbox.scoresUrl} --authcode-env SANDBOX_KEY --from ${day(from)} --to ${day(to)}

Faults: POST ${sandbox.url}/_sandbox/faults {"faults":[{"kind":"status","status":500,"count":3}]}
Requests: GET ${sandbox.url}/_sandbox/requests
Ctrl-C stops.
`,
  );
  await (stop ?? Promise.race([once(process, 'SIGINT'), once(process, 'SIGTERM')]));
  await sandbox.close();
  await write(io.stderr, 'scorebridge: sandbox stopped\n');
  return EXIT.ok;
}
