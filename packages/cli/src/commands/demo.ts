import { dirname, resolve } from 'node:path';
import { startSandbox } from '@scorebridge/sandbox';
import { loadPipelineFile } from '../adapters.js';
import { type Io, write } from '../io.js';
import type { DemoOptions } from './demo.command.js';
import { runCommand } from './run.js';
import { stateDirectory } from './state.js';

/**
 * `npm run demo`: the embedded default. Starts the TOEFL Access sandbox in this process, runs
 * pipelines/demo.yaml into ./demo-output/ with state in .scorebridge/state (paths in the pipeline
 * file, relative to it), prints the summary and
 * where the files are. No Redis, no credentials. Running it again delivers nothing new.
 */
export async function demoCommand(options: DemoOptions, io: Io): Promise<number> {
  // The sandbox's clock is pinned to the start of today, so every run today sees the same data.
  const today = new Date(io.clock().toISOString().slice(0, 10));
  const sandbox = await startSandbox({ seed: 7, records: options.records, days: 365, now: today });
  // The pipeline reads the sandbox's address and key by reference; nothing else is changed.
  const env = {
    ...process.env,
    SCOREBRIDGE_DEMO_URL: sandbox.scoresUrl,
    SCOREBRIDGE_DEMO_KEY: sandbox.authcode,
  };
  try {
    await write(
      io.stderr,
      `scorebridge: demo: TOEFL Access sandbox on ${sandbox.url} with ${sandbox.data.size} synthetic score reports\n`,
    );
    const code = await runCommand(options.pipeline, { stateDir: options.stateDir }, io, { env });
    const pipeline = await loadPipelineFile(options.pipeline, { lenient: true, env });
    const files = pipeline.config.destinations.map((d) =>
      resolve(dirname(options.pipeline), String((d.options as { directory?: string }).directory)),
    );
    await write(
      io.stderr,
      `scorebridge: demo: files in ${files.join(' and ')}; state in ${stateDirectory(pipeline, options.stateDir)}/${pipeline.config.name}/
scorebridge: demo: run it again: nothing new is delivered. See what was kept: npx scorebridge status ${options.pipeline}
`,
    );
    return code;
  } finally {
    await sandbox.close();
  }
}
