import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const bin = fileURLToPath(new URL('../bin/scorebridge.js', import.meta.url));

describe('the scorebridge binary', () => {
  it('runs from the build that npm ci makes', () => {
    const help = execFileSync(process.execPath, [bin, '--help'], { encoding: 'utf8' });
    expect(help).toMatch(/Usage: scorebridge/);
    expect(help).toMatch(/parse \[options\] <file>/);
  });
});
