import { PassThrough } from 'node:stream';
import { SourceError } from '@scorebridge/core';
import { describe, expect, it } from 'vitest';
import { colorEnabled, createLogger } from './logging.js';

function capture(tty = false) {
  const stream = Object.assign(new PassThrough(), { isTTY: tty });
  let text = '';
  stream.on('data', (c: Buffer) => {
    text += c.toString();
  });
  return { stream, text: () => text };
}

describe('logs', () => {
  it('are JSON lines whose errors and HTTP objects pass an allow-list', () => {
    const out = capture();
    const log = createLogger(out.stream, 'info');
    // What an HTTP client error looks like: the request, with its headers, hangs off it.
    const leaky = Object.assign(new Error('Request failed with status code 401'), {
      config: { headers: { authcode: 'CANARY-AUTHCODE-91' } },
      request: { _header: 'GET /scores HTTP/1.1\r\nauthcode: CANARY-AUTHCODE-91' },
    });
    log.error('fetch failed', {
      error: leaky,
      req: { method: 'GET', url: 'https://ets.example/scores?authcode=CANARY-AUTHCODE-91' },
    });
    log.warn('source', {
      error: new SourceError('auth', 'ETS rejected the key', { status: 401, code: 'key-rejected' }),
    });
    log.debug('not shown at info');
    const lines = out
      .text()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatchObject({
      level: 50,
      msg: 'fetch failed',
      error: { kind: 'internal', message: 'Request failed with status code 401' },
      req: { method: 'GET', url: 'https://ets.example/scores' },
    });
    expect(lines[1].error).toMatchObject({ kind: 'auth', status: 401, code: 'key-rejected' });
    expect(out.text()).not.toContain('CANARY-AUTHCODE');
  });

  it('are readable lines on a terminal', () => {
    const out = capture(true);
    createLogger(out.stream, 'debug').debug('worker started', { pipelines: 2 });
    expect(out.text()).toMatch(/DEBUG.*worker started/);
    expect(() => JSON.parse(out.text())).toThrow();
  });

  it('are coloured on a terminal unless NO_COLOR says no; FORCE_COLOR colours them anywhere', () => {
    const saved = { NO_COLOR: process.env.NO_COLOR, FORCE_COLOR: process.env.FORCE_COLOR };
    const ESC = String.fromCharCode(27);
    const line = (tty: boolean, env: Record<string, string | undefined>) => {
      Object.assign(process.env, env);
      for (const [k, v] of Object.entries(env)) if (v === undefined) delete process.env[k];
      const out = capture(tty);
      createLogger(out.stream, 'info').warn('cursor is old');
      return out.text();
    };
    try {
      expect(line(true, { NO_COLOR: undefined, FORCE_COLOR: undefined })).toContain(`${ESC}[`);
      const plain = line(true, { NO_COLOR: '1', FORCE_COLOR: undefined });
      expect(plain).toMatch(/WARN.*cursor is old/);
      expect(plain).not.toContain(ESC);
      expect(line(true, { NO_COLOR: undefined, FORCE_COLOR: '0' })).not.toContain(ESC);
      expect(colorEnabled({ isTTY: false }, { FORCE_COLOR: '1' })).toBe(true);
      expect(colorEnabled({ isTTY: true }, { NO_COLOR: '1', FORCE_COLOR: '1' })).toBe(false);
    } finally {
      for (const [k, v] of Object.entries(saved)) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
  });
});
