import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { inspect } from 'node:util';
import { fileAdapter } from '@scorebridge/adapter-file';
import { ConfigError, Secret } from '@scorebridge/core';
import { describe, expect, it } from 'vitest';
import { loadPipeline, pipelineFromYaml } from './load.js';
import { pipelineJsonSchema } from './schema.js';

const adapters = [fileAdapter];
const env = { TOEFL_KEY: 'CANARY-KEY-123', OUT: '/tmp/out' };
const dir = mkdtempSync(join(tmpdir(), 'sb-config-'));
const file = join(dir, 'uni.yaml');

const VALID = `name: uni
source:
  baseUrl: https://toeflaccess-api.ets.org/scores
  authcode: \${env:TOEFL_KEY}
destinations:
  - id: files
    type: file
    options:
      directory: \${env:OUT}/toefl
`;

function problems(text: string, e: NodeJS.ProcessEnv = env): string[] {
  try {
    pipelineFromYaml(text, file, { adapters, env: e });
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return [...(error as ConfigError).problems];
  }
  throw new Error('expected a ConfigError');
}

describe('pipeline configuration', () => {
  it('loads a valid file with defaults, resolves references, keeps secrets secret, and freezes it', () => {
    const { config } = pipelineFromYaml(VALID, file, { adapters, env });
    expect(config.source).toMatchObject({
      format: 'scorelink',
      type: 'TOEFL',
      reportBy: 'scorelinkbyreportdate',
      maxWindowDays: 30,
      overlapHours: 48,
    });
    expect(config.destinations[0]).toMatchObject({
      id: 'files',
      batchSize: 500,
      options: { directory: '/tmp/out/toefl', format: 'ndjson' },
    });
    expect(config.source.authcode).toBeInstanceOf(Secret);
    expect(config.source.authcode.reveal()).toBe('CANARY-KEY-123');
    expect(
      JSON.stringify(config) + inspect(config, { depth: 9 }) + String(config.source.authcode),
    ).not.toContain('CANARY');
    expect(Object.isFrozen(config.source)).toBe(true);
  });

  it('reads a secret from a file', () => {
    writeFileSync(join(dir, 'key.txt'), 'FROM-FILE\n');
    const { config } = pipelineFromYaml(
      VALID.replace('${env:TOEFL_KEY}', '${file:key.txt}'),
      file,
      { adapters, env },
    );
    expect(config.source.authcode.reveal()).toBe('FROM-FILE');
  });

  it('reports every problem at once, each with file:line:column and its path', () => {
    const text = `name: Uni!
source:
  baseUrl: not a url
  authcode: \${env:TOEFL_KEY}
  maxWindowDays: 45
  colour: blue
destinations:
  - id: files
    type: file
    options:
      format: xml
  - id: files
    type: ftp
`;
    const list = problems(text);
    expect(list).toEqual(
      expect.arrayContaining([
        `${file}:1:7: name: lower-case letters, digits, - and _`,
        expect.stringMatching(new RegExp(`^${file}:3:12: source.baseUrl: `)),
        expect.stringMatching(new RegExp(`^${file}:5:18: source.maxWindowDays: `)),
        `${file}:6:11: source.colour: unknown key (check the spelling; see scorebridge schema)`,
        expect.stringMatching(new RegExp(`^${file}:11:15: destinations\\[0\\].options.format: `)),
        expect.stringMatching(new RegExp(`^${file}:11:7: destinations\\[0\\].options.directory: `)),
        `${file}:13:11: destinations[1].type: unknown destination type "ftp" (known: file)`,
      ]),
    );
    expect(list).toHaveLength(7);
  });

  describe('refuses hostile or broken YAML with a located error, without crashing or hanging', () => {
    const cases: [string, string, RegExp][] = [
      [
        'a custom tag',
        VALID.replace('name: uni', 'name: !!js/function "() => 1"'),
        /uni\.yaml:1:7: .*(custom tags are not allowed|tag)/i,
      ],
      [
        'a local tag',
        VALID.replace('name: uni', 'name: !shell "rm -rf /"'),
        /uni\.yaml:1:7: .*custom tags are not allowed/,
      ],
      [
        'duplicate keys',
        VALID.replace('name: uni', 'name: uni\nname: other'),
        /uni\.yaml:2:1: .*each key may appear once/,
      ],
      [
        'an unknown field',
        VALID.replace('name: uni', 'name: uni\nsheduel: hourly'),
        /uni\.yaml:2:10: sheduel: unknown key/,
      ],
      [
        'an inline secret',
        VALID.replace('${env:TOEFL_KEY}', 'abc123='),
        /uni\.yaml:4:13: source\.authcode: this is a secret; give it by reference/,
      ],
      [
        'an undefined environment reference',
        VALID.replace('TOEFL_KEY', 'MISSING_KEY'),
        /uni\.yaml:4:13: source\.authcode: the environment variable MISSING_KEY is not set/,
      ],
      [
        'a missing secret file',
        VALID.replace('${env:TOEFL_KEY}', '${file:nope.key}'),
        /uni\.yaml:4:13: source\.authcode: cannot read .*nope\.key \(ENOENT\)/,
      ],
      ['broken syntax', 'name: uni\nsource: [unclosed\n', /uni\.yaml:\d+:\d+: /],
    ];
    it.each(cases)('%s', (_, text, expected) => {
      expect(problems(text).join('\n')).toMatch(expected);
    });

    it('an alias bomb', () => {
      const bomb = `a: &a ["x","x","x","x","x","x","x","x","x","x"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: [*e,*e,*e,*e,*e,*e,*e,*e,*e,*e]
`;
      // Refused by the alias limit (MAX_ALIASES), not expanded to a million entries.
      expect(problems(bomb).join('\n')).toMatch(/uni\.yaml: .*\(at most 64 aliases\)/);
    });

    it('a huge file', () => {
      const huge = join(dir, 'huge.yaml');
      writeFileSync(huge, `${VALID}# ${'x'.repeat(400_000)}\n`);
      expect(() => loadPipeline(huge, { adapters, env })).toThrow(
        /huge\.yaml: the file is larger than 262144 bytes/,
      );
    });
  });

  it('generates a JSON Schema editors can use: adapters typed, secrets as references', () => {
    const schema = JSON.stringify(pipelineJsonSchema(adapters));
    expect(schema).toContain('"const":"file"');
    expect(schema).toContain('^\\\\$\\\\{(env|file):[^}]+\\\\}$');
    expect(schema).toContain('"additionalProperties":false');
  });
});
