import { inspect } from 'node:util';
import { z } from 'zod';

/**
 * A secret from configuration (an API key, a password, a webhook URL). It prints, logs and
 * serialises as `[secret]`; only `reveal()` gives the value, at the one place that sends it.
 */
export class Secret {
  readonly #value: string;

  constructor(value: string) {
    this.#value = value;
  }

  /** The value itself: call it where it is sent, nowhere else. */
  reveal(): string {
    return this.#value;
  }

  toString(): string {
    return '[secret]';
  }

  toJSON(): string {
    return '[secret]';
  }

  [inspect.custom](): string {
    return 'Secret([secret])';
  }
}

/**
 * The options schema of a secret (an adapter's password, key or token): in YAML it is given as
 * `${env:NAME}` or `${file:PATH}`, and the loader hands the adapter a {@link Secret}.
 */
export const secretSchema = z.instanceof(Secret, {
  message: 'must be given by reference: ${env:NAME} or ${file:PATH}',
});
