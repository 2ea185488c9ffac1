import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  DestinationError,
  describeError,
  SourceError,
  serializeError,
} from './errors.js';

describe('errors', () => {
  it('serialise through an allow-list: the cause never leaves the process', () => {
    const cause = Object.assign(new Error('socket hang up'), {
      config: { headers: { authcode: 'CANARY-SECRET-KEY' } },
    });
    const error = new SourceError(
      'unavailable',
      'GET https://toefl.example/scores failed: socket hang up',
      {
        cause,
        status: 503,
        remedy: 'Wait and retry.',
      },
    );
    const serialized = serializeError(error);
    expect(serialized).toEqual({
      name: 'SourceError',
      kind: 'unavailable',
      message: 'GET https://toefl.example/scores failed: socket hang up',
      remedy: 'Wait and retry.',
      status: 503,
    });
    expect(JSON.stringify(serialized)).not.toContain('CANARY');
    expect(JSON.stringify(serializeError(cause))).not.toContain('CANARY');
  });

  it('treat foreign errors and thrown values as internal', () => {
    expect(serializeError(new TypeError('x'))).toEqual({
      name: 'TypeError',
      kind: 'internal',
      message: 'x',
    });
    expect(serializeError('boom')).toEqual({ name: 'Error', kind: 'internal', message: 'boom' });
  });

  it('say what to do on one line', () => {
    const error = new DestinationError('auth', '[salesforce] token refused', {
      remedy: 'Re-authorise the app.',
      destination: 'sf',
    });
    expect(describeError(error)).toBe(
      '[salesforce] token refused What to do: Re-authorise the app.',
    );
    expect(new ConfigError(['a: x', 'b: y']).message).toBe('a: x\nb: y');
  });
});
