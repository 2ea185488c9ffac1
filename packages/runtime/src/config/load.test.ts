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
  maxWindowDays: 400
  colour: blue
  overlapHour: 12
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
        `${file}:7:16: source.overlapHour: unknown key (did you mean overlapHours?)`,
        expect.stringMatching(new RegExp(`^${file}:12:15: destinations\\[0\\].options.format: `)),
        expect.stringMatching(new RegExp(`^${file}:12:7: destinations\\[0\\].options.directory: `)),
        `${file}:14:11: destinations[1].type: unknown destination type "ftp" (known: file)`,
      ]),
    );
    expect(list).toHaveLength(8);
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
      [
        'an unknown field at depth',
        VALID.replace('      directory:', '      directroy: x\n      directory:'),
        /uni\.yaml:9:18: destinations\[0\]\.options\.directroy: unknown key/,
      ],
      [
        'a file with nothing but a name',
        'name: uni\n',
        /uni\.yaml:1:1: source: Invalid input: expected object, received undefined/,
      ],
      [
        'a wrong type',
        VALID.replace('name: uni', 'name: uni\nqueue: { attempts: "many" }'),
        /uni\.yaml:2:20: queue\.attempts: .*number/i,
      ],
      [
        'deep flow nesting (a parser-exhausting bomb)',
        `${VALID}x: ${'['.repeat(100_000)}${']'.repeat(100_000)}\n`,
        /uni\.yaml:10:36: nested more than 32 levels deep/,
      ],
      [
        'deep flow nesting behind quoted closing brackets',
        `${VALID}x: ${'[ "]", '.repeat(40)}${']'.repeat(40)}\n`,
        /uni\.yaml:10:\d+: nested more than 32 levels deep/,
      ],
      [
        'deep block nesting',
        `${VALID}${Array.from({ length: 40 }, (_, i) => `${' '.repeat(i)}k${i}:`).join('\n')} 1\n`,
        /uni\.yaml:\d+:\d+: nested more than 32 levels deep/,
      ],
      ['a tab for indentation', VALID.replace('  baseUrl', '\tbaseUrl'), /uni\.yaml:3:1: .*tab/i],
      ['an empty file', '', /uni\.yaml:1:1: |uni\.yaml: .*(empty|object)/],
      [
        'a raw NUL inside a quoted string',
        VALID.replace('name: uni', 'name: uni\ndescription: "a\u0000b"'),
        /uni\.yaml:2:16: a control character \(U\+0000, NUL\) is not allowed/,
      ],
      [
        'other control characters',
        VALID.replace('name: uni', 'name: uni\u0007\ndescription: \u001b[31m'),
        /uni\.yaml:1:10: a control character \(U\+0007\)[\s\S]*uni\.yaml:2:14: a control character \(U\+001B\)/,
      ],
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
      expect(problems(bomb).join('\n')).toMatch(
        /uni\.yaml:2:8: aliases expand into too much data \(.*; at most 64 aliases\)/,
      );
    });

    it('brackets inside strings are text, not nesting', () => {
      const text = VALID.replace(
        'name: uni',
        `name: uni\ndescription: "${'['.repeat(50)}" # ${'{'.repeat(50)}`,
      );
      expect(pipelineFromYaml(text, file, { adapters, env }).config.description).toBe(
        '['.repeat(50),
      );
    });

    it('every problem of a file in one report, each located', () => {
      const text = VALID.replace('name: uni', 'name: Uni!\nsheduel: hourly').replace(
        '  - id: files',
        `  - id: hook
    type: file
    options:
      directory: /tmp/a
      fromat: csv
  - id: hook
    type: file
    batchSize: lots
    options:
      directory: /tmp/b
  - id: files`,
      );
      const found = problems(text);
      expect(found).toEqual(
        expect.arrayContaining([
          expect.stringMatching(/uni\.yaml:1:7: name: lower-case letters/),
          expect.stringMatching(/uni\.yaml:2:10: sheduel: unknown key/),
          expect.stringMatching(
            /uni\.yaml:\d+:\d+: destinations\[0\]\.options\.fromat: unknown key/,
          ),
          expect.stringMatching(/uni\.yaml:\d+:\d+: destinations\[1\]\.batchSize: /),
          expect.stringMatching(
            /uni\.yaml:\d+:\d+: destinations\[1\]\.id: hook is the id of another destination too/,
          ),
        ]),
      );
      for (const p of found) expect(p).toMatch(/^\/.*uni\.yaml:\d+:\d+: /);
    });

    it('files that are not text: invalid UTF-8, binary, 50 MB — refused with where, and no stack trace', () => {
      const write = (name: string, bytes: Buffer) => {
        const path = join(dir, name);
        writeFileSync(path, bytes);
        return path;
      };
      const refusal = (path: string) => {
        try {
          loadPipeline(path, { adapters, env });
        } catch (error) {
          expect(error).toBeInstanceOf(ConfigError);
          const text = (error as ConfigError).problems.join('\n');
          expect(text).not.toMatch(/\n\s+at /);
          return text;
        }
        throw new Error(`${path} loaded`);
      };
      const latin1 = write(
        'latin1.yaml',
        Buffer.concat([
          Buffer.from(VALID.replace('directory: ${env:OUT}/toefl', 'directory: out')),
          Buffer.from([0x6f, 0x75, 0x74, 0xff, 0xfe, 0x0a]),
        ]),
      );
      expect(refusal(latin1)).toMatch(
        /latin1\.yaml:10:4: not valid UTF-8 \(byte 0xff\); save the file as UTF-8/,
      );
      // A real U+FFFD before the bad byte is not mistaken for it.
      const replacement = write(
        'replacement.yaml',
        Buffer.concat([Buffer.from('description: "\uFFFD"\n'), Buffer.from([0x61, 0xc3, 0x28])]),
      );
      expect(refusal(replacement)).toMatch(/replacement\.yaml:2:2: not valid UTF-8 \(byte 0xc3\)/);
      const binary = write(
        'binary.yaml',
        Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 7919) % 256)),
      );
      expect(refusal(binary)).toMatch(
        /binary\.yaml:\d+:\d+: (not valid UTF-8|a control character)/,
      );
      const huge = write('fifty.yaml', Buffer.alloc(50 * 1024 * 1024, 0x61));
      expect(refusal(huge)).toMatch(
        /fifty\.yaml: the file is larger than 262144 bytes, the most a pipeline file may be/,
      );
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
