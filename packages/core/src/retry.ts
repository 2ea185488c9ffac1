import { setTimeout as sleep } from 'node:timers/promises';
import type { ErrorKind } from './errors.js';

/** Error kinds worth another attempt after a pause; the others need a person or a fix. */
export const RETRYABLE_KINDS: ReadonlySet<ErrorKind> = new Set([
  'unavailable',
  'timeout',
  'rate-limit',
]);

/** Whether an error of this kind may be retried (with backoff, within a budget). */
export function isRetryable(kind: ErrorKind): boolean {
  return RETRYABLE_KINDS.has(kind);
}

/** How retries are spaced and bounded. */
export interface RetryPolicy {
  /** Attempts after the first. @default 5 */
  retries: number;
  /** The first pause; each further pause doubles, up to `maxDelayMs`. @default 1000 */
  baseDelayMs: number;
  /** The longest single pause. @default 60000 */
  maxDelayMs: number;
  /** Total time allowed for all attempts of one operation, pauses included. @default 900000 */
  budgetMs: number;
}

/** The defaults of {@link RetryPolicy}. */
export const DEFAULT_RETRY_POLICY: RetryPolicy = {
  retries: 5,
  baseDelayMs: 1000,
  maxDelayMs: 60_000,
  budgetMs: 15 * 60_000,
};

/**
 * The pause before retry number `attempt` (1-based): exponential, with jitter (a random point
 * between half and all of the exponential delay), so many clients do not retry in step.
 */
export function backoffDelay(
  attempt: number,
  policy: Pick<RetryPolicy, 'baseDelayMs' | 'maxDelayMs'>,
  random: () => number = Math.random,
): number {
  const exponential = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** (attempt - 1));
  return Math.round(exponential / 2 + (random() * exponential) / 2);
}

/** Waits `ms`, or rejects at once when `signal` aborts. */
export function pause(ms: number, signal?: AbortSignal): Promise<void> {
  return sleep(ms, undefined, signal ? { signal } : undefined);
}
