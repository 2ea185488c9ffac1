import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { run } from '../testing/run.test-helpers.js';

const dir = mkdtempSync(join(tmpdir(), 'sb-completion-'));

describe('scorebridge completion', () => {
  it('bash: completes commands, subcommands and each command’s own options, as bash runs it', async () => {
    const { code, stdout } = await run(['completion', 'bash']);
    expect(code).toBe(0);
    const script = join(dir, 'scorebridge.bash');
    writeFileSync(script, stdout);
    writeFileSync(join(dir, 'pipeline.yaml'), 'name: x\n');
    // What bash offers after `scorebridge <words> <TAB>`, via the function it registered.
    const offered = (...words: string[]) => {
      const r = spawnSync(
        'bash',
        [
          '-c',
          `source ${script}; COMP_WORDS=(scorebridge "$@"); COMP_CWORD=$(( \${#COMP_WORDS[@]} - 1 )); _scorebridge; printf '%s\\n' "\${COMPREPLY[@]}"`,
          'bash',
          ...words,
        ],
        { cwd: dir, encoding: 'utf8' },
      );
      expect(r.status, r.stderr).toBe(0);
      return r.stdout.trim().split('\n').filter(Boolean);
    };
    expect(offered('')).toEqual(
      expect.arrayContaining(['parse', 'run', 'worker', 'layout', 'trace']),
    );
    expect(offered('la')).toEqual(['layout']);
    expect(offered('layout', '')).toEqual(expect.arrayContaining(['show', 'import', 'discover']));
    expect(offered('run', '--d')).toEqual(['--dry-run']);
    expect(offered('layout', 'discover', '--ets')).toEqual(['--ets-test']);
    expect(offered('run', 'pip')).toEqual(['pipeline.yaml']);
    // Hidden options (the earlier name of --host) are not offered.
    expect(offered('worker', '--h')).toEqual(expect.arrayContaining(['--host', '--health-port']));
    expect(offered('worker', '--h')).not.toContain('--health-host');
  });

  it('zsh loads the bash script through bashcompinit; fish gets one complete line per word', async () => {
    const zsh = (await run(['completion', 'zsh'])).stdout;
    expect(zsh).toMatch(/^#compdef scorebridge\n/);
    expect(zsh).toContain('autoload -U +X bashcompinit && bashcompinit');
    expect(zsh).toContain('complete -o filenames -F _scorebridge scorebridge');
    const fish = (await run(['completion', 'fish'])).stdout;
    expect(fish).toContain("complete -c scorebridge -f -n '__fish_use_subcommand' -a 'run' -d ");
    expect(fish).toContain(
      "complete -c scorebridge -n '__fish_seen_subcommand_from run' -l dry-run -d ",
    );
    expect(fish).toContain("-n '__fish_seen_subcommand_from layout' -a 'discover'");
    const bad = await run(['completion', 'tcsh']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toMatch(/Allowed choices are bash, zsh, fish/);
  });
});
