import { spawn } from 'node:child_process';
import { once } from 'node:events';
import {
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  renameSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Sandbox, startSandbox } from '@scorebridge/sandbox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  fileDestinationsYaml,
  groundTruth,
  pipelineYaml,
} from '../../../../test/harness/pipeline.js';

const bin = fileURLToPath(new URL('../../bin/scorebridge.js', import.meta.url));
let s: Sandbox;
/** What a first run delivers: each key once, at its newest version. */
let newest: number;
beforeAll(async () => {
  // Runs here are processes on the real clock (as cron starts them): the sandbox's reports end
  // now and the pipeline reads from before them, so the counts hold on any day.
  s = await startSandbox({ seed: 3, records: 200, days: 60, now: new Date() });
  newest = (await groundTruth(s, new Date(0), new Date())).size;
});
afterAll(() => s.close());

/** A pipeline in its own folder, with a relative output directory; and two other folders. */
function site(extra?: string) {
  const root = mkdtempSync(join(tmpdir(), 'sb-state-'));
  const folder = join(root, 'srv', 'pipelines');
  mkdirSync(folder, { recursive: true });
  const file = join(folder, 'site.yaml');
  writeFileSync(
    file,
    pipelineYaml({
      name: 'site',
      baseUrl: s.scoresUrl,
      authcode: '${env:SB_STATE_KEY}',
      firstRunStart: new Date(Date.now() - 90 * 86_400_000),
      destinations: fileDestinationsYaml([{ id: 'files', format: 'ndjson', directory: 'out' }]),
      extra,
    }),
  );
  const home = join(root, 'home');
  const other = join(root, 'other');
  mkdirSync(home);
  mkdirSync(other);
  return { root, folder, file, home, other };
}

/** `scorebridge run` as cron starts it: a process, in a working directory of its own. */
async function runIn(cwd: string, file: string, extra: string[] = [], env: NodeJS.ProcessEnv = {}) {
  // Not spawnSync: the sandbox answering the child runs in this process.
  const child = spawn(process.execPath, [bin, 'run', file, ...extra], {
    cwd,
    env: { ...process.env, SB_STATE_KEY: s.authcode, SCOREBRIDGE_STATE_DIR: '', ...env },
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => {
    stderr += c.toString('utf8');
  });
  child.stdout.resume();
  const [code] = (await once(child, 'close')) as [number | null];
  const delivered = /files \(file\)\s+(\d+)/.exec(stderr)?.[1];
  return { code, stderr, delivered: delivered === undefined ? undefined : Number(delivered) };
}

describe('where state lives', () => {
  it('beside the pipeline file: a run from another working directory delivers nothing again', async () => {
    const { folder, file, home, other } = site();
    const first = await runIn(home, file);
    expect([first.code, first.delivered]).toEqual([0, newest]);
    const second = await runIn(other, file);
    expect([second.code, second.delivered]).toEqual([0, 0]);
    // State and files sit beside the pipeline file, not in either working directory.
    expect(existsSync(join(folder, '.scorebridge-state', 'site', 'cursors.json'))).toBe(true);
    expect(readdirSync(join(folder, 'out')).length).toBeGreaterThan(0);
    expect([...readdirSync(home), ...readdirSync(other)]).toEqual([]);
  });

  it("refuses to start over when an earlier release's state is found, and says how to move it", async () => {
    const { root, folder, file } = site();
    // An earlier release: state relative to the working directory the run was started in.
    const legacy = join(root, 'srv');
    const old = await runIn(legacy, file, ['--state-dir', join(legacy, '.scorebridge', 'state')]);
    expect(old.delivered).toBe(newest);
    const refused = await runIn(legacy, file);
    expect(refused.code).toBe(2);
    const oldDir = join(legacy, '.scorebridge', 'state', 'site');
    const newDir = join(folder, '.scorebridge-state', 'site');
    expect(refused.stderr).toContain(
      `site: no state in ${join(folder, '.scorebridge-state')}, but an earlier release kept this pipeline's state in ${oldDir}`,
    );
    expect(refused.stderr).toContain(`mv ${oldDir} ${newDir}`);
    expect(existsSync(newDir)).toBe(false);
    // Done as the message says, the next run (from anywhere) carries on where the old one was.
    mkdirSync(join(folder, '.scorebridge-state'), { recursive: true });
    renameSync(oldDir, newDir);
    expect((await runIn(root, file)).delivered).toBe(0);
  });

  it('--state-dir, SCOREBRIDGE_STATE_DIR and state: in the pipeline, in that order', async () => {
    const { root, file, home } = site();
    const env = join(root, 'from-env');
    const viaEnv = await runIn(home, file, [], { SCOREBRIDGE_STATE_DIR: env });
    expect(viaEnv.code).toBe(0);
    expect(readdirSync(env)).toEqual(['site']);
    const flag = join(root, 'from-flag');
    expect((await runIn(home, file, ['--state-dir', flag])).delivered).toBe(newest);
    expect(readdirSync(flag)).toEqual(['site']);
    const own = site('state: ../state-of-site');
    expect((await runIn(own.home, own.file)).delivered).toBe(newest);
    expect(readdirSync(join(own.root, 'srv', 'state-of-site'))).toEqual(['site']);
  });
});
